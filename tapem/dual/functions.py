"""The numpy-function table of :class:`~tapem.dual.Dual` (what ``__array_function__`` serves).

Each row maps a numpy function to its dual implementation. The families:

* **linear** in the first argument (reshape, transpose, sum, take, sliding_window_view, ...):
  the function is applied to the primal and to the tangent with the same static arguments;
* **joins** (concatenate, stack, ...), ``where``, ``pad``, ``diff``, ``broadcast_arrays``:
  linear too, with zero tangents for plain operands (and a zero pad for ``mode="constant"``);
* **multilinear** (dot, tensordot, einsum, outer, ...): the product rule, one tangent at a time;
* **nonlinear** rows written with dual arithmetic (var, std, clip, sort, max/min through the
  argmax), in :mod:`tapem.dual.nonlinear`;
* **buffers**: ``zeros_like``/``ones_like``/``empty_like``/``full_like`` give duals with zero
  tangents (so rules can build cotangent buffers from ``g``), and ``put_along_axis``/``copyto``
  write both parts;
* **plain**: shape queries, ``argmax``, ``any``, ``isclose``, ... run on primals.

Static arguments (axes, shapes, indices) must be plain; a dual there is an error, as is any
function without a row.

>>> import numpy as np
>>> from tapem.dual import Dual
>>> x = Dual(np.arange(6.0).reshape(2, 3), np.ones((2, 3)))
>>> y = np.einsum("ij,ij->i", x, x)
>>> assert np.allclose(y.tangent, 2 * np.sum(x.primal, axis=1))
>>> assert np.allclose(np.max(x, axis=1).tangent, [1.0, 1.0])
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from tapem.dual.core import Dual, conform, make, primal_of, tangent_of, unsupported
from tapem.dual.nonlinear import (
    NO_VALUE,
    average,
    clip,
    given,
    maximum,
    minimum,
    nan_to_num,
    sort,
    std,
    var,
)

__all__ = ["FUNCTIONS", "apply"]

Impl = Callable[..., Any]
_np: Any = np  # numpy's stubs are stricter than numpy about argument types


def _name(func: Any) -> str:
    module = getattr(func, "__module__", None) or "numpy"
    return f"{module}.{getattr(func, '__name__', func)}"


def _static(func: Any, args: Any, kwargs: Mapping[str, Any]) -> None:
    for value in (*args, *kwargs.values()):
        if value.__class__ is Dual or (
            isinstance(value, (list, tuple)) and any(v.__class__ is Dual for v in value)
        ):
            raise unsupported(f"{_name(func)} with a Dual as a static argument")


def _strip(value: Any) -> Any:
    if value.__class__ is Dual:
        return value.primal
    if isinstance(value, (list, tuple)):
        return type(value)(_strip(v) for v in value)
    return value


def _no_out(func: Any, args: Any, kwargs: Mapping[str, Any], position: int | None) -> None:
    out = kwargs.get("out")
    if position is not None and len(args) > position:
        out = args[position]
    if out is not None:
        raise unsupported(f"{_name(func)} with out=")


def linear(func: Any, out_at: int | None = None) -> Impl:
    """A function linear in its first argument: applied to primal and tangent alike.
    ``out_at`` is the position of an ``out`` parameter (out= is refused)."""

    def impl(x: Any, *args: Any, **kwargs: Any) -> Any:
        _static(func, args, kwargs)
        _no_out(func, (x, *args), kwargs, out_at)
        p = func(x.primal, *args, **kwargs)
        return make(p, conform(func(x.tangent, *args, **kwargs), p))

    return impl


def linear_many(func: Any) -> Impl:
    """A linear function of the first argument that returns a sequence of arrays."""

    def impl(x: Any, *args: Any, **kwargs: Any) -> Any:
        _static(func, args, kwargs)
        ps, ts = func(x.primal, *args, **kwargs), func(x.tangent, *args, **kwargs)
        return [make(p, t) for p, t in zip(ps, ts, strict=True)]

    return impl


def plain(func: Any) -> Impl:
    """A function of primals only (shapes, indices, booleans)."""

    def impl(*args: Any, **kwargs: Any) -> Any:
        return func(*_strip(args), **{k: _strip(v) for k, v in kwargs.items()})

    return impl


def _zero_tangent(x: Any, dtype: Any) -> Any:
    t = tangent_of(x)
    return np.zeros(np.shape(x), dtype=dtype) if t is None else t


def joined(func: Any) -> Impl:
    """concatenate/stack and friends: plain operands contribute zero tangents."""

    def impl(arrays: Any, *args: Any, **kwargs: Any) -> Any:
        _static(func, args, kwargs)
        _no_out(func, (), kwargs, None)
        arrays = list(arrays)
        p = func([primal_of(a) for a in arrays], *args, **kwargs)
        ts = [_zero_tangent(a, p.dtype) for a in arrays]
        return make(p, conform(func(ts, *args, **kwargs), p))

    return impl


def multilinear(func: Any, first: int = 0, last: int | None = 2) -> Impl:
    """A function linear in each of ``args[first:last]`` (the product rule)."""

    def impl(*args: Any, **kwargs: Any) -> Any:
        _no_out(func, (), kwargs, None)
        stop = len(args) if last is None else last
        _static(func, (*args[:first], *args[stop:]), kwargs)
        primals = [primal_of(a) for a in args]
        y = func(*primals, **kwargs)
        t = None
        for i in range(first, stop):
            ti = tangent_of(args[i])
            if ti is not None:
                moved = list(primals)
                moved[i] = ti
                c = func(*moved, **kwargs)
                t = c if t is None else t + c
        return y if t is None else make(y, conform(t, y))

    return impl


def _einsum(*args: Any, **kwargs: Any) -> Any:
    if not isinstance(args[0], str):
        raise unsupported("numpy.einsum in the interleaved (operand, sublist) form")
    return multilinear(np.einsum, 1, None)(*args, **kwargs)


def fresh(func: Any) -> Impl:
    """zeros_like/ones_like/empty_like: a dual with a zero tangent (a plain non-float array)."""

    def impl(a: Any, *args: Any, **kwargs: Any) -> Any:
        _static(func, args, kwargs)
        p = func(primal_of(a), *args, **kwargs)
        return make(p, np.zeros_like(p)) if p.dtype.kind in "fc" else p

    return impl


def _full_like(a: Any, fill_value: Any, *args: Any, **kwargs: Any) -> Any:
    _static(np.full_like, args, kwargs)
    p = np.full_like(primal_of(a), primal_of(fill_value), *args, **kwargs)
    if p.dtype.kind not in "fc":
        return p
    t = tangent_of(fill_value)
    return make(p, np.zeros_like(p) if t is None else np.full_like(p, t))


def _where(condition: Any, *xy: Any) -> Any:
    if condition.__class__ is Dual:
        raise unsupported(
            "numpy.where with a Dual condition", "compare primals: np.where(x > 0, ...)"
        )
    if len(xy) != 2:
        return np.where(condition, *_strip(xy))
    x, y = xy
    p = np.where(condition, primal_of(x), primal_of(y))
    tx, ty = tangent_of(x), tangent_of(y)
    if tx is None and ty is None:
        return p
    t = np.where(condition, 0.0 if tx is None else tx, 0.0 if ty is None else ty)
    return make(p, conform(t, p))


_PAD_LINEAR = frozenset({"edge", "reflect", "symmetric", "wrap"})


def _pad(array: Any, pad_width: Any, mode: Any = "constant", **kwargs: Any) -> Any:
    _static(np.pad, (pad_width,), kwargs)
    p = _np.pad(array.primal, pad_width, mode, **kwargs)
    if isinstance(mode, str) and mode in ("constant", "empty"):
        t = np.pad(array.tangent, pad_width, "constant")
    elif isinstance(mode, str) and mode in _PAD_LINEAR:
        t = _np.pad(array.tangent, pad_width, mode, **kwargs)
    else:
        raise unsupported(f"numpy.pad with mode={mode!r}")
    return make(p, conform(t, p))


def _diff(a: Any, n: int = 1, axis: int = -1, **ends: Any) -> Any:
    ends = given(ends)
    p = np.diff(primal_of(a), n, axis, **{k: primal_of(v) for k, v in ends.items()})
    dtype = p.dtype
    t_ends = {k: _zero_tangent(v, dtype) for k, v in ends.items()}
    return make(p, conform(np.diff(_zero_tangent(a, dtype), n, axis, **t_ends), p))


def _append(arr: Any, values: Any, axis: Any = None) -> Any:
    p = np.append(primal_of(arr), primal_of(values), axis)
    ta, tv = _zero_tangent(arr, p.dtype), _zero_tangent(values, p.dtype)
    return make(p, conform(np.append(ta, tv, axis), p))


def _insert(arr: Any, obj: Any, values: Any, axis: Any = None) -> Any:
    _static(np.insert, (obj,), {})
    p = np.insert(primal_of(arr), obj, primal_of(values), axis)
    tv = tangent_of(values)
    t = np.insert(_zero_tangent(arr, p.dtype), obj, 0.0 if tv is None else tv, axis)
    return make(p, conform(t, p))


def _broadcast_arrays(*args: Any, **kwargs: Any) -> Any:
    shape = np.broadcast_shapes(*(np.shape(primal_of(a)) for a in args))
    return tuple(np.broadcast_to(a, shape) for a in args)


def _bincount(x: Any, weights: Any = None, minlength: int = 0) -> Any:
    index = primal_of(x)
    p = np.bincount(index, primal_of(weights), minlength)
    t = tangent_of(weights)
    return p if t is None else make(p, conform(np.bincount(index, t, minlength), p))


def _writes(func: Any, target: Any, value: Any) -> None:
    if target.__class__ is not Dual and value.__class__ is Dual:
        raise TypeError(
            f"{_name(func)} of a Dual into a plain array would drop its tangent; make the "
            "buffer a Dual, e.g. np.zeros_like(g, shape=...)"
        )


def _put_along_axis(arr: Any, indices: Any, values: Any, axis: Any) -> None:
    _writes(np.put_along_axis, arr, values)
    _static(np.put_along_axis, (indices, axis), {})
    np.put_along_axis(primal_of(arr), indices, primal_of(values), axis)
    if arr.__class__ is Dual:
        tv = tangent_of(values)
        np.put_along_axis(arr.writable_tangent(), indices, 0.0 if tv is None else tv, axis)


def _copyto(dst: Any, src: Any, casting: str = "same_kind", where: Any = True) -> None:
    _writes(np.copyto, dst, src)
    _static(np.copyto, (where,), {})
    _np.copyto(primal_of(dst), primal_of(src), casting, where)
    if dst.__class__ is Dual:
        ts = tangent_of(src)
        _np.copyto(dst.writable_tangent(), 0.0 if ts is None else ts, casting, where)


def _sum(x: Any, axis: Any = None, dtype: Any = None, out: Any = None, **kwargs: Any) -> Any:
    if out is not None:
        raise unsupported("numpy.sum with out=")
    initial = kwargs.pop("initial", NO_VALUE)  # shifts the primal only
    _static(np.sum, (axis,), kwargs)
    extra = {} if initial is NO_VALUE else {"initial": initial}
    p = np.sum(x.primal, axis=axis, dtype=dtype, **kwargs, **extra)
    return make(p, conform(np.sum(x.tangent, axis=axis, dtype=dtype, **kwargs), p))


def _atleast(func: Any) -> Impl:
    def impl(*arys: Any) -> Any:
        results = [linear(func)(a) if a.__class__ is Dual else func(a) for a in arys]
        return results[0] if len(results) == 1 else tuple(results)

    return impl


def _rows() -> dict[Any, Impl]:
    rows: dict[Any, Impl] = {}
    f: Any
    for f in (np.reshape, np.ravel, np.transpose, np.swapaxes, np.moveaxis, np.rollaxis,
              np.expand_dims, np.squeeze, np.broadcast_to, np.flip, np.fliplr, np.flipud,
              np.rot90, np.roll, np.repeat, np.tile, np.resize, np.diagonal, np.tril, np.triu,
              np.take_along_axis, np.delete, np.real, np.copy, sliding_window_view,
              np.matrix_transpose, np.permute_dims):  # fmt: skip
        rows[f] = linear(f)
    for f, out_at in ((np.mean, 3), (np.cumsum, 3), (np.take, 3), (np.trace, 5)):
        rows[f] = linear(f, out_at)
    for f in (np.split, np.array_split, np.hsplit, np.vsplit, np.dsplit):
        rows[f] = linear_many(f)
    for f in (np.concatenate, np.concat, np.stack, np.hstack, np.vstack, np.dstack,
              np.column_stack):  # fmt: skip
        rows[f] = joined(f)
    for f in (np.dot, np.vdot, np.inner, np.outer, np.tensordot, np.kron, np.cross):
        rows[f] = multilinear(f)
    for f in (np.zeros_like, np.ones_like, np.empty_like):
        rows[f] = fresh(f)
    for f in (np.shape, np.ndim, np.size, np.argmax, np.argmin, np.argsort, np.argpartition,
              np.nonzero, np.argwhere, np.flatnonzero, np.count_nonzero, np.any, np.all,
              np.isclose, np.allclose, np.array_equal, np.array_equiv, np.searchsorted, np.isin,
              np.iscomplexobj, np.isrealobj, np.iscomplex, np.isreal, np.isneginf, np.isposinf,
              np.result_type, np.can_cast, np.may_share_memory, np.shares_memory,
              np.unravel_index, np.ravel_multi_index, np.digitize, np.round, np.around,
              np.fix):  # fmt: skip
        rows[f] = plain(f)
    rows.update({
        np.einsum: _einsum, np.full_like: _full_like, np.where: _where, np.pad: _pad,
        np.diff: _diff, np.append: _append, np.insert: _insert,
        np.broadcast_arrays: _broadcast_arrays, np.bincount: _bincount,
        np.put_along_axis: _put_along_axis, np.copyto: _copyto, np.sum: _sum,
        np.max: maximum, np.amax: maximum, np.min: minimum, np.amin: minimum, np.var: var,
        np.std: std, np.clip: clip, np.sort: sort, np.nan_to_num: nan_to_num, np.average: average,
        np.atleast_1d: _atleast(np.atleast_1d), np.atleast_2d: _atleast(np.atleast_2d),
        np.atleast_3d: _atleast(np.atleast_3d),
    })  # fmt: skip
    return rows


FUNCTIONS: Mapping[Any, Impl] = MappingProxyType(_rows())
"""Every numpy function a :class:`~tapem.dual.Dual` supports, with its implementation."""


def apply(func: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """What ``Dual.__array_function__`` does: the row for ``func``, or a ``TypeError``."""
    impl = FUNCTIONS.get(func)
    if impl is None:
        raise unsupported(_name(func))
    return impl(*args, **kwargs)
