"""The ufunc table of :class:`~tapem.dual.Dual`: one derivative rule per ufunc.

A rule is ``rule(tangents, y, *xs) -> tangent of y``: ``xs`` are the primal inputs, ``y`` the
primal output and ``tangents`` the inputs' tangents (``None`` for a plain input, whose tangent is
zero). Most rows are built from partial derivatives: :func:`unary` takes ``dy/dx (x, y)``,
:func:`binary` takes ``dy/da`` and ``dy/db`` as functions of ``(a, b, y)``, each computed only
when that input carries a tangent. Multilinear ufuncs (``multiply``, ``matmul``) apply
themselves to one tangent at a time.

Ufunc methods: ``__call__``, ``outer`` (any row), ``reduce`` (add; maximum/minimum through the
argmax; logical ones on primals), ``accumulate`` (add) and ``at`` (add, subtract: the
accumulating writes VJP rules use). Predicates and comparisons run on primals and return plain
arrays; piecewise-constant ufuncs (``sign``, ``floor``, ...) return plain arrays (their
derivative is zero almost everywhere). ``out=`` may name duals; ``where=`` is not supported.

>>> import numpy as np
>>> from tapem.dual import Dual
>>> x = Dual(np.array([1.0, 4.0]), np.array([1.0, 1.0]))
>>> assert np.allclose(np.sqrt(x).tangent, [0.5, 0.25])
>>> assert np.allclose(np.maximum(x, 4.0).tangent, [0.0, 0.5])  # a tie splits the tangent
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

import numpy as np

from tapem.dual.core import Dual, conform, make, primal_of, shared, tangent_of, unsupported

__all__ = ["RULES", "apply", "call", "extreme", "reduced_axes"]

Rule = Callable[..., Any]
Partial = Callable[[Any, Any, Any], Any]


def unary(d: Callable[[Any, Any], Any]) -> Rule:
    """A unary row from its derivative ``d(x, y) = dy/dx``."""

    def rule(ts: Any, y: Any, x: Any) -> Any:
        return ts[0] * d(x, y)

    return rule


def binary(da: Partial, db: Partial) -> Rule:
    """A binary row from its partial derivatives ``da(a, b, y)`` and ``db(a, b, y)``."""

    def rule(ts: Any, y: Any, a: Any, b: Any) -> Any:
        ta, tb = ts
        t = None if ta is None else ta * da(a, b, y)
        if tb is not None:
            c = tb * db(a, b, y)
            t = c if t is None else t + c
        return t

    return rule


def multilinear(f: np.ufunc) -> Rule:
    """A row for a ufunc linear in each input: ``f(ta, b) + f(a, tb)``."""

    def rule(ts: Any, y: Any, a: Any, b: Any) -> Any:
        ta, tb = ts
        t = None if ta is None else f(ta, b)
        if tb is not None:
            c = f(a, tb)
            t = c if t is None else t + c
        return t

    return rule


def _add(ts: Any, y: Any, a: Any, b: Any) -> Any:
    ta, tb = ts
    if ta is None:
        return tb
    return ta if tb is None else ta + tb


def _subtract(ts: Any, y: Any, a: Any, b: Any) -> Any:
    ta, tb = ts
    if tb is None:
        return ta
    return -tb if ta is None else ta - tb


def _identity(ts: Any, y: Any, x: Any) -> Any:
    return ts[0]


def _winner(a: Any, b: Any, y: Any) -> Any:
    """d max(a, b)/da: 1 where a wins, 1/2 on a tie (the symmetric subgradient), else 0."""
    return np.where(a > b, 1.0, np.where(a == b, 0.5, 0.0))


def _loser(a: Any, b: Any, y: Any) -> Any:
    return np.where(a < b, 1.0, np.where(a == b, 0.5, 0.0))


def _power_da(a: Any, b: Any, y: Any) -> Any:
    return np.where(b == 0, 0.0, b * a ** np.where(b == 0, 1.0, b - 1))


def _sign_of_b(b: Any) -> Any:
    return np.where(np.signbit(b), -1.0, 1.0)


_LN2, _LN10 = math.log(2.0), math.log(10.0)
_DEG = math.pi / 180.0

# fmt: off
_ROWS: dict[np.ufunc, Rule] = {
    # --- linear and multilinear ----------------------------------------------------------------
    np.add: _add,
    np.subtract: _subtract,
    np.negative: lambda ts, y, x: -ts[0],
    np.positive: _identity,
    np.conjugate: _identity,
    np.multiply: multilinear(np.multiply),
    np.matmul: multilinear(np.matmul),
    np.divide: binary(lambda a, b, y: 1 / b, lambda a, b, y: -y / b),
    np.deg2rad: unary(lambda x, y: _DEG),
    np.rad2deg: unary(lambda x, y: 1 / _DEG),
    # --- powers, exponentials, logarithms ------------------------------------------------------
    np.power: binary(_power_da, lambda a, b, y: y * np.log(a)),
    np.float_power: binary(_power_da, lambda a, b, y: y * np.log(a)),
    np.square: unary(lambda x, y: 2 * x),
    np.sqrt: unary(lambda x, y: 0.5 / y),
    np.cbrt: unary(lambda x, y: 1 / (3 * y * y)),
    np.reciprocal: unary(lambda x, y: -(y * y)),
    np.exp: unary(lambda x, y: y),
    np.exp2: unary(lambda x, y: y * _LN2),
    np.expm1: unary(lambda x, y: y + 1),
    np.log: unary(lambda x, y: 1 / x),
    np.log2: unary(lambda x, y: 1 / (x * _LN2)),
    np.log10: unary(lambda x, y: 1 / (x * _LN10)),
    np.log1p: unary(lambda x, y: 1 / (1 + x)),
    np.logaddexp: binary(lambda a, b, y: np.exp(a - y), lambda a, b, y: np.exp(b - y)),
    np.logaddexp2: binary(lambda a, b, y: np.exp2(a - y), lambda a, b, y: np.exp2(b - y)),
    # --- trigonometric and hyperbolic ----------------------------------------------------------
    np.sin: unary(lambda x, y: np.cos(x)),
    np.cos: unary(lambda x, y: -np.sin(x)),
    np.tan: unary(lambda x, y: 1 + y * y),
    np.arcsin: unary(lambda x, y: 1 / np.sqrt(1 - x * x)),
    np.arccos: unary(lambda x, y: -1 / np.sqrt(1 - x * x)),
    np.arctan: unary(lambda x, y: 1 / (1 + x * x)),
    np.arctan2: binary(lambda a, b, y: b / (a * a + b * b), lambda a, b, y: -a / (a * a + b * b)),
    np.hypot: binary(lambda a, b, y: a / y, lambda a, b, y: b / y),
    np.sinh: unary(lambda x, y: np.cosh(x)),
    np.cosh: unary(lambda x, y: np.sinh(x)),
    np.tanh: unary(lambda x, y: 1 - y * y),
    np.arcsinh: unary(lambda x, y: 1 / np.sqrt(x * x + 1)),
    np.arccosh: unary(lambda x, y: 1 / np.sqrt(x * x - 1)),
    np.arctanh: unary(lambda x, y: 1 / (1 - x * x)),
    # --- piecewise -----------------------------------------------------------------------------
    np.absolute: unary(lambda x, y: np.sign(x)),
    np.fabs: unary(lambda x, y: np.sign(x)),
    np.maximum: binary(_winner, lambda a, b, y: _winner(b, a, y)),
    np.minimum: binary(_loser, lambda a, b, y: _loser(b, a, y)),
    np.fmax: binary(_winner, lambda a, b, y: _winner(b, a, y)),
    np.fmin: binary(_loser, lambda a, b, y: _loser(b, a, y)),
    np.copysign: binary(lambda a, b, y: np.sign(a) * _sign_of_b(b), lambda a, b, y: 0.0 * y),
    np.remainder: binary(lambda a, b, y: 1.0, lambda a, b, y: -np.floor(a / b)),
    np.fmod: binary(lambda a, b, y: 1.0, lambda a, b, y: -np.trunc(a / b)),
}
# fmt: on
_OPTIONAL = ("vecdot", "matvec", "vecmat")  # numpy >= 2.0 / 2.2

RULES: Mapping[np.ufunc, Rule] = MappingProxyType(
    _ROWS | {getattr(np, n): multilinear(getattr(np, n)) for n in _OPTIONAL if hasattr(np, n)}
)
"""The derivative rule of every differentiable ufunc (read-only)."""
del _ROWS

ZERO: frozenset[np.ufunc] = frozenset(
    {np.sign, np.floor, np.ceil, np.trunc, np.rint, np.heaviside, np.floor_divide, np.spacing}
)
"""Piecewise-constant ufuncs: their derivative is zero almost everywhere; results are plain."""

# fmt: off
PLAIN: frozenset[np.ufunc] = frozenset({
    np.equal, np.not_equal, np.less, np.less_equal, np.greater, np.greater_equal,
    np.logical_and, np.logical_or, np.logical_xor, np.logical_not,
    np.isfinite, np.isinf, np.isnan, np.signbit,
})
# fmt: on
"""Predicates and comparisons: evaluated on primals, boolean results."""

_CALL_KWARGS = frozenset({"dtype", "casting", "order", "subok", "signature"})


def call(ufunc: np.ufunc, inputs: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """``ufunc(*inputs, **kwargs)`` with tangents."""
    where = kwargs.pop("where", True)
    if where is not True or not _CALL_KWARGS.issuperset(kwargs):
        raise unsupported(f"numpy.{ufunc.__name__} with {sorted(kwargs) or ['where']}")
    primals = [primal_of(x) for x in inputs]
    if ufunc in PLAIN or ufunc in ZERO:
        return ufunc(*primals, **kwargs)
    rule = RULES.get(ufunc)
    if rule is None:
        raise unsupported(f"numpy.{ufunc.__name__}")
    y = ufunc(*primals, **kwargs)
    tangents = [tangent_of(x) for x in inputs]
    if all(t is None for t in tangents) or y.dtype.kind not in "fc":
        return y
    t = rule(tangents, y, *primals)
    passthrough = any(t is u for u in tangents)  # add/positive reuse an input's tangent
    return make(y, shared(t, y) if passthrough else conform(t, y))


def reduced_axes(axis: Any, ndim: int) -> tuple[int, ...]:
    """The axes a reduction over ``axis`` (``None``, an int or a sequence) removes, sorted and
    non-negative, for an array of ``ndim`` dimensions."""
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    return tuple(sorted(int(a) % ndim for a in axes)) if ndim else ()


def extreme(
    find: Callable[..., Any], x: Any, axis: Any = None, keepdims: bool = False, **kw: Any
) -> Any:
    """``np.max``/``np.min`` (``find`` is ``np.argmax``/``np.argmin``) of ``x`` over ``axis``,
    the tangent taken at the (first) winning element."""
    if kw.pop("out", None) is not None or kw.pop("where", True) is not True:
        raise unsupported("numpy.max/min with out= or where=")
    initial = kw.pop("initial", None)
    if kw:
        raise unsupported(f"numpy.max/min with {sorted(kw)}")
    p, t = primal_of(x), tangent_of(x)
    reducer = np.max if find is np.argmax else np.min
    y = reducer(p, axis=axis, keepdims=keepdims)
    if t is None:
        return y if initial is None else reducer(p, axis=axis, keepdims=keepdims, initial=initial)
    axes = reduced_axes(axis, np.ndim(p))
    kept = [d for i, d in enumerate(np.shape(p)) if i not in axes]
    moved = np.reshape(np.moveaxis(p, axes, range(len(kept), np.ndim(p))), (*kept, -1))
    index = find(moved, axis=-1, keepdims=True)
    tm = np.reshape(np.moveaxis(t, axes, range(len(kept), np.ndim(p))), (*kept, -1))
    tt = np.reshape(np.take_along_axis(tm, index, axis=-1), np.shape(y))
    if initial is not None:
        won = y >= initial if find is np.argmax else y <= initial
        y = reducer(p, axis=axis, keepdims=keepdims, initial=initial)
        tt = np.where(won, tt, 0.0)
    return make(y, conform(tt, y))


def reduce(ufunc: np.ufunc, x: Any, kwargs: dict[str, Any]) -> Any:
    """``ufunc.reduce(x, **kwargs)`` with tangents (numpy's default ``axis=0``)."""
    axis = kwargs.pop("axis", 0)
    keepdims = kwargs.pop("keepdims", False)
    if ufunc is np.add:  # np.sum's row (``initial`` shifts the primal only)
        if kwargs.pop("where", True) is not True:
            raise unsupported("numpy.add.reduce with where=")
        if kwargs.get("initial", 0) is None:  # ufunc.reduce's spelling of "no initial value"
            del kwargs["initial"]
        return np.sum(x, axis=axis, keepdims=keepdims, **kwargs)
    if ufunc in (np.maximum, np.fmax, np.minimum, np.fmin):
        kwargs.pop("dtype", None)
        find = np.argmax if ufunc in (np.maximum, np.fmax) else np.argmin
        return extreme(find, x, axis, keepdims, **kwargs)
    if ufunc in PLAIN:
        return ufunc.reduce(primal_of(x), axis=axis, keepdims=keepdims, **kwargs)
    raise unsupported(f"numpy.{ufunc.__name__}.reduce")


def at(ufunc: np.ufunc, inputs: tuple[Any, ...]) -> None:
    """``ufunc.at(buffer, indices, values)`` for add and subtract, writing both parts."""
    if ufunc not in (np.add, np.subtract) or len(inputs) != 3:
        raise unsupported(f"numpy.{ufunc.__name__}.at")
    buf, index, values = inputs
    if index.__class__ is Dual:
        raise unsupported("indexing with a Dual")
    if buf.__class__ is not Dual:
        raise TypeError(
            f"numpy.{ufunc.__name__}.at into a plain array with a Dual value would drop its "
            "tangent; make the buffer a Dual, e.g. np.zeros_like(g, shape=...)"
        )
    ufunc.at(buf.primal, index, primal_of(values))
    if values.__class__ is Dual:
        ufunc.at(buf.writable_tangent(), index, values.tangent)


def _outer_inputs(inputs: tuple[Any, ...]) -> tuple[Any, ...]:
    a, b = inputs
    extra = (1,) * np.ndim(primal_of(b))
    return (np.reshape(a, (*np.shape(primal_of(a)), *extra)), b)


def _store(out: tuple[Any, ...], result: Any, ufunc: np.ufunc) -> Any:
    if len(out) != 1:
        raise unsupported(f"numpy.{ufunc.__name__} with several outputs")
    target = out[0]
    if target.__class__ is not Dual and result.__class__ is Dual:
        raise TypeError(
            f"numpy.{ufunc.__name__}(..., out=<plain array>) with a Dual result would drop the "
            "tangent; write into a Dual (np.zeros_like(g, shape=...)) or drop out="
        )
    target[...] = result
    return target


def _unary(ufunc: np.ufunc, x: Dual) -> Any:
    """``ufunc(x)`` for one dual and no keywords: the common case, without lists."""
    p = x.primal
    rule = RULES.get(ufunc)
    if rule is None:
        if ufunc in PLAIN or ufunc in ZERO:
            return ufunc(p)
        raise unsupported(f"numpy.{ufunc.__name__}")
    y = ufunc(p)
    if y.dtype.kind not in "fc":
        return y
    tangent = x.tangent
    t = rule((tangent,), y, p)
    return make(y, shared(t, y) if t is tangent else conform(t, y))


def apply(ufunc: np.ufunc, method: str, inputs: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """What ``Dual.__array_ufunc__`` does."""
    if not kwargs and method == "__call__" and len(inputs) == 1 and inputs[0].__class__ is Dual:
        return _unary(ufunc, inputs[0])
    out = kwargs.pop("out", None)
    if method == "__call__":
        result = call(ufunc, inputs, kwargs)
    elif method == "outer":
        result = call(ufunc, _outer_inputs(inputs), kwargs)
    elif method == "reduce":
        result = reduce(ufunc, inputs[0], kwargs)
    elif method == "accumulate" and ufunc is np.add:
        p, t = primal_of(inputs[0]), tangent_of(inputs[0])
        y = np.add.accumulate(p, **kwargs)
        result = y if t is None else make(y, conform(np.add.accumulate(t, **kwargs), y))
    elif method == "at":
        at(ufunc, inputs)
        return None
    else:
        raise unsupported(f"numpy.{ufunc.__name__}.{method}")
    if out is not None:
        return _store(out, result, ufunc)
    return result
