"""Dual numbers: every ufunc row's tangent against central differences, and the protocol."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from tapem.dual import RULES, Dual
from tapem.dual.ufuncs import PLAIN, ZERO

EPS = 1e-6

# Inputs inside each ufunc's domain and away from its kinks: (low, high) per argument.
DOMAINS: dict[str, tuple[tuple[float, float], ...]] = {
    "sqrt": ((0.2, 3.0),),
    "log": ((0.2, 3.0),),
    "log2": ((0.2, 3.0),),
    "log10": ((0.2, 3.0),),
    "log1p": ((-0.5, 3.0),),
    "arccosh": ((1.2, 3.0),),
    "arcsin": ((-0.8, 0.8),),
    "arccos": ((-0.8, 0.8),),
    "arctanh": ((-0.8, 0.8),),
    "tan": ((-1.2, 1.2),),
    "cbrt": ((0.2, 3.0),),
    "reciprocal": ((0.3, 3.0),),
    "absolute": ((0.2, 2.0),),
    "fabs": ((0.2, 2.0),),
    "power": ((0.3, 2.0), (-1.5, 2.5)),
    "float_power": ((0.3, 2.0), (-1.5, 2.5)),
    "divide": ((-2.0, 2.0), (0.3, 2.0)),
    "copysign": ((0.2, 2.0), (-2.0, 2.0)),
    "remainder": ((0.1, 0.9), (1.1, 1.9)),  # a/b in (0.05, 0.8): away from jumps
    "fmod": ((0.1, 0.9), (1.1, 1.9)),
    "hypot": ((0.3, 2.0), (0.3, 2.0)),
    "arctan2": ((0.3, 2.0), (0.3, 2.0)),
}
MATRIX_UFUNCS = {"matmul", "vecdot", "matvec", "vecmat"}


def _inputs(name: str, nin: int, rng: np.random.Generator) -> list[Any]:
    if name in MATRIX_UFUNCS:
        shapes = {"matmul": [(2, 3), (3, 4)], "vecdot": [(2, 3), (3,)]}
        shapes |= {"matvec": [(2, 3), (3,)], "vecmat": [(3,), (3, 2)]}
        return [rng.standard_normal(s) for s in shapes[name]]
    domains = DOMAINS.get(name, ((-2.0, 2.0),) * nin)
    shapes = [(2, 3), (3,)]  # a binary ufunc also broadcasts
    xs = [rng.uniform(lo, hi, shapes[k]) for k, (lo, hi) in enumerate(domains)]
    if name in ("maximum", "minimum", "fmax", "fmin"):  # no ties
        xs[1] = np.where(np.abs(xs[0] - xs[1]) < 0.1, xs[1] + 0.3, xs[1])
    return xs


def _numerical(f: Callable[..., Any], xs: list[Any], ts: list[Any]) -> Any:
    plus = f(*[x + EPS * t if t is not None else x for x, t in zip(xs, ts, strict=True)])
    minus = f(*[x - EPS * t if t is not None else x for x, t in zip(xs, ts, strict=True)])
    return (plus - minus) / (2 * EPS)


UFUNCS = sorted(RULES, key=lambda u: u.__name__)


@pytest.mark.parametrize("ufunc", UFUNCS, ids=[u.__name__ for u in UFUNCS])
@pytest.mark.parametrize("which", ["all", "first", "last"])
def test_ufunc_tangent_matches_finite_differences(ufunc: np.ufunc, which: str) -> None:
    rng = np.random.default_rng(7)
    xs = _inputs(ufunc.__name__, ufunc.nin, rng)
    ts: list[Any] = [rng.standard_normal(np.shape(x)) for x in xs]
    if which == "first":
        ts[1:] = [None] * (len(ts) - 1)
    elif which == "last":
        ts[:-1] = [None] * (len(ts) - 1)
    args = [Dual(x, t) if t is not None else x for x, t in zip(xs, ts, strict=True)]
    y = ufunc(*args)
    assert isinstance(y, Dual)
    assert y.tangent.shape == y.primal.shape and y.tangent.dtype == y.primal.dtype
    assert np.allclose(y.primal, ufunc(*xs))
    assert np.allclose(y.tangent, _numerical(ufunc, xs, ts), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("ufunc", sorted(ZERO | PLAIN, key=lambda u: u.__name__))
def test_piecewise_constant_and_predicate_ufuncs_give_plain_arrays(ufunc: np.ufunc) -> None:
    x = np.array([-1.5, 0.25, 2.0])
    args = [Dual(x, np.ones(3))] + [np.array([0.5, 0.25, -1.0])] * (ufunc.nin - 1)
    result = ufunc(*args)
    assert not isinstance(result, Dual)
    assert np.array_equal(result, ufunc(x, *args[1:]))


def test_operators_match_finite_differences() -> None:
    rng = np.random.default_rng(1)
    a, b = rng.uniform(0.5, 2, (2, 3)), rng.uniform(0.5, 2, (3,))
    ta, tb = rng.standard_normal((2, 3)), rng.standard_normal(3)
    cases: list[Callable[[Any, Any], Any]] = [
        lambda x, y: x + y,
        lambda x, y: x - y,
        lambda x, y: y - x,
        lambda x, y: x * y,
        lambda x, y: x / y,
        lambda x, y: y / x,
        lambda x, y: x**y,
        lambda x, y: 2.0**x,
        lambda x, y: 3.0 - x,
        lambda x, y: 2.0 / x,
        lambda x, y: -x * 0.5 + 1.0,
        lambda x, y: abs(x - 1.0),
    ]
    for f in cases:
        y = f(Dual(a, ta), Dual(b, tb))
        assert np.allclose(y.tangent, _numerical(f, [a, b], [ta, tb]), atol=1e-7)
        y = f(Dual(a, ta), b)  # a plain operand has a zero tangent
        assert np.allclose(y.tangent, _numerical(f, [a, b], [ta, None]), atol=1e-7)


def test_maximum_splits_the_tangent_on_a_tie() -> None:
    a = Dual(np.array([1.0, 2.0, 3.0]), np.array([1.0, 1.0, 1.0]))
    b = Dual(np.array([1.0, 0.0, 5.0]), np.array([3.0, 3.0, 3.0]))
    assert np.allclose(np.maximum(a, b).tangent, [2.0, 1.0, 3.0])
    assert np.allclose(np.minimum(a, b).tangent, [2.0, 3.0, 1.0])


def test_reductions_go_through_the_winner() -> None:
    x = Dual(np.array([[1.0, 5.0, 2.0], [7.0, 0.0, 7.0]]), np.arange(6.0).reshape(2, 3))
    assert np.allclose(np.max(x, axis=1).tangent, [1.0, 3.0])  # the first of a tie
    assert np.allclose(np.min(x, axis=0).tangent, [0.0, 4.0, 2.0])
    assert np.allclose(np.maximum.reduce(x, axis=None).tangent, 3.0)
    assert np.allclose(np.add.reduce(x, axis=1).tangent, [3.0, 12.0])
    assert np.allclose(x.max(axis=(0, 1), keepdims=True).tangent, [[3.0]])
    assert np.allclose(np.max(x, initial=10.0).tangent, 0.0)  # the initial value wins


def test_ufunc_methods_outer_accumulate_at() -> None:
    a, b = Dual(np.array([1.0, 2.0]), np.array([1.0, 0.0])), np.array([3.0, 4.0, 5.0])
    outer = np.multiply.outer(a, b)
    assert outer.shape == (2, 3) and np.allclose(outer.tangent, [[3, 4, 5], [0, 0, 0]])
    assert np.allclose(np.add.accumulate(a).tangent, [1.0, 1.0])
    buf = np.zeros_like(a, shape=(3,))
    np.add.at(buf, [0, 0, 2], Dual(np.array([1.0, 2.0, 3.0]), np.array([1.0, 1.0, 5.0])))
    np.subtract.at(buf, [1], a[:1])
    assert np.allclose(buf.primal, [3.0, -1.0, 3.0]) and np.allclose(buf.tangent, [2, -1, 5])


def test_buffers_made_from_a_dual_are_duals_and_take_writes() -> None:
    g = Dual(np.array([1.0, 2.0]), np.array([0.5, 0.0]))
    buf = np.zeros_like(g, shape=(2, 2))
    assert isinstance(buf, Dual) and np.all(buf.tangent == 0)
    buf[0] = g
    buf[1, 1] += g[0] * 3.0
    buf[:, 0] = 7.0  # a plain value writes a zero tangent
    assert np.allclose(buf.primal, [[7.0, 2.0], [7.0, 3.0]])
    assert np.allclose(buf.tangent, [[0.0, 0.0], [0.0, 1.5]])
    assert np.allclose(g.tangent, [0.5, 0.0])  # the source is untouched


def test_a_shared_tangent_is_copied_before_a_write() -> None:
    x = Dual(np.array([1.0, 2.0]), np.array([1.0, 1.0]))
    y = x + 0.0  # shares x's tangent (read-only view)
    y[0] = 5.0
    assert np.allclose(x.tangent, [1.0, 1.0]) and np.allclose(y.tangent, [0.0, 1.0])
    z = np.broadcast_to(x, (2, 2)) * 1.0
    z += x
    assert np.allclose(z.tangent, [[2.0, 2.0], [2.0, 2.0]])


def test_comparisons_are_plain_booleans_on_primals() -> None:
    x = Dual(np.array([-1.0, 0.0, 2.0]), np.ones(3))
    for result in (x > 0, x >= 0, x < 0, x <= 0, x == 0, x != 0, np.isfinite(x)):
        assert isinstance(result, np.ndarray) and result.dtype == bool
    assert np.array_equal(x > 0, [False, False, True])


def test_dtype_and_shape_attributes_follow_the_primal() -> None:
    x = Dual(np.ones((2, 3), dtype=np.float32), np.ones((2, 3)))
    assert x.dtype == np.float32 and x.tangent.dtype == np.float32
    assert x.shape == (2, 3) and x.ndim == 2 and x.size == 6 and x.T.shape == (3, 2)
    y = (x * 2.0).sum(axis=0)
    assert y.dtype == np.float32 and y.tangent.dtype == np.float32
    assert x.astype(np.float64).tangent.dtype == np.float64
    assert not isinstance(x.astype(np.int64), Dual)


def test_conversions_that_would_drop_the_tangent_raise() -> None:
    x = Dual(np.array([1.0, 2.0]), np.ones(2))
    with pytest.raises(TypeError, match="drop its tangent"):
        np.asarray(x)
    with pytest.raises(TypeError, match="float"):
        float(x[0])
    with pytest.raises(TypeError, match="drop its tangent"):
        np.zeros(3)[1:] = x  # a plain buffer cannot hold a tangent
    with pytest.raises(ValueError, match="sequence") as info:  # numpy's wording for this case
        np.zeros(2)[0] = x[0]
    assert "not supported on tapem.Dual" in str(info.value.__cause__)
    with pytest.raises(TypeError, match=r"numpy\.add\.at into a plain array"):
        np.add.at(np.zeros(2), [0], x[:1])
    with pytest.raises(TypeError, match="out="):
        np.add(x, 1.0, out=np.zeros(2))
    plain = np.zeros(2)
    plain += np.ones(2)  # plain in-place arithmetic is unaffected
    assert np.allclose(plain, 1.0)


@pytest.mark.parametrize(
    ("call", "name"),
    [
        (lambda x: np.linalg.norm(x), "numpy.linalg.norm"),
        (lambda x: np.prod(x), "numpy.prod"),
        (lambda x: np.cumprod(x), "numpy.cumprod"),
        (lambda x: np.frexp(x), "numpy.frexp"),
        (lambda x: np.multiply.reduce(x), "numpy.multiply.reduce"),
        (lambda x: np.maximum.at(x, [0], 1.0), "numpy.maximum.at"),
        (lambda x: np.pad(x, 1, mode="maximum"), "numpy.pad with mode='maximum'"),
        (lambda x: np.exp(x, where=np.array([True, False])), "numpy.exp with"),
        (
            lambda x: np.take_along_axis(np.ones(3), x, 0),
            "numpy.take_along_axis with a Dual as a static argument",
        ),
    ],
)
def test_unsupported_operations_raise_a_clear_type_error(call: Any, name: str) -> None:
    x = Dual(np.array([1.0, 2.0]), np.ones(2))
    with pytest.raises(TypeError, match="^" + re.escape(name)) as info:
        call(x)
    assert "not supported on tapem.Dual" in str(info.value)
    assert "drop the tangent" in str(info.value)


def test_add_reduce_is_the_sum_row() -> None:
    p, t = np.arange(6.0).reshape(2, 3), np.ones((2, 3))
    x = Dual(p, t)
    y = np.add.reduce(x)  # numpy's default axis=0
    assert np.array_equal(y.primal, p.sum(axis=0)) and np.array_equal(y.tangent, [2, 2, 2])
    y = np.add.reduce(x, axis=None, keepdims=True, dtype=np.float32, initial=10.0)
    assert y.primal.dtype == y.tangent.dtype == np.float32  # the initial value shifts the primal
    assert np.array_equal(y.primal, [[25.0]]) and np.array_equal(y.tangent, [[6.0]])
    empty = np.add.reduce(Dual(np.zeros((0, 2))), axis=0, initial=None)
    assert np.array_equal(empty.primal, [0.0, 0.0]) and np.array_equal(empty.tangent, [0, 0])
    out = np.zeros_like(x, shape=(2,))
    assert np.add.reduce(x, axis=1, out=out) is out and np.array_equal(out.tangent, [3, 3])
    with pytest.raises(TypeError, match="where="):
        np.add.reduce(x, axis=0, where=np.array([True, False, True]))


def test_var_counts_negative_and_tuple_axes() -> None:
    rng = np.random.default_rng(3)
    p, t = rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 3, 4))
    for axis in (-1, (0, -1), None):
        y = np.var(Dual(p, t), axis=axis, ddof=1)
        numeric = np.var(p + EPS * t, axis=axis, ddof=1) - np.var(p - EPS * t, axis=axis, ddof=1)
        assert np.allclose(y.primal, np.var(p, axis=axis, ddof=1))
        assert np.allclose(y.tangent, numeric / (2 * EPS), rtol=1e-6, atol=1e-8)


def test_copy_and_astype_give_duals_with_their_own_tangents() -> None:
    x = Dual(np.array([1.0, 2.0]), np.array([3.0, 4.0]))
    for y in (x.copy(), x.astype(np.float32)):
        assert type(y) is Dual and np.array_equal(y.tangent, [3.0, 4.0])
        y[0] = 0.0
        assert np.array_equal(x.tangent, [3.0, 4.0])
