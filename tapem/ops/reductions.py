"""Reductions: sums and means (over everything or some axes) and last-axis softmax.

``sum`` keeps numpy's dtypes (bools and narrow ints sum to int64); ``mean`` and the softmaxes
compute in floating point (ints and bools give float64). Empty inputs behave as in PyTorch: a
sum over nothing is 0, a mean over nothing nan (without numpy's warning), and a softmax over an
empty last axis empty.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from tapem.errors import ShapeMismatch
from tapem.ops.batch_rules import BatchRule, Emit
from tapem.ops.dtypes import as_float, float_dtype, sum_dtype
from tapem.ops.opdef import OpDef, ShapeDtype, float_shape
from tapem.ops.params import AXES, BOOL
from tapem.requests import make_op

__all__ = ["log_softmax_last", "mean", "softmax_last", "sum"]

Axis = int | tuple[int, ...] | None


def normalize_axes(op: str, axis: Axis, ndim: int) -> tuple[int, ...]:
    """``axis`` as a sorted tuple of non-negative axes (all axes for ``None``)."""
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    out = []
    for a in axes:
        if not -ndim <= a < ndim:
            raise ShapeMismatch(op, [], f"axis {a} is out of range for an input of rank {ndim}")
        out.append(a % ndim)
    if len(set(out)) != len(out):
        raise ShapeMismatch(op, [], f"axis {axis} repeats an axis")
    return tuple(sorted(out))


def _reduce_shape(op: str) -> Any:
    def rule(x: Any, axis: Axis, keepdims: bool) -> ShapeDtype:
        axes = normalize_axes(op, axis, len(x.shape))
        if keepdims:
            shape = tuple(1 if i in axes else d for i, d in enumerate(x.shape))
        else:
            shape = tuple(d for i, d in enumerate(x.shape) if i not in axes)
        return ShapeDtype(shape, sum_dtype(x.dtype) if op == "sum" else float_dtype(x.dtype))

    return rule


def _count(x: Any, axis: Axis) -> int:
    axes = normalize_axes("mean", axis, np.ndim(x))
    return math.prod(np.shape(x)[a] for a in axes)


def _mean(x: Any, axis: Axis, keepdims: bool) -> Any:
    count = _count(x, axis)
    if count:
        return np.mean(x, axis=axis, keepdims=keepdims)
    with np.errstate(invalid="ignore"):  # 0 / 0: the mean of nothing is nan, without a warning
        return np.sum(x, axis=axis, keepdims=keepdims) / count


def _expand(g: Any, x: Any, axis: Axis, keepdims: bool) -> Any:
    """``g`` (a reduction's cotangent) broadcast back to ``x``'s shape."""
    if not keepdims and axis is not None:
        g = np.expand_dims(g, normalize_axes("sum", axis, np.ndim(x)))
    return np.broadcast_to(g, np.shape(x))


def _softmax(x: Any) -> Any:
    x = as_float(x)
    if np.ndim(x) == 0:
        return np.ones_like(x)
    if np.size(x) == 0:  # an empty axis has no maximum to subtract: the result is empty too
        return x * 0
    e = np.exp(x - np.max(x, axis=-1, keepdims=True))
    return e / np.sum(e, axis=-1, keepdims=True)


def _log_softmax(x: Any) -> Any:
    x = as_float(x)
    if np.ndim(x) == 0:
        return np.zeros_like(x)
    if np.size(x) == 0:
        return x * 0
    z = x - np.max(x, axis=-1, keepdims=True)
    return z - np.log(np.sum(np.exp(z), axis=-1, keepdims=True))


def _softmax_vjp(g: Any, y: Any) -> Any:
    return y * (g - np.sum(g * y, axis=-1, keepdims=True)) if np.ndim(y) else g * 0


def _log_softmax_vjp(g: Any, out: Any) -> Any:
    if np.ndim(out) == 0:
        return g * 0
    return g - np.exp(out) * np.sum(g, axis=-1, keepdims=True)


_AXES = {"axis": AXES, "keepdims": BOOL}
_SUM_DEFAULTS = {"axis": None, "keepdims": False}

# fmt: off
sum = OpDef("sum", params=_AXES, defaults=_SUM_DEFAULTS,
            forward=lambda x, axis, keepdims: np.sum(x, axis=axis, keepdims=keepdims),
            shape=_reduce_shape("sum"),
            vjp=(lambda g, out, x, axis, keepdims: _expand(g, x, axis, keepdims),),
            jvp=(lambda t, out, x, axis, keepdims: np.sum(t, axis=axis, keepdims=keepdims),),
            doc="sum(x) over ``axis``: all axes by default (a scalar), an int or a tuple of "
                "distinct axes, negative ones counted from the end; ``keepdims`` keeps them as "
                "size 1. Over nothing it is 0. Bools and narrow ints sum to int64, as in numpy.")
mean = OpDef("mean", params=_AXES, defaults=_SUM_DEFAULTS, forward=_mean,
             shape=_reduce_shape("mean"),
             vjp=(lambda g, out, x, axis, keepdims: _expand(g, x, axis, keepdims)
                  / _count(x, axis),),
             jvp=(lambda t, out, x, axis, keepdims: _mean(t, axis, keepdims),),
             doc="sum(x) / n over ``axis`` (n elements; axes as in sum). Over nothing it is nan "
                 "(as in PyTorch); ints and bools give float64.")
softmax_last = OpDef("softmax_last", forward=_softmax, shape=float_shape,
                     derivative=(lambda v, out, x: _softmax_vjp(v, out),),  # symmetric Jacobian
                     doc="exp(x) / sum(exp(x)) over the last axis, computed stably (x - max); "
                         "a scalar gives 1, an empty last axis an empty result (as "
                         "in PyTorch); ints and bools give float64.")
log_softmax_last = OpDef("log_softmax_last", forward=_log_softmax, shape=float_shape,
                         vjp=(lambda g, out, x: _log_softmax_vjp(g, out),),
                         jvp=(lambda t, out, x: t - np.sum(np.exp(out) * t, axis=-1, keepdims=True)
                              if np.ndim(out) else t * 0,),
                         doc="x - log(sum(exp(x))) over the last axis, computed stably (x - max); "
                             "a scalar gives 0, an empty last axis an empty result.")
# fmt: on


# --- batching rules (see tapem.ops.batch_rules): the axes shift past the batch axis ------------


def _reduce_batch(op: OpDef) -> BatchRule:
    def batch(emit: Emit, xs: Any, batched: Any, args: Any) -> Any:
        (x,), (axis, keepdims) = xs, args
        axes = normalize_axes(op.name, axis, len(x.shape) - 1)
        return emit(make_op(op, (x,), (tuple(a + 1 for a in axes), keepdims)))

    return batch


def _last_axis_batch(op: OpDef) -> BatchRule:
    """Over one sample's last axis: the batched input's, unless a sample is a scalar (then
    each sample is its own last axis, of size 1)."""

    def batch(emit: Emit, xs: Any, batched: Any, args: Any) -> Any:
        (x,) = xs
        if len(x.shape) > 1:
            return emit(op(x))
        column = emit.reshape(x, (x.shape[0], 1))
        return emit.reshape(emit(op(column)), x.shape)

    return batch


sum.batch = _reduce_batch(sum)
mean.batch = _reduce_batch(mean)
softmax_last.batch = _last_axis_batch(softmax_last)
log_softmax_last.batch = _last_axis_batch(log_softmax_last)
