"""Normalization layers: ``layer_norm`` and (stateless) ``batch_norm``.

Both standardize ``x`` over some axes with the population variance,
``xhat = (x - mean) / sqrt(var + eps)``, then scale and shift per feature:
``xhat * gamma + beta``. Their VJPs are the closed form

    dx = (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat)) / sqrt(var + eps)

with ``dxhat = g * gamma`` and the means over the standardized axes. That linear map is
symmetric, so the JVP applies the same formula to the tangent. The statistics are those of
``x`` minus its first element over the standardized axes (the same mean and variance, exact for
a constant slice: its ``xhat`` is exactly 0 and its result exactly ``beta``, in float32 too).
Int and bool inputs compute in floating point (float64 unless gamma or beta is a float dtype).

* ``layer_norm(x, gamma, beta, eps=1e-5)``: over the last axis; ``gamma``, ``beta`` ``[D]``;
  any leading axes.
* ``batch_norm(x, gamma, beta, eps=1e-5, batched=None)``: channels-first, ``gamma``, ``beta``
  ``[C]``. One sample ``[C, *spatial]`` is standardized per channel over its spatial positions;
  a batch ``[N, C, *spatial]`` per channel over ``N`` and the spatial positions. There are no
  running statistics. ``batched=None`` reads the layout from the shapes: ``x.shape[0] == C``
  means one sample (TorchLean's form), otherwise ``x.shape[1] == C`` means a batch. A batch
  whose size equals the channel count therefore needs ``batched=True``.

>>> import numpy as np
>>> from tapem import ops
>>> x = np.array([[1.0, 2.0, 3.0], [2.0, 2.0, 2.0]])
>>> y = ops.layer_norm.forward(x, np.ones(3), np.zeros(3), 1e-5)
>>> assert np.allclose(y, [[-np.sqrt(1.5), 0.0, np.sqrt(1.5)], [0.0, 0.0, 0.0]], atol=1e-4)
>>> images = np.random.default_rng(0).normal(size=(8, 3, 4, 4))
>>> z = ops.batch_norm.forward(images, np.ones(3), np.zeros(3), 1e-5, None)
>>> assert np.allclose(z.mean(axis=(0, 2, 3)), 0)
>>> assert np.allclose(z.var(axis=(0, 2, 3)), 1, atol=1e-4)
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from tapem.errors import ShapeMismatch
from tapem.ops.batch_rules import Emit, with_axes
from tapem.ops.dtypes import float_dtype, result_dtype
from tapem.ops.elementwise import add, mul
from tapem.ops.opdef import OpDef, ShapeDtype, pass_through
from tapem.ops.params import NONNEGATIVE_REAL, OPTIONAL_BOOL
from tapem.ops.structural import transpose

__all__ = ["batch_norm", "layer_norm"]

Axes = tuple[int, ...]


def _dtype(x: Any, gamma: Any, beta: Any) -> Any:
    return float_dtype(result_dtype(x, gamma, beta))


def _as_float(x: Any, gamma: Any, beta: Any) -> Any:
    """``x``, converted to the dtype the op computes in if it is not a float array."""
    return x if x.dtype.kind == "f" else x.astype(_dtype(x, gamma, beta))


def _standardize(x: Any, axes: Axes, eps: float) -> tuple[Any, Any]:
    """``(xhat, 1 / sqrt(var + eps))`` with statistics over ``axes`` (kept as size-1 axes)."""
    rank = np.ndim(x)
    kept = {a % rank for a in axes}
    first = tuple(slice(0, 1) if i in kept else slice(None) for i in range(rank))
    shifted = x - x[first]  # exactly 0 for a constant slice, where x - mean(x) need not be
    centered = shifted - np.mean(shifted, axis=axes, keepdims=True)
    var = np.mean(centered * centered, axis=axes, keepdims=True)
    inv_std = 1 / np.sqrt(var + eps)
    return centered * inv_std, inv_std


def _standardize_back(v: Any, xhat: Any, inv_std: Any, axes: Axes) -> Any:
    """The (symmetric) Jacobian of ``xhat`` with respect to ``x``, applied to ``v``."""
    v_mean = np.mean(v, axis=axes, keepdims=True)
    v_proj = np.mean(v * xhat, axis=axes, keepdims=True)
    return inv_std * (v - v_mean - xhat * v_proj)


# Both ops standardize over ``axes`` and scale by ``gamma`` reshaped to ``line_up``, the shape
# that lines it up with its axis of ``x`` (``None``: it already does, as in layer norm).


def _lined_up(v: Any, line_up: Axes | None) -> Any:
    return v if line_up is None else np.reshape(v, line_up)


def _affine(x: Any, gamma: Any, beta: Any, eps: float, axes: Axes, line_up: Axes | None) -> Any:
    xhat = _standardize(x, axes, eps)[0]
    return xhat * _lined_up(gamma, line_up) + _lined_up(beta, line_up)


def _affine_dx(g: Any, x: Any, gamma: Any, eps: float, axes: Axes, line_up: Axes | None) -> Any:
    xhat, inv_std = _standardize(x, axes, eps)
    return _standardize_back(g * _lined_up(gamma, line_up), xhat, inv_std, axes)


def _affine_jvp_x(t: Any, x: Any, gamma: Any, eps: float, axes: Axes, line_up: Axes | None) -> Any:
    xhat, inv_std = _standardize(x, axes, eps)
    return _standardize_back(t, xhat, inv_std, axes) * _lined_up(gamma, line_up)


# --- layer norm: the last axis -----------------------------------------------------------------

_LAST = (-1,)


def _layer_norm_shape(x: Any, gamma: Any, beta: Any, eps: Any) -> ShapeDtype:
    shapes = [tuple(x.shape), tuple(gamma.shape), tuple(beta.shape)]
    if len(x.shape) == 0 or x.shape[-1] == 0:
        raise ShapeMismatch("layer_norm", shapes, "x needs a non-empty last axis [..., D]")
    if tuple(gamma.shape) != (x.shape[-1],) or tuple(beta.shape) != (x.shape[-1],):
        raise ShapeMismatch("layer_norm", shapes, "expected x [..., D], gamma [D], beta [D]")
    return ShapeDtype(x.shape, _dtype(x, gamma, beta))


def _layer_norm(x: Any, gamma: Any, beta: Any, eps: float) -> Any:
    return _affine(_as_float(x, gamma, beta), gamma, beta, eps, _LAST, None)


def _layer_norm_dx(g: Any, out: Any, x: Any, gamma: Any, beta: Any, eps: float) -> Any:
    return _affine_dx(g, x, gamma, eps, _LAST, None)


def _layer_norm_jvp_x(t: Any, out: Any, x: Any, gamma: Any, beta: Any, eps: float) -> Any:
    return _affine_jvp_x(t, x, gamma, eps, _LAST, None)


# --- batch norm: per channel, over batch and spatial axes -------------------------------------


def _channel_axis(shape: Any, channels: int, batched: Any) -> int | None:
    """Where ``x``'s channel axis is (``None``: nowhere). One sample wins a tie, unless
    ``batched`` says otherwise."""
    batch_fits = len(shape) >= 2 and shape[1] == channels
    if batched is not False and batch_fits and (batched is True or shape[0] != channels):
        return 1
    if batched is not True and len(shape) >= 1 and shape[0] == channels:
        return 0
    return None


def _layout(x_shape: Any, channels: int, batched: Any) -> tuple[Axes, Axes]:
    """``(statistics axes, shape that lines [C] up with x's channel axis)``."""
    axis = _channel_axis(x_shape, channels, batched)
    assert axis is not None  # the shape rule ran first
    rank = len(x_shape)
    return tuple(i for i in range(rank) if i != axis), (channels, *(1,) * (rank - axis - 1))


def _batch_norm_shape(x: Any, gamma: Any, beta: Any, eps: Any, batched: Any) -> ShapeDtype:
    shapes = [tuple(x.shape), tuple(gamma.shape), tuple(beta.shape)]
    layout = "expected gamma [C], beta [C] and x [C, *spatial] or [N, C, *spatial]"
    if len(gamma.shape) != 1 or tuple(beta.shape) != tuple(gamma.shape):
        raise ShapeMismatch("batch_norm", shapes, layout)
    axis = _channel_axis(x.shape, gamma.shape[0], batched)
    if axis is None:
        want = {None: "", True: " (batched=True)", False: " (batched=False)"}[batched]
        raise ShapeMismatch("batch_norm", shapes, f"{layout}{want}")
    if math.prod(d for i, d in enumerate(x.shape) if i != axis) == 0:
        raise ShapeMismatch("batch_norm", shapes, "there are no values to take statistics over")
    return ShapeDtype(x.shape, _dtype(x, gamma, beta))


def _batch_norm(x: Any, gamma: Any, beta: Any, eps: float, batched: Any) -> Any:
    layout = _layout(np.shape(x), np.shape(gamma)[0], batched)
    return _affine(_as_float(x, gamma, beta), gamma, beta, eps, *layout)


def _bn_dx(g: Any, out: Any, x: Any, gamma: Any, beta: Any, eps: float, batched: Any) -> Any:
    return _affine_dx(g, x, gamma, eps, *_layout(np.shape(x), np.shape(gamma)[0], batched))


def _bn_dgamma(g: Any, out: Any, x: Any, gamma: Any, beta: Any, eps: float, batched: Any) -> Any:
    axes, _ = _layout(np.shape(x), np.shape(gamma)[0], batched)
    return np.sum(g * _standardize(x, axes, eps)[0], axis=axes)


def _bn_dbeta(g: Any, out: Any, x: Any, gamma: Any, beta: Any, eps: float, batched: Any) -> Any:
    axes, _ = _layout(np.shape(x), np.shape(gamma)[0], batched)
    return np.sum(g, axis=axes)


def _bn_jvp_x(t: Any, out: Any, x: Any, gamma: Any, beta: Any, eps: float, batched: Any) -> Any:
    return _affine_jvp_x(t, x, gamma, eps, *_layout(np.shape(x), np.shape(gamma)[0], batched))


def _bn_jvp_gamma(t: Any, out: Any, x: Any, gamma: Any, beta: Any, eps: float, batched: Any) -> Any:
    axes, line_up = _layout(np.shape(x), np.shape(gamma)[0], batched)
    return _standardize(x, axes, eps)[0] * np.reshape(t, line_up)


def _bn_jvp_beta(t: Any, out: Any, x: Any, gamma: Any, beta: Any, eps: float, batched: Any) -> Any:
    return np.reshape(t, _layout(np.shape(x), np.shape(gamma)[0], batched)[1])


# fmt: off
# --- neural layers: normalization --------------------------------------------------------------

layer_norm = OpDef("layer_norm", inputs=("x", "gamma", "beta"), params={"eps": NONNEGATIVE_REAL},
                   defaults={"eps": 1e-5}, forward=_layer_norm, shape=_layer_norm_shape,
                   vjp=(_layer_norm_dx,
                        lambda g, out, x, gamma, beta, eps: g * _standardize(x, _LAST, eps)[0],
                        pass_through),
                   jvp=(_layer_norm_jvp_x,
                        lambda t, out, x, gamma, beta, eps: t * _standardize(x, _LAST, eps)[0],
                        lambda t, out, x, gamma, beta, eps: t),
                   doc="(x - mean) / sqrt(var + eps) * gamma + beta over the last axis of x "
                       "[..., D] (D >= 1; population variance; gamma, beta [D]); a constant "
                       "row gives exactly beta.")
batch_norm = OpDef("batch_norm", inputs=("x", "gamma", "beta"),
                   params={"eps": NONNEGATIVE_REAL, "batched": OPTIONAL_BOOL},
                   defaults={"eps": 1e-5, "batched": None}, forward=_batch_norm,
                   shape=_batch_norm_shape,
                   vjp=(_bn_dx, _bn_dgamma, _bn_dbeta),
                   jvp=(_bn_jvp_x, _bn_jvp_gamma, _bn_jvp_beta),
                   doc="(x - mean) / sqrt(var + eps) * gamma + beta per channel, stateless (no "
                       "running statistics): x [C, *spatial] over its spatial positions, or "
                       "[N, C, *spatial] over N and them (batched=None reads the layout from "
                       "the shapes, one sample winning a tie; say batched=True for a batch of "
                       "C samples); gamma, beta [C].")
# fmt: on


# --- batching rules (see tapem.ops.batch_rules) ------------------------------------------------


def _unit_affine(emit: Emit, gamma: Any, beta: Any) -> tuple[Any, Any]:
    """Constants ``1`` and ``0`` shaped like one sample's ``gamma`` and ``beta``, of their
    dtypes (the op then computes in the dtype it would, and gives ``xhat``)."""
    channels = gamma.shape[-1]
    ones = emit.const(np.ones((channels,), dtype=gamma.dtype))
    return ones, emit.const(np.zeros((channels,), dtype=beta.dtype))


def _scaled(emit: Emit, xhat: Any, xs: Any, batched: Any, lined_up: Any) -> Any:
    """``xhat * gamma + beta`` (``xs[1:]``), each lined up with ``xhat`` by
    ``lined_up(v, batched)``."""
    scaled = emit(mul(xhat, lined_up(xs[1], batched[1])))
    return emit(add(scaled, lined_up(xs[2], batched[2])))


def _layer_norm_batch(emit: Emit, xs: Any, batched: Any, args: Any) -> Any:
    """The last axis of the samples is the batch's; per-sample ``gamma`` or ``beta`` scale and
    shift the standardized ``x`` afterwards, lined up with their samples."""
    (x, gamma, beta), (x_batched, gamma_batched, beta_batched), (eps,) = xs, batched, args
    if not (gamma_batched or beta_batched):
        return emit(layer_norm(x, gamma, beta, eps))
    xhat = emit(layer_norm(x, *_unit_affine(emit, gamma, beta), eps))
    rank = len(x.shape) - x_batched

    def lined_up(v: Any, per_sample: bool) -> Any:
        return with_axes(emit, v, rank) if per_sample else v

    return _scaled(emit, xhat, xs, batched, lined_up)


def _batch_norm_batch(emit: Emit, xs: Any, batched: Any, args: Any) -> Any:
    """Per-sample statistics: sample ``n``'s channel ``c`` becomes channel ``n * C + c`` of one
    sample ``[B * C, *spatial]`` (samples ``[C, *spatial]``), or ``[B * C, N, *spatial]`` after a
    transpose (samples ``[N, C, *spatial]``), standardized per channel over the rest; ``gamma``
    and ``beta`` are repeated per sample. Shared ``x`` is standardized once, and per-sample
    ``gamma`` and ``beta`` scale and shift it afterwards."""
    (x, gamma, beta), (eps, layout) = xs, args
    size, channels = emit.size, gamma.shape[-1]
    sample = x.shape[1:] if batched[0] else x.shape
    axis = _channel_axis(sample, channels, layout)
    assert axis is not None  # one sample's shape rule ran first
    if not batched[0]:
        xhat = emit(batch_norm(x, *_unit_affine(emit, gamma, beta), eps, layout))
        line_up = (channels, *(1,) * (len(sample) - axis - 1))

        def lined_up(v: Any, per_sample: bool) -> Any:
            return emit.reshape(v, (size, *(1,) * axis, *line_up) if per_sample else line_up)

        return _scaled(emit, xhat, xs, batched, lined_up)
    flat = [
        emit.reshape(emit.expanded(v, b), (size * channels,))
        for v, b in zip((gamma, beta), batched[1:], strict=True)
    ]
    if axis == 0:
        y = emit(batch_norm(emit.reshape(x, (size * channels, *sample[1:])), *flat, eps, False))
        return emit.reshape(y, x.shape)
    swap = (0, 2, 1, *range(3, len(x.shape)))  # [B, N, C, ...] <-> [B, C, N, ...]
    moved = emit(transpose(x, swap))
    grouped = emit.reshape(moved, (size * channels, *moved.shape[2:]))
    y = emit(batch_norm(grouped, *flat, eps, False))
    return emit(transpose(emit.reshape(y, moved.shape), swap))


layer_norm.batch = _layer_norm_batch
batch_norm.batch = _batch_norm_batch
