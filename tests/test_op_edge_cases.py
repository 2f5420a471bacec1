"""Defects found by the outside audit of the ops (issue 10), each with its expected numbers
worked out by hand (PyTorch's semantics where the issue names them)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import tapem as tm
from tapem import ops
from tapem.interpreters import Eager, ShapeOnly

Build = Callable[..., Any]


@tm.tapem
def summed(build: Build, values: tuple[Any, ...]) -> tm.Gen[tm.Handle]:
    """``sum(build(*leaves))``, a param per float value (named x0, x1, ...), a const for the
    rest."""
    handles = []
    for i, v in enumerate(values):
        make = tm.param if v.dtype.kind == "f" else tm.const
        handles.append((yield from make(v, name=f"x{i}")))
    return (yield ops.sum((yield build(*handles))))


def value_and_grads(build: Build, *values: Any) -> tuple[Any, dict[str, Any]]:
    value, grads = tm.value_and_grad(summed(build, values))
    return value, grads


def shape_of(build: Build, *values: Any) -> tuple[tuple[int, ...], Any]:
    """The shape and dtype of ``build(*leaves)`` under ShapeOnly."""

    @tm.tapem
    def program() -> tm.Gen[tm.Handle]:
        handles = []
        for v in values:
            handles.append((yield from tm.const(v)))
        return (yield build(*handles))

    out, _ = tm.run(program(), interpreter=ShapeOnly()).unwrap()
    return out.shape, out.dtype


# --- softmax over an empty last axis: an empty result, as in PyTorch ---------------------------


@pytest.mark.parametrize("op", [ops.softmax_last, ops.log_softmax_last])
@pytest.mark.parametrize("shape", [(0,), (3, 0), (0, 4), (2, 0, 5, 0)])
def test_softmax_of_an_empty_axis_is_empty(op: tm.OpDef, shape: tuple[int, ...]) -> None:
    x = np.zeros(shape, dtype=np.float32)

    @tm.tapem
    def program() -> tm.Gen[tm.Handle]:
        return (yield op((yield from tm.param(x))))

    out, tape = tm.run(program(), interpreter=Eager()).unwrap()
    y = tape.value(out)
    assert y.shape == shape and y.dtype == np.float32
    assert shape_of(op, x) == (shape, np.float32)
    value, grads = value_and_grads(op, x)
    assert value == 0 and grads["x0"].shape == shape


# --- normalization of a constant slice: exactly beta -------------------------------------------

ROWS = [1000.1, 0.1, -3.3e5, 1e-20, 7.0, 16777217.0]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_layer_norm_of_a_constant_row_is_exactly_beta(dtype: type) -> None:
    rng = np.random.default_rng(0)
    d = 7
    x = np.array([[v] * d for v in ROWS], dtype=dtype)
    gamma = rng.standard_normal(d).astype(dtype)
    beta = rng.standard_normal(d).astype(dtype)
    y = ops.layer_norm.forward(x, gamma, beta, 1e-5)
    assert y.dtype == dtype
    assert np.array_equal(y, np.broadcast_to(beta, x.shape))
    # xhat = 0, so dgamma = 0, dbeta = the number of rows, and dx = (gamma - mean(gamma)) /
    # sqrt(eps) per row (the closed form with dxhat = gamma, var = 0)
    _, grads = value_and_grads(ops.layer_norm, x, gamma, beta)
    dx = (gamma.astype(np.float64) - gamma.mean(dtype=np.float64)) / np.sqrt(1e-5)
    assert np.allclose(grads["x0"], np.broadcast_to(dx, x.shape), rtol=1e-4)
    assert np.array_equal(grads["x1"], np.zeros(d, dtype=dtype))
    assert np.array_equal(grads["x2"], np.full(d, len(ROWS), dtype=dtype))


def test_batch_norm_of_a_constant_channel_is_exactly_beta() -> None:
    c = 3
    x = np.empty((3, c, 7), dtype=np.float32)
    x[:] = np.array([1000.1, 0.3, 123.456], dtype=np.float32)[None, :, None]
    gamma = np.array([0.5, -2.0, 3.0], dtype=np.float32)
    beta = np.array([0.25, -1.5, 1e-3], dtype=np.float32)
    y = ops.batch_norm.forward(x, gamma, beta, 1e-5, True)
    assert y.dtype == np.float32
    assert np.array_equal(y, np.broadcast_to(beta[None, :, None], x.shape))


def test_standardizing_from_the_first_element_keeps_the_statistics() -> None:
    x = np.array([[1.0, 2.0, 4.0], [5.0, 5.0, 8.0]])
    y = ops.layer_norm.forward(x, np.ones(3), np.zeros(3), 0.0)
    mean = x.mean(axis=1, keepdims=True)
    std = np.sqrt(((x - mean) ** 2).mean(axis=1, keepdims=True))
    assert np.allclose(y, (x - mean) / std, rtol=1e-14, atol=1e-14)


# --- max_pool: a padded cell never wins a tie with a real -inf ----------------------------------


def max_pool_grad(x: Any, kernel: tuple[int, ...], stride: int, padding: int) -> Any:
    value, grads = value_and_grads(lambda h: ops.max_pool(h, kernel, stride, padding), x)
    assert value == -np.inf
    return grads["x0"]


def test_max_pool_padding_never_wins_a_tie_with_a_real_minus_inf() -> None:
    x = np.full((1, 3), -np.inf)  # [C=1, 3 cells]
    # kernel 3, stride 1, padding 1: windows [pad, x0, x1], [x0, x1, x2], [x1, x2, pad]; each max
    # is -inf, won by its first real cell: x0, x0, x1 -> [[2, 1, 0]] (PyTorch's gradient)
    assert np.array_equal(max_pool_grad(x, (3,), 1, 1), [[2.0, 1.0, 0.0]])
    # kernel 2, stride 1, padding 1: [pad, x0], [x0, x1], [x1, x2], [x2, pad] -> x0, x0, x1, x2
    assert np.array_equal(max_pool_grad(x, (2,), 1, 1), [[2.0, 1.0, 1.0]])
    # 2-D, kernel (2, 2), stride 1, padding 1 over [[x00, x01], [x10, x11]]: of the 3 x 3 windows
    # the first real cell (row-major) is x00 for the 4 windows at rows 0-1, cols 0-1, x01 for
    # cols 2, x10 for row 2 cols 0-1, x11 for (2, 2)
    x2 = np.full((1, 2, 2), -np.inf)
    assert np.array_equal(max_pool_grad(x2, (2, 2), 1, 1), [[[4.0, 2.0], [2.0, 1.0]]])


def test_max_pool_tangent_is_read_at_the_first_real_maximum() -> None:
    @tm.tapem
    def pooled(x: tm.Handle) -> tm.Gen[tm.Handle]:
        return (yield ops.max_pool(x, (3,), 1, 1))

    x = np.full((1, 3), -np.inf)
    _, tangent = tm.jvp(pooled, (x,), (np.array([[1.0, 10.0, 100.0]]),))
    assert np.array_equal(tangent, [[1.0, 1.0, 10.0]])  # x0, x0, x1


def test_max_pool_sends_the_gradient_of_a_nan_window_to_its_first_nan() -> None:
    x = np.array([[1.0, np.nan, np.nan, 2.0]])
    value, grads = value_and_grads(lambda h: ops.max_pool(h, (2,), 1), x)
    assert np.isnan(value)  # every window holds a NaN
    # windows [x0, x1], [x1, x2], [x2, x3]: their first NaNs are x1, x1, x2
    assert np.array_equal(grads["x0"], [[0.0, 2.0, 1.0, 0.0]])


def test_max_pool_padding_of_an_int_minimum_never_wins() -> None:
    low = np.iinfo(np.int64).min
    x = np.full((1, 3), low, dtype=np.int64)
    out = ops.max_pool.forward(x, (3,), 1, 1)
    assert out.dtype == np.int64 and np.array_equal(out, [[low, low, low]])
    g = np.ones((1, 3))
    assert np.array_equal(ops.max_pool.vjp[0](g, out, x, (3,), 1, 1), [[2.0, 1.0, 0.0]])


# --- linear with zero-size axes -----------------------------------------------------------------


def test_linear_without_input_features_gives_b_and_zero_gradients() -> None:
    W, b, x = np.zeros((2, 0)), np.array([0.5, -1.5]), np.zeros((3, 0))
    # y = x W^T + b = b on each of the 3 rows: sum = 3 * (0.5 - 1.5); d/db = 3 per output
    value, grads = value_and_grads(ops.linear, W, b, x)
    assert value == -3.0
    assert grads["x0"].shape == (2, 0) and grads["x2"].shape == (3, 0)
    assert np.array_equal(grads["x1"], [3.0, 3.0])
    assert shape_of(ops.linear, W, b, x) == ((3, 2), np.float64)
    value, grads = value_and_grads(ops.linear, W, b, np.zeros(0))  # one sample
    assert value == -1.0 and np.array_equal(grads["x1"], [1.0, 1.0])


@pytest.mark.parametrize("x_shape", [(0, 3), (2, 0, 3), (0, 0, 3)])
def test_linear_over_no_samples_is_empty_with_zero_gradients(x_shape: tuple[int, ...]) -> None:
    W, b = np.ones((2, 3)), np.ones(2)
    value, grads = value_and_grads(ops.linear, W, b, np.zeros(x_shape))
    assert value == 0
    assert np.array_equal(grads["x0"], np.zeros((2, 3)))
    assert np.array_equal(grads["x1"], np.zeros(2))
    assert grads["x2"].shape == x_shape


def test_linear_keeps_numpy_promotion_for_large_outputs() -> None:
    # 64 x 64 = 4096 outputs take the in-place path, which must not cast b down to float32
    W, x = np.ones((64, 8), dtype=np.float32), np.ones((64, 8), dtype=np.float32)
    b = np.full(64, 0.1)  # float64
    y = ops.linear.forward(W, b, x)
    assert y.dtype == np.float64 and np.all(y == 8 + 0.1)
    assert shape_of(ops.linear, W, b, x) == ((64, 64), np.float64)


# --- concat and stack: cotangents by blocks, every input's in O(n) at once -----------------------


class Counted:
    """An input that counts how often its shape is read."""

    reads = 0

    def __init__(self, shape: tuple[int, ...]) -> None:
        self._shape = shape

    @property
    def shape(self) -> tuple[int, ...]:
        Counted.reads += 1
        return self._shape

    @property
    def ndim(self) -> int:
        return len(self._shape)


@pytest.mark.parametrize("n", [10, 100, 1000])
def test_concat_at_once_reads_each_input_once(n: int) -> None:
    sizes = [1 + i % 3 for i in range(n)]
    xs = [Counted((2, s)) for s in sizes]
    g = np.arange(2.0 * sum(sizes)).reshape(2, -1)
    Counted.reads = 0
    parts = ops.concat.vjp.at_once(g, None, *xs, 1)
    assert Counted.reads == n  # linear in the number of inputs
    ends = np.cumsum(sizes)
    for part, end, s in zip(parts, ends, sizes, strict=True):
        assert np.array_equal(part, g[:, end - s : end])


@pytest.mark.parametrize("n", [10, 100, 1000])
def test_a_concat_input_reads_the_shapes_on_its_shorter_side(n: int) -> None:
    xs = [Counted((1,)) for _ in range(n)]
    g = np.arange(float(n))
    out = np.zeros(n)
    for i in (0, 1, n // 2, n - 2, n - 1):
        Counted.reads = 0
        assert np.array_equal(ops.concat.vjp[i](g, out, *xs, 0), [float(i)])
        assert Counted.reads == min(i, n - 1 - i) + 1


def test_stack_at_once_and_per_input_read_no_shapes_but_the_first() -> None:
    xs = [Counted((2,)) for _ in range(50)]
    g = np.arange(100.0).reshape(2, 50)  # stacked along axis 1
    Counted.reads = 0
    parts = ops.stack.vjp.at_once(g, None, *xs, -1)
    assert Counted.reads == 0  # the rank comes from ndim
    assert all(np.array_equal(p, g[:, i]) for i, p in enumerate(parts))
    assert np.array_equal(ops.stack.vjp[7](g, None, *xs, 1), g[:, 7])


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_the_gradients_of_a_concat_of_many_inputs_are_their_blocks(axis: int) -> None:
    rng = np.random.default_rng(3)
    n = 300
    sizes = rng.integers(0, 4, size=n)  # some inputs are empty along the axis
    xs = [rng.standard_normal((2, s) if axis else (s, 2)) for s in sizes]
    u = rng.standard_normal((2, sizes.sum()) if axis else (sizes.sum(), 2))

    @tm.tapem
    def weighted() -> tm.Gen[tm.Handle]:
        handles = []
        for i, x in enumerate(xs):
            handles.append((yield from tm.param(x, name=f"x{i}")))
        joined = yield ops.concat(handles, axis=axis)
        return (yield ops.sum((yield joined * (yield from tm.const(u)))))

    _, grads = tm.value_and_grad(weighted())
    blocks = np.split(u, np.cumsum(sizes)[:-1], axis=axis)
    for i, block in enumerate(blocks):
        assert np.array_equal(grads[f"x{i}"], block)


def test_the_gradients_of_a_stack_of_many_inputs_are_its_slices() -> None:
    rng = np.random.default_rng(4)
    xs = [rng.standard_normal(3) for _ in range(200)]
    u = rng.standard_normal((3, 200))

    @tm.tapem
    def weighted() -> tm.Gen[tm.Handle]:
        handles = []
        for i, x in enumerate(xs):
            handles.append((yield from tm.param(x, name=f"x{i}")))
        stacked = yield ops.stack(handles, axis=1)
        return (yield ops.sum((yield stacked * (yield from tm.const(u)))))

    _, grads = tm.value_and_grad(weighted())
    for i in range(200):
        assert np.array_equal(grads[f"x{i}"], u[:, i])
