"""Every numpy function a Dual supports, against central differences (or plain on primals).

Each row of ``tapem.dual.FUNCTIONS`` has an example here (a test fails otherwise): a function of
two float arrays ``a`` [2, 3] and ``b`` [3, 2] (both may carry tangents) whose result's tangent
must equal the central difference of the same function along the tangents.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from numpy.lib.stride_tricks import sliding_window_view

from tapem.dual import FUNCTIONS, Dual

EPS = 1e-6
Example = Callable[[Any, Any], Any]
IDX = np.array([[0, 2], [1, 1]])

DIFFERENTIABLE: dict[Any, Example] = {
    np.reshape: lambda a, b: np.reshape(a, (3, 2)),
    np.ravel: lambda a, b: np.ravel(a),
    np.transpose: lambda a, b: np.transpose(a, (1, 0)),
    np.swapaxes: lambda a, b: np.swapaxes(a, 0, 1),
    np.moveaxis: lambda a, b: np.moveaxis(a, 0, -1),
    np.rollaxis: lambda a, b: np.rollaxis(a, 1),
    np.expand_dims: lambda a, b: np.expand_dims(a, 1),
    np.squeeze: lambda a, b: np.squeeze(a[:1]),
    np.broadcast_to: lambda a, b: np.broadcast_to(a, (2, 2, 3)),
    np.flip: lambda a, b: np.flip(a, 1),
    np.fliplr: lambda a, b: np.fliplr(a),
    np.flipud: lambda a, b: np.flipud(a),
    np.rot90: lambda a, b: np.rot90(a),
    np.roll: lambda a, b: np.roll(a, 1, axis=1),
    np.repeat: lambda a, b: np.repeat(a, 2, axis=0),
    np.tile: lambda a, b: np.tile(a, (2, 1)),
    np.resize: lambda a, b: np.resize(a, (4, 2)),
    np.diagonal: lambda a, b: np.diagonal(a),
    np.tril: lambda a, b: np.tril(a),
    np.triu: lambda a, b: np.triu(a),
    np.take_along_axis: lambda a, b: np.take_along_axis(a, IDX, axis=1),
    np.delete: lambda a, b: np.delete(a, 1, axis=1),
    np.real: lambda a, b: np.real(a),
    np.copy: lambda a, b: np.copy(a),
    sliding_window_view: lambda a, b: sliding_window_view(a, 2, axis=1),
    np.matrix_transpose: lambda a, b: np.matrix_transpose(a),
    np.permute_dims: lambda a, b: np.permute_dims(a, (1, 0)),
    np.mean: lambda a, b: np.mean(a, axis=0),
    np.cumsum: lambda a, b: np.cumsum(a, axis=1),
    np.take: lambda a, b: np.take(a, [2, 0], axis=1),
    np.trace: lambda a, b: np.trace(a),
    np.split: lambda a, b: np.split(a, 3, axis=1),
    np.array_split: lambda a, b: np.array_split(a, 2, axis=1),
    np.hsplit: lambda a, b: np.hsplit(a, 3),
    np.vsplit: lambda a, b: np.vsplit(a, 2),
    np.dsplit: lambda a, b: np.dsplit(a[..., None] * a[..., None], 1),
    np.concatenate: lambda a, b: np.concatenate([a, b.T, np.ones((1, 3))]),
    np.concat: lambda a, b: np.concat([a, b.T], axis=1),
    np.stack: lambda a, b: np.stack([a, b.T]),
    np.hstack: lambda a, b: np.hstack([a, b.T]),
    np.vstack: lambda a, b: np.vstack([a, np.ones(3)]),
    np.dstack: lambda a, b: np.dstack([a, b.T]),
    np.column_stack: lambda a, b: np.column_stack([a[0], b[:, 1]]),
    np.dot: lambda a, b: np.dot(a, b),
    np.vdot: lambda a, b: np.vdot(a, b.T),
    np.inner: lambda a, b: np.inner(a, b.T),
    np.outer: lambda a, b: np.outer(a, b),
    np.tensordot: lambda a, b: np.tensordot(a, b, axes=([0, 1], [1, 0])),
    np.kron: lambda a, b: np.kron(a, b),
    np.cross: lambda a, b: np.cross(a, b.T),
    np.einsum: lambda a, b: np.einsum("ij,jk->ik", a, b),
    np.full_like: lambda a, b: np.full_like(a, b[0, 0], shape=(2,)),
    np.where: lambda a, b: np.where(IDX[:, :1] > 0, a, b.T),
    np.pad: lambda a, b: [
        np.pad(a, ((1, 0), (0, 2))),
        np.pad(a, 1, "reflect"),
        np.pad(a, 2, "wrap"),
    ],
    np.diff: lambda a, b: np.diff(a, axis=1, prepend=b[:2, :1]),
    np.append: lambda a, b: np.append(a, b.T, axis=0),
    np.insert: lambda a, b: np.insert(a, 1, b[:2, 0], axis=1),
    np.broadcast_arrays: lambda a, b: np.broadcast_arrays(a, b[:1, :1]),
    np.bincount: lambda a, b: np.bincount([0, 2, 2, 1, 0, 3], weights=np.ravel(a)),
    np.sum: lambda a, b: np.sum(a, axis=1, keepdims=True, initial=1.0),
    np.max: lambda a, b: np.max(a, axis=1),
    np.amax: lambda a, b: np.amax(a),
    np.min: lambda a, b: np.min(a, axis=0, keepdims=True),
    np.amin: lambda a, b: np.amin(a, axis=1),
    np.var: lambda a, b: np.var(a, axis=1, ddof=1),
    np.std: lambda a, b: np.std(a),
    np.clip: lambda a, b: np.clip(a, -0.5, b.T),
    np.sort: lambda a, b: np.sort(a, axis=1),
    np.nan_to_num: lambda a, b: np.nan_to_num(a),
    np.average: lambda a, b: np.average(a, axis=1, weights=b.T * b.T),
    np.atleast_1d: lambda a, b: np.atleast_1d(a[0, 0]),
    np.atleast_2d: lambda a, b: np.atleast_2d(a[0]),
    np.atleast_3d: lambda a, b: np.atleast_3d(a),
}

PLAIN_UNARY = (np.shape, np.ndim, np.size, np.argmax, np.argmin, np.argsort, np.nonzero,
               np.argwhere, np.flatnonzero, np.count_nonzero, np.any, np.all, np.iscomplexobj,
               np.isrealobj, np.iscomplex, np.isreal, np.isneginf, np.isposinf, np.round,
               np.around, np.fix)  # fmt: skip


def _unary(f: Any) -> Example:
    return lambda a, b: f(a)


PLAIN: dict[Any, Example] = {f: _unary(f) for f in PLAIN_UNARY} | {
    np.argpartition: lambda a, b: np.argpartition(a, 1, axis=1),
    np.isclose: lambda a, b: np.isclose(a, b.T),
    np.allclose: lambda a, b: np.allclose(a, a),
    np.array_equal: lambda a, b: np.array_equal(a, b.T),
    np.array_equiv: lambda a, b: np.array_equiv(a, a),
    np.searchsorted: lambda a, b: np.searchsorted(np.sort(a[0].primal), a[1]),
    np.isin: lambda a, b: np.isin(a, b),
    np.result_type: lambda a, b: np.result_type(a, np.float32),
    np.can_cast: lambda a, b: np.can_cast(a, np.float32),
    np.may_share_memory: lambda a, b: np.may_share_memory(a, b),
    np.shares_memory: lambda a, b: np.shares_memory(a, b),
    np.unravel_index: lambda a, b: np.unravel_index(np.argmax(a), np.shape(a)),
    np.ravel_multi_index: lambda a, b: np.ravel_multi_index(np.nonzero(a > 0), np.shape(a)),
    np.digitize: lambda a, b: np.digitize(a, [-1.0, 0.0, 1.0]),
}
BUFFERS = {np.zeros_like, np.ones_like, np.empty_like, np.put_along_axis, np.copyto}


def test_every_function_row_has_an_example() -> None:
    covered = set(DIFFERENTIABLE) | set(PLAIN) | BUFFERS
    missing = [getattr(f, "__name__", f) for f in FUNCTIONS if f not in covered]
    assert not missing, f"add an example to tests/test_dual_functions.py for {missing}"


def _parts(result: Any) -> list[Any]:
    return list(result) if isinstance(result, (list, tuple)) else [result]


@pytest.mark.parametrize("func", list(DIFFERENTIABLE), ids=lambda f: f.__name__)
def test_function_tangent_matches_finite_differences(func: Any) -> None:
    rng = np.random.default_rng(3)
    a, b = rng.standard_normal((2, 3)), rng.standard_normal((3, 2))
    ta, tb = rng.standard_normal((2, 3)), rng.standard_normal((3, 2))
    example = DIFFERENTIABLE[func]
    duals = _parts(example(Dual(a, ta), Dual(b, tb)))
    plus = _parts(example(a + EPS * ta, b + EPS * tb))
    minus = _parts(example(a - EPS * ta, b - EPS * tb))
    assert len(duals) == len(plus)
    for d, p, m in zip(duals, plus, minus, strict=True):
        assert isinstance(d, Dual), type(d)
        assert d.tangent.shape == d.primal.shape == np.shape(p)
        assert np.allclose(d.primal, example(a, b) if len(duals) == 1 else d.primal)
        assert np.allclose(d.tangent, (p - m) / (2 * EPS), atol=1e-7)
    # the primal is what numpy computes on plain arrays
    for d, plain in zip(duals, _parts(example(a, b)), strict=True):
        assert np.allclose(d.primal, plain)


@pytest.mark.parametrize("func", list(PLAIN), ids=lambda f: f.__name__)
def test_plain_functions_run_on_primals(func: Any) -> None:
    rng = np.random.default_rng(4)
    a, b = rng.standard_normal((2, 3)), rng.standard_normal((3, 2))
    result = PLAIN[func](Dual(a, np.ones((2, 3))), Dual(b, np.ones((3, 2))))
    expected = PLAIN[func](Dual(a, np.zeros((2, 3))), Dual(b, np.zeros((3, 2))))
    assert not any(isinstance(part, Dual) for part in _parts(result))
    for got, want in zip(_parts(result), _parts(expected), strict=True):
        assert np.array_equal(np.asarray(got), np.asarray(want))


@pytest.mark.parametrize("func", [np.zeros_like, np.ones_like, np.empty_like])
def test_fresh_buffers_have_zero_tangents(func: Any) -> None:
    g = Dual(np.ones((2, 3), dtype=np.float32), np.ones((2, 3)))
    buf = func(g, shape=(4,))
    assert isinstance(buf, Dual) and buf.shape == (4,) and buf.dtype == np.float32
    assert np.all(buf.tangent == 0)
    assert not isinstance(func(g, dtype=np.int64), Dual)


def test_writing_functions_write_both_parts() -> None:
    x = Dual(np.array([[1.0, 2.0], [3.0, 4.0]]), np.array([[1.0, 0.0], [0.0, 1.0]]))
    buf = np.zeros_like(x)
    np.put_along_axis(buf, np.array([[1], [0]]), x[:, :1], axis=1)
    assert np.allclose(buf.primal, [[0, 1], [3, 0]]) and np.allclose(buf.tangent, [[0, 1], [0, 0]])
    np.copyto(buf, x, where=np.array([[True, False], [False, True]]))
    assert np.allclose(buf.primal, [[1, 1], [3, 4]]) and np.allclose(buf.tangent, [[1, 1], [0, 1]])
    with pytest.raises(TypeError, match="drop its tangent"):
        np.copyto(np.zeros((2, 2)), x)
