"""Convolutions and pools: agreement with naive loop references, and SPEC §6's edge cases.

The references below loop over every output position (slow and obvious on purpose); the
expected numbers in the edge-case tests are worked out by hand in the comments.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np
import pytest

import tapem as tm
from tapem import ops

rng = np.random.default_rng(1234)


def naive_conv(k: Any, b: Any, x: Any, stride: int, padding: int) -> Any:
    """One sample: out[o, *pos] = b[o] + sum(k[o] * window at pos) over the zero-padded x."""
    nd = k.ndim - 2
    xp = np.pad(x, [(0, 0)] + [(padding, padding)] * nd)
    out_shape = [
        (n + 2 * padding - kk) // stride + 1 for n, kk in zip(x.shape[1:], k.shape[2:], strict=True)
    ]
    y = np.zeros((k.shape[0], *out_shape))
    for o in range(k.shape[0]):
        for pos in itertools.product(*map(range, out_shape)):
            window = tuple(
                slice(q * stride, q * stride + kk) for q, kk in zip(pos, k.shape[2:], strict=True)
            )
            y[(o, *pos)] = np.sum(xp[(slice(None), *window)] * k[o]) + b[o]
    return y


def naive_conv_transpose(k: Any, b: Any, x: Any, stride: int, padding: int) -> Any:
    """One sample: every input cell adds x[c, *pos] * k[c] at offset pos*stride, then crop."""
    nd = k.ndim - 2
    full = [(n - 1) * stride + kk for n, kk in zip(x.shape[1:], k.shape[2:], strict=True)]
    y = np.zeros((k.shape[1], *full))
    for c in range(k.shape[0]):
        for pos in itertools.product(*map(range, x.shape[1:])):
            window = tuple(
                slice(q * stride, q * stride + kk) for q, kk in zip(pos, k.shape[2:], strict=True)
            )
            y[(slice(None), *window)] += x[(c, *pos)] * k[c]
    y = y[(slice(None), *(slice(padding, n - padding) for n in full))]
    return y + b.reshape((-1,) + (1,) * nd)


GEOMETRIES = [
    (1, (3,), 1, 0),
    (1, (4,), 2, 1),
    (2, (3, 3), 1, 1),
    (2, (2, 3), 2, 0),
    (2, (3, 2), 3, 2),
    (3, (2, 2, 2), 1, 0),
    (3, (3, 2, 3), 2, 1),
]


@pytest.mark.parametrize(("nd", "kernel", "stride", "padding"), GEOMETRIES)
@pytest.mark.parametrize("batched", [False, True])
def test_conv_matches_naive_reference(
    nd: int, kernel: tuple[int, ...], stride: int, padding: int, batched: bool
) -> None:
    k = rng.standard_normal((3, 2, *kernel))
    b = rng.standard_normal(3)
    x = rng.standard_normal((2, 2, *(5,) * nd) if batched else (2, *(5,) * nd))
    y = ops.conv.forward(k, b, x, stride, padding)
    samples = x if batched else x[None]
    expected = np.stack([naive_conv(k, b, s, stride, padding) for s in samples])
    assert np.allclose(y, expected if batched else expected[0])


@pytest.mark.parametrize(("nd", "kernel", "stride", "padding"), GEOMETRIES)
@pytest.mark.parametrize("batched", [False, True])
def test_conv_transpose_matches_naive_reference(
    nd: int, kernel: tuple[int, ...], stride: int, padding: int, batched: bool
) -> None:
    k = rng.standard_normal((2, 3, *kernel))
    b = rng.standard_normal(3)
    x = rng.standard_normal((2, 2, *(3,) * nd) if batched else (2, *(3,) * nd))
    y = ops.conv_transpose.forward(k, b, x, stride, padding)
    samples = x if batched else x[None]
    expected = np.stack([naive_conv_transpose(k, b, s, stride, padding) for s in samples])
    assert np.allclose(y, expected if batched else expected[0])
    spatial = [
        (n - 1) * stride + kk - 2 * padding for n, kk in zip(x.shape[-nd:], kernel, strict=True)
    ]
    assert y.shape[-nd:] == tuple(spatial)  # (in - 1) * s + k - 2p


@pytest.mark.parametrize(("nd", "kernel", "stride", "padding"), GEOMETRIES)
def test_conv_transpose_is_the_adjoint_of_conv(
    nd: int, kernel: tuple[int, ...], stride: int, padding: int
) -> None:
    k = rng.standard_normal((3, 2, *kernel))  # conv: 2 -> 3 channels; transpose: 3 -> 2
    # sizes with (n + 2p - k) % s == 0, so that conv_transpose maps back onto all of x
    x = rng.standard_normal((2, *(3 * stride + kk - 2 * padding for kk in kernel)))
    y = ops.conv.forward(k, np.zeros(3), x, stride, padding)
    assert y.shape[1:] == (4,) * nd
    u = rng.standard_normal(y.shape)
    back = ops.conv_transpose.forward(k, np.zeros(2), u, stride, padding)
    assert back.shape == x.shape
    assert np.isclose(np.sum(y * u), np.sum(x * back))


@pytest.mark.parametrize(
    ("rule", "args"),
    [
        (ops.max_pool, ((2, 3), 1, 1)),
        (ops.avg_pool, ((3, 2), 2, 1)),
        (ops.smooth_max_pool, ((2, 2), 1, 0, -2.0)),
    ],
)
def test_pools_agree_batched_and_per_sample(rule: Any, args: tuple[Any, ...]) -> None:
    x = rng.permutation(2 * 3 * 5 * 4).reshape(2, 3, 5, 4) * 0.1
    batched = rule.forward(x, *args)
    assert np.allclose(batched, np.stack([rule.forward(s, *args) for s in x]))


@tm.tapem
def conv_loss(k: Any, b: Any, x: Any, transpose: bool) -> tm.Gen[tm.Handle]:
    K = yield from tm.param(k, "k")
    B = yield from tm.param(b, "b")
    X = yield from tm.param(x, "x")
    y = yield (ops.conv_transpose if transpose else ops.conv)(K, B, X, 2, 1)
    return (yield ops.sum((yield y * y)))


@pytest.mark.parametrize("transpose", [False, True])
def test_a_batch_gradient_is_the_sum_of_per_sample_gradients(transpose: bool) -> None:
    k = rng.standard_normal((2, 3, 3, 3))
    b = rng.standard_normal(3 if transpose else 2)
    x = rng.standard_normal((4, 2 if transpose else 3, 5, 5))
    value, grads = tm.value_and_grad(conv_loss(k, b, x, transpose))
    per_sample = [tm.value_and_grad(conv_loss(k, b, s, transpose)) for s in x]
    assert np.isclose(value, sum(v for v, _ in per_sample))
    for name in ("k", "b"):
        assert np.allclose(grads[name], sum(g[name] for _, g in per_sample))
    assert np.allclose(grads["x"], np.stack([g["x"] for _, g in per_sample]))


# --- pools: SPEC §6 edge cases -----------------------------------------------------------------


@tm.tapem
def pool_sum(rule: Any, x: Any, *args: Any) -> tm.Gen[tm.Handle]:
    X = yield from tm.param(x, "x")
    return (yield ops.sum((yield rule(X, *args))))


def test_max_pool_ties_go_to_the_first_cell_and_overlaps_accumulate() -> None:
    # windows of 2, stride 1 over [1, 3, 3, 2]: [1,3] -> 3 (cell 1), [3,3] -> tie, the first
    # cell (1) wins, [3,2] -> 3 (cell 2). Cell 1 collects two gradients.
    x = np.array([[1.0, 3.0, 3.0, 2.0]])
    value, grads = tm.value_and_grad(pool_sum(ops.max_pool, x, (2,), 1, 0))
    assert value == 9.0
    assert np.array_equal(grads["x"], [[0.0, 2.0, 1.0, 0.0]])


def test_max_pool_tie_in_two_dimensions_uses_row_major_order() -> None:
    # one 2x2 window; the two 5s tie, and (0, 1) comes before (1, 0) in row-major order
    x = np.array([[[1.0, 5.0], [5.0, 2.0]]])
    _, grads = tm.value_and_grad(pool_sum(ops.max_pool, x, (2, 2), 2, 0))
    assert np.array_equal(grads["x"], [[[0.0, 1.0], [0.0, 0.0]]])


def test_max_pool_ignores_padding() -> None:
    # padded cells are -inf: the windows [pad,-1,-2], [-1,-2,-3], [-2,-3,pad] give -1, -1, -2
    # (counting padding as 0 would give 0, -1, 0)
    x = np.array([[-1.0, -2.0, -3.0]])
    y = ops.max_pool.forward(x, (3,), 1, 1)
    assert np.array_equal(y, [[-1.0, -1.0, -2.0]])
    _, grads = tm.value_and_grad(pool_sum(ops.max_pool, x, (3,), 1, 1))
    assert np.array_equal(grads["x"], [[2.0, 1.0, 0.0]])


def test_avg_pool_counts_padding_as_zero_and_divides_by_the_window_size() -> None:
    # windows [0,1,2], [1,2,3], [2,3,0], each divided by 3
    x = np.array([[1.0, 2.0, 3.0]])
    assert np.allclose(ops.avg_pool.forward(x, (3,), 1, 1), [[1.0, 2.0, 5.0 / 3.0]])
    # each real cell gets 1/3 from every window it is in: cells 0 and 2 are in two windows
    _, grads = tm.value_and_grad(pool_sum(ops.avg_pool, x, (3,), 1, 1))
    assert np.allclose(grads["x"], [[2 / 3, 1.0, 2 / 3]])


def test_avg_pool_2d_corner_window_divides_by_the_full_kernel() -> None:
    x = np.ones((1, 2, 2))
    y = ops.avg_pool.forward(x, (2, 2), 2, 1)  # 2x2 windows tiling the padded 4x4
    # each window holds one real cell (a corner of x): 1/4, never 1/1
    assert np.allclose(y, [[[0.25, 0.25], [0.25, 0.25]]])


@pytest.mark.parametrize("rule", [ops.max_pool, ops.avg_pool, ops.smooth_max_pool])
def test_padding_beyond_half_the_kernel_empties_that_axis(rule: Any) -> None:
    x = rng.standard_normal((2, 4, 5))
    extra = (1.0,) if rule is ops.smooth_max_pool else ()
    # axis 0: kernel 3, padding 1 <= 3 // 2 -> (4 + 2 - 3) // 1 + 1 = 4 windows
    # axis 1: kernel 2, padding 2 > 2 // 2 -> no windows
    args = ((3, 2), 1, (1, 2), *extra)
    y = rule.forward(x, *args)
    assert y.shape == (2, 4, 0)
    assert rule.shape(tm.ShapeDtype(x.shape, x.dtype), *args).shape == (2, 4, 0)
    value, grads = tm.value_and_grad(pool_sum(rule, x, *args))
    assert value == 0.0 and np.array_equal(grads["x"], np.zeros_like(x))


def test_smooth_max_pool_with_negative_beta_pivots_on_the_minimum() -> None:
    # beta = -1 over [0, 800]: pivoting on the max would need exp(800) (inf); on the min the
    # value is 0 - log(1 + exp(-800)) / 1 = 0 and the weights are [1, exp(-800)] = [1, 0]
    x = np.array([[0.0, 800.0]])
    value, grads = tm.value_and_grad(pool_sum(ops.smooth_max_pool, x, (2,), 1, 0, -1.0))
    assert value == 0.0
    assert np.array_equal(grads["x"], [[1.0, 0.0]])
    # and it is a soft minimum: log(exp(-1) + exp(-2)) / -1 = 1 - log(1 + exp(-1))
    soft_min = ops.smooth_max_pool.forward(np.array([[1.0, 2.0]]), (2,), 1, 0, -1.0)
    assert np.isclose(soft_min[0, 0], 1.0 - math.log1p(math.exp(-1.0)))


def test_smooth_max_pool_includes_padded_zeros_but_sends_them_no_gradient() -> None:
    # the window [0, -5, 0]: log(1 + exp(-5) + 1); x's weight is exp(-5) / (2 + exp(-5))
    x = np.array([[-5.0]])
    value, grads = tm.value_and_grad(pool_sum(ops.smooth_max_pool, x, (3,), 1, 1, 1.0))
    assert np.isclose(value, math.log(2 + math.exp(-5)))
    assert np.allclose(grads["x"], [[math.exp(-5) / (2 + math.exp(-5))]])


def test_smooth_max_pool_approaches_the_max_and_the_min() -> None:
    x = np.array([[0.3, -1.0, 2.0, 0.5]])
    assert np.allclose(ops.smooth_max_pool.forward(x, (4,), 1, 0, 200.0), 2.0, atol=1e-2)
    assert np.allclose(ops.smooth_max_pool.forward(x, (4,), 1, 0, -200.0), -1.0, atol=1e-2)
