"""Losses: mean squared error and softmax cross-entropy with integer labels.

Both compute in floating point (int and bool inputs give float64) and, as in PyTorch, give nan
for no elements (no samples).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tapem.errors import InvalidArgument, ShapeMismatch
from tapem.ops.dtypes import as_float, float_dtype
from tapem.ops.opdef import OpDef, ShapeDtype, binary_shape
from tapem.ops.reductions import _log_softmax, _softmax

__all__ = ["cross_entropy", "mse_loss"]

_mse_broadcast = binary_shape("mse_loss")


def _mse_shape(yhat: Any, t: Any) -> ShapeDtype:
    if yhat.shape == t.shape and yhat.dtype == t.dtype:
        return ShapeDtype((), float_dtype(yhat.dtype))
    return ShapeDtype((), float_dtype(_mse_broadcast(yhat, t).dtype))


def _difference(yhat: Any, t: Any) -> Any:
    """``yhat - t`` in floating point (of two float arrays: as numpy computes it)."""
    if yhat.dtype.kind == "f" or t.dtype.kind == "f":
        return yhat - t
    return as_float(yhat) - as_float(t)


def _mse(yhat: Any, t: Any) -> Any:
    d = _difference(yhat, t)
    if d.ndim != 1:
        d = d.ravel()
    if d.size == 0:
        return d.dtype.type(np.nan)  # the mean of nothing, as in PyTorch (without a warning)
    # one BLAS call (np.mean costs several times more here), as a method: no function dispatch
    return (d.dot(d) if d.__class__ is np.ndarray else np.dot(d, d)) / d.size


def _mse_dyhat(g: Any, out: Any, yhat: Any, t: Any) -> Any:
    d = yhat - t
    return d * (2 * g / max(d.size, 1))  # (no elements: an empty gradient, without a warning)


def _ce_shape(logits: Any, labels: Any) -> ShapeDtype:
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
    return ShapeDtype((), float_dtype(logits.dtype))


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


def _cross_entropy(logits: Any, labels: Any) -> Any:
    index = _labels(logits, labels)
    picked = np.take_along_axis(_log_softmax(logits), index[..., None], axis=-1)
    if picked.size == 0:
        return picked.dtype.type(np.nan)  # no samples: nan, as in PyTorch (without a warning)
    return -np.mean(picked)


def _ce_dlogits(g: Any, out: Any, logits: Any, labels: Any) -> Any:
    classes = np.shape(logits)[-1]
    onehot = np.asarray(labels)[..., None] == np.arange(classes)
    return (_softmax(logits) - onehot) * (g / max(np.size(labels), 1))


# fmt: off
mse_loss = OpDef("mse_loss", inputs=("yhat", "t"), forward=_mse, shape=_mse_shape,
                 vjp=(_mse_dyhat, lambda g, out, yhat, t: -_mse_dyhat(g, out, yhat, t)),
                 jvp=(lambda t_, out, yhat, t: np.sum(_mse_dyhat(1, out, yhat, t) * t_),
                      lambda t_, out, yhat, t: -np.sum(_mse_dyhat(1, out, yhat, t) * t_)),
                 doc="mean((yhat - t) ** 2) over all elements (yhat and t broadcast): a scalar; "
                     "nan for no elements, as in PyTorch.")
cross_entropy = OpDef("cross_entropy", inputs=("logits", "labels"), forward=_cross_entropy,
                      shape=_ce_shape,
                      vjp=(_ce_dlogits, None),
                      jvp=(lambda t, out, logits, labels:
                           np.sum(_ce_dlogits(1, out, logits, labels) * t),
                           None),
                      doc="mean over samples of -log softmax(logits)[label]: logits [..., C], "
                          "labels an integer const [...] of class indices (a label outside "
                          "[0, C) is an InvalidArgument, from the values: ShapeOnly skips it); "
                          "nan for no samples, as in PyTorch; no gradient to the labels.")
# fmt: on
