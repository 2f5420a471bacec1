"""Rows of the dual function table that are not linear, written with dual arithmetic.

``var``/``std`` from means of squared deviations, ``clip`` from ``maximum``/``minimum``
(a bound that is hit splits the tangent, as ``maximum`` does on a tie), ``sort`` by the
permutation of the primal, ``max``/``min`` through the winning element, ``average`` with
weights of the data's shape, ``nan_to_num`` with a zero tangent where it replaced a value.

>>> import numpy as np
>>> from tapem.dual import Dual
>>> x = Dual(np.array([3.0, 1.0, 2.0]), np.array([1.0, 2.0, 3.0]))
>>> assert np.allclose(np.sort(x).tangent, [2.0, 3.0, 1.0])
>>> assert np.isclose(np.var(x).tangent, 2 * np.mean((x.primal - 2.0) * (x.tangent - 2.0)))
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tapem.dual.core import conform, make, unsupported
from tapem.dual.ufuncs import extreme, reduced_axes

__all__ = [
    "NO_VALUE",
    "average",
    "clip",
    "given",
    "maximum",
    "minimum",
    "nan_to_num",
    "sort",
    "std",
    "var",
]

NO_VALUE = getattr(np, "_NoValue", object())
"""numpy's marker for an argument that was not given."""


def _count(x: Any, axis: Any) -> int:
    shape = np.shape(x)
    return int(np.prod([shape[a] for a in reduced_axes(axis, len(shape))], dtype=np.int64))


def var(
    a: Any,
    axis: Any = None,
    dtype: Any = None,
    out: Any = None,
    ddof: float = 0,
    keepdims: bool = False,
) -> Any:
    if out is not None:
        raise unsupported("numpy.var with out=")
    d = a - np.mean(a, axis=axis, dtype=dtype, keepdims=True)
    return np.sum(d * d, axis=axis, keepdims=keepdims) / max(_count(a, axis) - ddof, 0)


def std(*args: Any, **kwargs: Any) -> Any:
    return np.sqrt(var(*args, **kwargs))


def maximum(a: Any, axis: Any = None, out: Any = None, keepdims: Any = False, **kw: Any) -> Any:
    keep = False if keepdims is NO_VALUE else keepdims
    return extreme(np.argmax, a, axis, keep, out=out, **given(kw))


def minimum(a: Any, axis: Any = None, out: Any = None, keepdims: Any = False, **kw: Any) -> Any:
    keep = False if keepdims is NO_VALUE else keepdims
    return extreme(np.argmin, a, axis, keep, out=out, **given(kw))


def given(kw: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in kw.items() if v is not NO_VALUE}


def clip(a: Any, a_min: Any = None, a_max: Any = None, out: Any = None, **kw: Any) -> Any:
    if out is not None:
        raise unsupported("numpy.clip with out=")
    lo = kw.pop("min", NO_VALUE)
    hi = kw.pop("max", NO_VALUE)
    lo = a_min if lo is NO_VALUE else lo
    hi = a_max if hi is NO_VALUE else hi
    result = a
    if lo is not None and lo is not NO_VALUE:
        result = np.maximum(result, lo)
    if hi is not None and hi is not NO_VALUE:
        result = np.minimum(result, hi)
    return result


def sort(a: Any, axis: Any = -1, **kwargs: Any) -> Any:
    if axis is None:
        a, axis = np.ravel(a), -1
    index = np.argsort(a.primal, axis=axis, **kwargs)
    return make(
        np.take_along_axis(a.primal, index, axis), np.take_along_axis(a.tangent, index, axis)
    )


def nan_to_num(x: Any, copy: bool = True, **kwargs: Any) -> Any:
    p = np.nan_to_num(x.primal, copy=True, **kwargs)
    return make(p, conform(np.where(np.isfinite(x.primal), x.tangent, 0.0), p))


def average(
    a: Any, axis: Any = None, weights: Any = None, returned: bool = False, **kw: Any
) -> Any:
    if returned:
        raise unsupported("numpy.average with returned=True")
    if weights is None:
        return np.mean(a, axis=axis, **kw)
    if np.shape(weights) != np.shape(a):
        raise unsupported("numpy.average with weights of another shape than the data")
    return np.sum(a * weights, axis=axis, **kw) / np.sum(weights, axis=axis, **kw)
