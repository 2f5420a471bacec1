"""Losses: mean squared error and softmax cross-entropy with integer labels.

Both compute in floating point (int and bool inputs give float64). As in PyTorch, ``reduction``
says what they return: the mean of their terms (``"mean"``, the default; nan for no terms), the
sum (``"sum"``; 0 for none) or every term (``"none"``: mse's squared differences, shaped like
the broadcast of yhat and t; cross-entropy's per-position losses, shaped like the labels). A
batched per-sample loss uses ``"none"`` and takes each sample's mean.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from tapem.errors import InvalidArgument, ShapeMismatch
from tapem.ops.batch_rules import Emit, aligned
from tapem.ops.dtypes import as_float, float_dtype
from tapem.ops.opdef import OpDef, ShapeDtype, binary_shape
from tapem.ops.params import REDUCTION
from tapem.ops.reductions import _log_softmax, _softmax, mean, sum
from tapem.requests import make_op

__all__ = ["cross_entropy", "mse_loss"]

_mse_broadcast = binary_shape("mse_loss")


def _mse_shape(yhat: Any, t: Any, reduction: str) -> ShapeDtype:
    if yhat.shape == t.shape and yhat.dtype == t.dtype:
        if reduction != "none":
            return ShapeDtype((), float_dtype(yhat.dtype))
        return ShapeDtype(yhat.shape, float_dtype(yhat.dtype))
    both = _mse_broadcast(yhat, t)
    return ShapeDtype(both.shape if reduction == "none" else (), float_dtype(both.dtype))


def _difference(yhat: Any, t: Any) -> Any:
    """``yhat - t`` in floating point (of two float arrays: as numpy computes it)."""
    if yhat.dtype.kind == "f" or t.dtype.kind == "f":
        return yhat - t
    return as_float(yhat) - as_float(t)


def _mse(yhat: Any, t: Any, reduction: str = "mean") -> Any:
    d = _difference(yhat, t)
    if reduction == "none":
        return d * d
    if d.ndim != 1:
        d = d.ravel()
    # one BLAS call (np.mean costs several times more here), as a method: no function dispatch
    total = d.dot(d) if d.__class__ is np.ndarray else np.dot(d, d)
    if reduction == "sum":
        return total
    if d.size == 0:
        return d.dtype.type(np.nan)  # the mean of nothing, as in PyTorch (without a warning)
    return total / d.size


def _mse_dyhat(g: Any, out: Any, yhat: Any, t: Any, reduction: str = "mean") -> Any:
    d = yhat - t
    if reduction == "mean":
        return d * (2 * g / max(d.size, 1))  # (no elements: an empty gradient, no warning)
    return d * (2 * g)


def _mse_jvp(t_: Any, out: Any, yhat: Any, t: Any, reduction: str = "mean") -> Any:
    terms = _mse_dyhat(1, out, yhat, t, reduction) * t_
    return terms if reduction == "none" else np.sum(terms)


def _ce_shape(logits: Any, labels: Any, reduction: str) -> ShapeDtype:
    shapes = [logits.shape, labels.shape]
    if len(logits.shape) == 0 or tuple(labels.shape) != tuple(logits.shape[:-1]):
        raise ShapeMismatch("cross_entropy", shapes, "expected logits [..., C] and labels [...]")
    if logits.shape[-1] == 0:
        raise ShapeMismatch("cross_entropy", shapes, "the logits need at least one class")
    if labels.dtype.kind not in "iuf":
        raise InvalidArgument(
            f"cross_entropy: labels must be integers (class indices), got dtype {labels.dtype}",
            op="cross_entropy",
        )
    return ShapeDtype(labels.shape if reduction == "none" else (), float_dtype(logits.dtype))


def _labels(logits: Any, labels: Any) -> Any:
    classes = np.shape(logits)[-1]
    index = np.asarray(labels).astype(np.int64)
    if np.any(index != labels) or np.any(index < 0) or np.any(index >= classes):
        raise InvalidArgument(
            f"cross_entropy: labels must be integers in [0, {classes}); "
            f"got values from {np.min(labels)!r} to {np.max(labels)!r}",
            op="cross_entropy",
        )
    return index


def _cross_entropy(logits: Any, labels: Any, reduction: str = "mean") -> Any:
    index = _labels(logits, labels)
    picked = np.take_along_axis(_log_softmax(logits), index[..., None], axis=-1)
    if reduction == "none":
        return -picked[..., 0]
    if reduction == "sum":
        return -np.sum(picked)
    if picked.size == 0:
        return picked.dtype.type(np.nan)  # no samples: nan, as in PyTorch (without a warning)
    return -np.mean(picked)


def _ce_dlogits(g: Any, out: Any, logits: Any, labels: Any, reduction: str = "mean") -> Any:
    classes = np.shape(logits)[-1]
    onehot = np.asarray(labels)[..., None] == np.arange(classes)
    if reduction == "mean":
        return (_softmax(logits) - onehot) * (g / max(np.size(labels), 1))
    return (_softmax(logits) - onehot) * (np.expand_dims(g, -1) if reduction == "none" else g)


def _ce_jvp(t: Any, out: Any, logits: Any, labels: Any, reduction: str = "mean") -> Any:
    terms = _ce_dlogits(np.ones(np.shape(labels)), out, logits, labels, "none") * t
    if reduction == "none":
        return np.sum(terms, axis=-1)
    total = np.sum(terms)
    return total / max(np.size(labels), 1) if reduction == "mean" else total


_REDUCTION = {"reduction": REDUCTION}
_MEAN = {"reduction": "mean"}

# fmt: off
mse_loss = OpDef("mse_loss", inputs=("yhat", "t"), params=_REDUCTION, defaults=_MEAN,
                 forward=_mse, shape=_mse_shape,
                 vjp=(_mse_dyhat, lambda g, *rest: -_mse_dyhat(g, *rest)),
                 jvp=(_mse_jvp, lambda t_, *rest: -_mse_jvp(t_, *rest)),
                 doc="mean((yhat - t) ** 2) over all elements (yhat and t broadcast): a scalar; "
                     "nan for no elements, as in PyTorch. ``reduction='sum'`` gives the sum, "
                     "``'none'`` every squared difference.")
cross_entropy = OpDef("cross_entropy", inputs=("logits", "labels"), params=_REDUCTION,
                      defaults=_MEAN, forward=_cross_entropy, shape=_ce_shape,
                      vjp=(_ce_dlogits, None), jvp=(_ce_jvp, None),
                      doc="mean over samples of -log softmax(logits)[label]: logits [..., C], "
                          "labels an integer const [...] of class indices (a label outside "
                          "[0, C) is an InvalidArgument, from the values: ShapeOnly skips it); "
                          "nan for no samples, as in PyTorch; no gradient to the labels. "
                          "``reduction='sum'`` gives the sum, ``'none'`` each sample's term "
                          "(shaped like labels).")
# fmt: on


# --- batching rules (see tapem.ops.batch_rules): each sample's terms, then its own mean --------


def _per_sample(emit: Emit, terms: Any, reduction: str) -> Any:
    """A sample's terms (``terms`` batched) reduced as ``reduction`` says, sample by sample."""
    axes = tuple(range(1, len(terms.shape)))
    if reduction == "none" or not axes:
        return terms
    if math.prod(terms.shape[1:]) == 1:  # a mean or sum of one term is that term
        return emit.reshape(terms, (terms.shape[0],))
    return emit(make_op(mean if reduction == "mean" else sum, (terms,), (axes, False)))


def _mse_batch(emit: Emit, xs: Any, batched: Any, args: Any) -> Any:
    (reduction,) = args
    yhat, t = aligned(emit, xs, batched)
    return _per_sample(emit, emit(make_op(mse_loss, (yhat, t), ("none",))), reduction)


def _ce_batch(emit: Emit, xs: Any, batched: Any, args: Any) -> Any:
    (reduction,) = args
    logits, labels = (emit.expanded(x, b) for x, b in zip(xs, batched, strict=True))
    terms = emit(make_op(cross_entropy, (logits, labels), ("none",)))
    return _per_sample(emit, terms, reduction)


mse_loss.batch = _mse_batch
cross_entropy.batch = _ce_batch
