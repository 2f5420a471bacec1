"""Convolutions: ``conv`` and ``conv_transpose``, N-dimensional and channels-first.

Both take PyTorch's kernel layouts, symmetric zero padding and a stride (an int, or one int per
spatial axis); there is no dilation and there are no groups. The number of spatial axes ``nd``
is the kernel's rank minus 2, and the rank of ``x`` says whether it carries a batch axis:
``[C, *spatial]`` (one sample, as in TorchLean) or ``[N, C, *spatial]``.

**Per-sample kernels.** A bias of shape ``[N, out_c]`` says that every sample of the batch
``x`` ``[N, in_c, *spatial]`` has its own kernel and bias: ``k`` then has a leading axis of
``N`` kernels (so ``nd`` is its rank minus 3) and sample ``n`` is computed with ``k[n]`` and
``b[n]`` alone. This is how a batched run convolves per-sample kernels (per-sample gradients
of a CNN): one batched matrix product, with no loop over the samples.

A convolution is one matrix product over the im2col columns of the padded input (see
:mod:`tapem.ops.windows`), or one per sample for per-sample kernels; its input VJP is the
adjoint (col2im), and ``conv_transpose`` is that adjoint used as a forward. Rules recompute the
columns they need from their inputs (rules are pure functions of arrays; nothing is cached
between the forward and the reverse pass).

>>> import numpy as np
>>> from tapem import ops
>>> x = np.arange(5.0)[None]          # [C=1, 5]
>>> k = np.array([[[1.0, 0.0, -1.0]]])  # [out_c=1, in_c=1, 3]
>>> y = ops.conv.forward(k, np.zeros(1), x, 1, 1)
>>> assert np.allclose(y, [[-1, -2, -2, -2, 3]])
>>> up = ops.conv_transpose.forward(k, np.zeros(1), np.ones((1, 2)), 2, 0)
>>> assert np.allclose(up, [[1, 0, 0, 0, -1]])  # (2 - 1) * 2 + 3 cells
>>> own = ops.conv.forward(np.stack([k, -k]), np.zeros((2, 1)), np.stack([x, x]), 1, 1)
>>> assert np.allclose(own, [y, -y])  # two samples, each with its own kernel
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

from tapem.errors import ShapeMismatch
from tapem.ops.batch_rules import BatchRule, Emit, merged, split
from tapem.ops.dtypes import product_dtype
from tapem.ops.elementwise import add, mul
from tapem.ops.opdef import JvpFn, OpDef, ShapeDtype
from tapem.ops.params import NONNEGATIVE_INTS, POSITIVE_INTS
from tapem.ops.structural import transpose
from tapem.ops.windows import col2im, im2col, out_sizes, pad, per_dim, split_batch

__all__ = ["conv", "conv_transpose"]

Ints = tuple[int, ...]


class Geometry(NamedTuple):
    """One convolution's static layout: window, stride, padding and the spatial sizes of the
    (unpadded) input of the im2col side and of its window positions."""

    kernel: Ints
    stride: Ints
    padding: Ints
    windowed: Ints  # spatial sizes of the array the windows slide over (before padding)
    positions: Ints  # window positions per axis


_CHANNELS = ("in_c, out_c", "out_c, in_c")
_LAYOUTS = tuple(
    f"k [{channels}, *kernel], b [out_c], x [in_c, *spatial] or [N, in_c, *spatial]"
    for channels in _CHANNELS
)
"""The expected layouts, by the kernel axis of the input channels (conv_transpose's 0, conv's 1)."""
_OWN_LAYOUTS = tuple(
    f"per-sample kernels: k [N, {channels}, *kernel], b [N, out_c], x [N, in_c, *spatial]"
    for channels in _CHANNELS
)
"""The same, for per-sample kernels."""


def _own(b: Any) -> int:
    """1 if the bias ``[N, out_c]`` says each sample has its own kernel, else 0 (the number of
    kernel axes before the channel axes)."""
    return int(len(np.shape(b)) == 2)


def _check_layout(op: str, k: Any, b: Any, x: Any, in_axis: int) -> Ints:
    """Check ranks and channel counts (``k.shape[in_axis]`` input channels, the other of the
    first two kernel axes output channels, after the sample axis of per-sample kernels); return
    the output shape's leading axes: ``x``'s batch axis if it has one, then the output
    channels."""
    shapes = [tuple(k.shape), tuple(b.shape), tuple(x.shape)]
    own = _own(b)
    layout = (_OWN_LAYOUTS if own else _LAYOUTS)[in_axis]
    if len(k.shape) < 3 + own:
        raise ShapeMismatch(op, shapes, f"expected {layout}, with at least one spatial axis")
    nd = len(k.shape) - 2 - own
    if own:
        batched = len(x.shape) == nd + 2
        if not batched or not x.shape[0] == k.shape[0] == b.shape[0]:
            raise ShapeMismatch(op, shapes, f"expected {layout}")
    else:
        batched = split_batch(op, shapes, len(x.shape), nd)
    in_c, out_c = k.shape[own + in_axis], k.shape[own + 1 - in_axis]
    if len(b.shape) not in (1, 2) or b.shape[-1] != out_c or x.shape[int(batched)] != in_c:
        raise ShapeMismatch(op, shapes, f"expected {layout}")
    if 0 in tuple(k.shape[2 + own :]):
        raise ShapeMismatch(op, shapes, "kernel sizes must be positive")
    if in_c == 0 or 0 in tuple(x.shape[len(x.shape) - nd :]):
        raise ShapeMismatch(
            op, shapes, "x needs at least one input channel and a non-empty spatial extent"
        )
    return (x.shape[0], out_c) if batched else (out_c,)


def _static(op: str, k_shape: Any, own: int, stride: Any, padding: Any) -> tuple[Ints, Ints, Ints]:
    """The window (the kernel's spatial sizes, after its channel axes and, for per-sample
    kernels, its sample axis), the stride and the padding, per spatial axis."""
    kernel = tuple(k_shape[2 + own :])
    nd = len(kernel)
    st = per_dim(op, "stride", stride, nd, 1)
    return kernel, st, per_dim(op, "padding", padding, nd, 0)


def _conv_geometry(k_shape: Any, own: int, x_shape: Any, stride: Any, padding: Any) -> Geometry:
    kernel, st, pd = _static("conv", k_shape, own, stride, padding)
    out = out_sizes("conv", x_shape, kernel, st, pd)
    return Geometry(kernel, st, pd, tuple(x_shape[len(x_shape) - len(kernel) :]), out)


def _transpose_geometry(
    k_shape: Any, own: int, x_shape: Any, stride: Any, padding: Any
) -> Geometry:
    """For ``conv_transpose`` the windows slide over the *output*: its x is the window grid."""
    kernel, st, pd = _static("conv_transpose", k_shape, own, stride, padding)
    spatial = tuple(x_shape[len(x_shape) - len(kernel) :])
    out = tuple((n - 1) * s + k - 2 * p for n, k, s, p in zip(spatial, kernel, st, pd, strict=True))
    if min(spatial) < 1 or min(out) < 1:
        raise ShapeMismatch(
            "conv_transpose",
            [tuple(k_shape), tuple(x_shape)],
            f"the output size (n - 1) * stride + kernel - 2 * padding = {out} must be positive "
            f"(input spatial sizes {spatial}); use less padding",
        )
    return Geometry(kernel, st, pd, out, spatial)


def _batch(x: Any, nd: int) -> tuple[Any, bool]:
    """``x`` with a batch axis, and whether one had to be added."""
    single = np.ndim(x) == nd + 1
    return (x[None] if single else x), single


def _unbatch(y: Any, single: bool) -> Any:
    return y[0] if single else y


def _columns(xb: Any, geo: Geometry) -> Any:
    """im2col of a batched input as ``[N, C * prod(kernel), prod(positions)]``."""
    cols = im2col(pad(xb, geo.padding, 0.0), geo.kernel, geo.stride, geo.positions)
    n, c = np.shape(xb)[:2]
    return np.reshape(cols, (n, c * math.prod(geo.kernel), math.prod(geo.positions)))


def _matrix(k: Any, own: int) -> Any:
    """A kernel ``[a, b, *kernel]`` as the matrix ``[a, b * prod(kernel)]`` (per-sample
    kernels ``[N, a, b, *kernel]``: one matrix per sample, ``[N, a, b * prod(kernel)]``)."""
    shape = np.shape(k)
    return np.reshape(k, (*shape[: 1 + own], math.prod(shape[1 + own :])))


def _per_channel(xb: Any) -> Any:
    """A batched ``[N, C, *spatial]`` as ``[N, C, prod(spatial)]``."""
    shape = np.shape(xb)
    return np.reshape(xb, (*shape[:2], math.prod(shape[2:])))


def _uncolumns(dcols: Any, channels: int, geo: Geometry) -> Any:
    """col2im of ``[N, C * prod(kernel), prod(positions)]`` into the (cropped) windowed array."""
    n = np.shape(dcols)[0]
    cols = np.reshape(dcols, (n, channels, *geo.kernel, *geo.positions))
    return col2im(cols, (n, channels, *geo.windowed), geo.kernel, geo.stride, geo.padding)


def _channel_bias(b: Any, nd: int) -> Any:
    """``b`` ``[out_c]`` (or ``[N, out_c]``) lined up with the channel axis of the output."""
    return np.reshape(b, (*np.shape(b), *(1,) * nd))


def _add_bias(y: Any, b: Any, nd: int) -> Any:
    bias = _channel_bias(b, nd)
    if y.dtype == np.result_type(y, bias):
        y += bias  # ``y`` is a buffer the forward made
        return y
    return y + bias


# Below, ``own`` is 1 for per-sample kernels (``k [N, a, b, *kernel]``, one matrix product per
# sample of the batch) and 0 for one kernel ``[a, b, *kernel]`` shared by the batch.


def _correlate(k: Any, wb: Any, geo: Geometry, own: int) -> Any:
    """``k``'s rows ``[a, b, *kernel]`` against every window of the batched ``wb``
    ``[N, b, *windowed]``: ``[N, a, *positions]`` (conv's forward, conv_transpose's input
    gradient)."""
    y = np.matmul(_matrix(k, own), _columns(wb, geo))
    return np.reshape(y, (np.shape(wb)[0], np.shape(k)[own], *geo.positions))


def _scatter(k: Any, yb: Any, geo: Geometry, own: int) -> Any:
    """The adjoint of :func:`_correlate`: ``k``-weighted windows of the batched ``yb`` added
    back onto the input grid (conv's input gradient, conv_transpose's forward)."""
    dcols = np.matmul(np.swapaxes(_matrix(k, own), -1, -2), _per_channel(yb))
    return _uncolumns(dcols, np.shape(k)[1 + own], geo)


def _kernel_grad(rows: Any, wb: Any, geo: Geometry, k_shape: Any, own: int) -> Any:
    """The gradient in ``k`` (of shape ``k_shape``) of ``sum(rows * _correlate(k, wb, geo))``:
    conv's kernel cotangent (``rows`` is ``g``) and, by adjointness, conv_transpose's (``rows``
    is ``x``, the windows slide over ``g``); per-sample kernels keep each sample's own."""
    dk = np.matmul(_per_channel(rows), np.swapaxes(_columns(wb, geo), 1, 2))
    return np.reshape(dk if own else np.sum(dk, axis=0), k_shape)


# --- rules both ops share: the bias, and JVPs of a map linear in k and in x --------------------


def _bias_vjp(g: Any, out: Any, k: Any, b: Any, x: Any, stride: Any, padding: Any) -> Any:
    """``g`` summed over every axis but the channel axis (the one before the spatial axes), and
    the batch axis for per-sample biases."""
    rank, own = np.ndim(g), _own(b)
    channel = rank - (np.ndim(k) - 2 - own) - 1
    return np.sum(g, axis=tuple(i for i in range(rank) if i != channel and (i or not own)))


def _bias_jvp(t: Any, out: Any, k: Any, b: Any, x: Any, stride: Any, padding: Any) -> Any:
    return _channel_bias(t, np.ndim(k) - 2 - _own(b))


def _jvps(linear: Callable[..., Any]) -> tuple[JvpFn, JvpFn, JvpFn]:
    """The JVP rules of ``k, b, x`` for an op ``linear(k, x, stride, padding, own) + bias``,
    where ``linear`` is linear in ``k`` and in ``x``."""
    return (
        lambda t, out, k, b, x, stride, padding: linear(t, x, stride, padding, _own(b)),
        _bias_jvp,
        lambda t, out, k, b, x, stride, padding: linear(k, t, stride, padding, _own(b)),
    )


# --- conv: k [out_c, in_c, *kernel] ------------------------------------------------------------


def _conv_shape(k: Any, b: Any, x: Any, stride: Any, padding: Any) -> ShapeDtype:
    lead = _check_layout("conv", k, b, x, 1)
    geo = _conv_geometry(k.shape, _own(b), x.shape, stride, padding)
    return ShapeDtype((*lead, *geo.positions), product_dtype("conv", k, b, x))


def _conv_linear(k: Any, x: Any, stride: Any, padding: Any, own: int) -> Any:
    """The convolution without bias (linear in ``k`` and in ``x``)."""
    xb, single = _batch(x, np.ndim(k) - 2 - own)
    geo = _conv_geometry(np.shape(k), own, np.shape(xb), stride, padding)
    return _unbatch(_correlate(k, xb, geo, own), single)


def _conv(k: Any, b: Any, x: Any, stride: Any, padding: Any) -> Any:
    own = _own(b)
    return _add_bias(_conv_linear(k, x, stride, padding, own), b, np.ndim(k) - 2 - own)


def _conv_dk(g: Any, out: Any, k: Any, b: Any, x: Any, stride: Any, padding: Any) -> Any:
    own = _own(b)
    nd = np.ndim(k) - 2 - own
    xb, _ = _batch(x, nd)
    gb, _ = _batch(g, nd)
    geo = _conv_geometry(np.shape(k), own, np.shape(xb), stride, padding)
    return _kernel_grad(gb, xb, geo, np.shape(k), own)


def _conv_dx(g: Any, out: Any, k: Any, b: Any, x: Any, stride: Any, padding: Any) -> Any:
    own = _own(b)
    nd = np.ndim(k) - 2 - own
    gb, single = _batch(g, nd)
    geo = _conv_geometry(np.shape(k), own, np.shape(x)[-nd - 1 :], stride, padding)
    return _unbatch(_scatter(k, gb, geo, own), single)


# --- conv_transpose: k [in_c, out_c, *kernel] --------------------------------------------------


def _conv_transpose_shape(k: Any, b: Any, x: Any, stride: Any, padding: Any) -> ShapeDtype:
    lead = _check_layout("conv_transpose", k, b, x, 0)
    geo = _transpose_geometry(k.shape, _own(b), x.shape, stride, padding)
    return ShapeDtype((*lead, *geo.windowed), product_dtype("conv_transpose", k, b, x))


def _conv_transpose_linear(k: Any, x: Any, stride: Any, padding: Any, own: int) -> Any:
    xb, single = _batch(x, np.ndim(k) - 2 - own)
    geo = _transpose_geometry(np.shape(k), own, np.shape(xb), stride, padding)
    return _unbatch(_scatter(k, xb, geo, own), single)


def _conv_transpose(k: Any, b: Any, x: Any, stride: Any, padding: Any) -> Any:
    own = _own(b)
    y = _conv_transpose_linear(k, x, stride, padding, own)
    return _add_bias(np.ascontiguousarray(y), b, np.ndim(k) - 2 - own)


def _conv_transpose_dk(g: Any, out: Any, k: Any, b: Any, x: Any, stride: Any, padding: Any) -> Any:
    own = _own(b)
    nd = np.ndim(k) - 2 - own
    xb, _ = _batch(x, nd)
    gb, _ = _batch(g, nd)
    geo = _transpose_geometry(np.shape(k), own, np.shape(xb), stride, padding)
    return _kernel_grad(xb, gb, geo, np.shape(k), own)


def _conv_transpose_dx(g: Any, out: Any, k: Any, b: Any, x: Any, stride: Any, padding: Any) -> Any:
    own = _own(b)
    nd = np.ndim(k) - 2 - own
    gb, single = _batch(g, nd)
    geo = _transpose_geometry(np.shape(k), own, np.shape(x)[-nd - 1 :], stride, padding)
    return _unbatch(_correlate(k, gb, geo, own), single)


_PARAMS = {"stride": POSITIVE_INTS, "padding": NONNEGATIVE_INTS}
_DEFAULTS = {"stride": 1, "padding": 0}

# fmt: off
# --- neural layers: convolutions ---------------------------------------------------------------

conv = OpDef("conv", inputs=("k", "b", "x"), params=_PARAMS, defaults=_DEFAULTS,
             forward=_conv, shape=_conv_shape,
             vjp=(_conv_dk, _bias_vjp, _conv_dx),
             jvp=_jvps(_conv_linear),
             doc="out[o] = b[o] + sum over c and the window of k[o, c] * x[c] (a cross-"
                 "correlation, as PyTorch's convN): k [out_c, in_c, *kernel], b [out_c], x "
                 "[in_c, *spatial] or [N, in_c, *spatial], with len(kernel) spatial axes; "
                 "symmetric zero padding, no dilation or groups; (n + 2p - k) // s + 1 "
                 "positions per axis. stride and padding: an int or one per axis. x needs "
                 "an input channel and non-empty spatial axes (a batch may be empty). "
                 "Per-sample kernels: b [N, out_c] with k [N, out_c, in_c, *kernel] and x "
                 "[N, in_c, *spatial] convolves sample n with k[n] and b[n].")
conv_transpose = OpDef("conv_transpose", inputs=("k", "b", "x"), params=_PARAMS,
                       defaults=_DEFAULTS, forward=_conv_transpose, shape=_conv_transpose_shape,
                       vjp=(_conv_transpose_dk, _bias_vjp, _conv_transpose_dx),
                       jvp=_jvps(_conv_transpose_linear),
                       doc="out[o, q * s + j - p] += x[c, q] * k[c, o, j] over input cells q "
                           "and kernel offsets j, plus b[o]: the adjoint of conv in x "
                           "(PyTorch's convN_transpose). k [in_c, out_c, *kernel] (PyTorch's "
                           "layout), b [out_c], x [in_c, *spatial] or [N, in_c, *spatial]; "
                           "(n - 1) * s + k - 2p cells per axis, which must be positive. stride "
                           "and padding: an int or one per axis. Per-sample kernels: b "
                           "[N, out_c] with k [N, in_c, out_c, *kernel] and x [N, in_c, "
                           "*spatial] computes sample n with k[n] and b[n].")
# fmt: on


# --- batching rules (see tapem.ops.batch_rules) ------------------------------------------------


def repeated(emit: Emit, v: Any, count: int) -> Any:
    """Batched ``v`` ``[B, ...]`` with each sample's slice repeated ``count`` times, in order:
    ``[B * count, ...]`` (a product with ones, whose gradient sums the copies): a per-sample
    parameter given to each input of a sample with a batch axis of its own."""
    rest = v.shape[1:]
    ones = emit.const(np.ones((1, count, *(1,) * len(rest)), dtype=v.dtype))
    copies = emit(mul(emit.reshape(v, (v.shape[0], 1, *rest)), ones))
    return emit.reshape(copies, (v.shape[0] * count, *rest))


def _swap01(emit: Emit, v: Any) -> Any:
    """``v`` with its first two axes swapped."""
    return emit(transpose(v, (1, 0, *range(2, len(v.shape)))))


def _conv_batch(op: OpDef, in_axis: int) -> BatchRule:
    """The batching rule of ``op`` (``conv``, or ``conv_transpose``: ``in_axis`` is the kernel
    axis of its input channels).

    A shared kernel convolves the samples as one batch (samples with a batch axis of their own
    merged into it), a per-sample bias added afterwards. Per-sample kernels take the op's own
    per-sample form (one matrix product per sample), each kernel repeated for the inputs of a
    sample with a batch axis of its own; a shared ``x`` is convolved once with every sample's
    kernel at once, as one kernel of ``B * out_c`` output channels. Samples that are in the
    per-sample form themselves (``b [N, out_c]``) are merged into one batch of ``B * N``."""

    def batch(emit: Emit, xs: Any, batched: Any, args: Any) -> Any:
        (k, b, x), (k_batched, b_batched, x_batched) = xs, batched
        size = emit.size
        if len(b.shape) - b_batched == 2:  # samples of per-sample kernels: one per input
            inputs = (merged(emit, emit.expanded(v, f)) for v, f in zip(xs, batched, strict=True))
            return split(emit, emit(op(*inputs, *args)), (size, b.shape[-2]))
        nd = len(k.shape) - k_batched - 2
        out_c = b.shape[-1]
        own_batch = len(x.shape) - x_batched == nd + 2  # samples [N, C, *spatial]
        if not k_batched:
            zero = emit.const(np.zeros((out_c,), dtype=b.dtype)) if b_batched else b
            flat = merged(emit, x) if x_batched and own_batch else x
            y = emit(op(k, zero, flat, *args))
            if x_batched and own_batch:
                y = split(emit, y, x.shape[:2])
            if not b_batched:
                return y
            return emit(add(y, emit.reshape(b, (size, *(1,) * own_batch, out_c, *(1,) * nd))))
        b = emit.expanded(b, b_batched)
        if not x_batched:
            # every sample's kernel at once: out_c * B output channels, sample-major
            if in_axis:  # conv: [B, out_c, in_c, *kernel] -> [B * out_c, in_c, *kernel]
                kernels = emit.reshape(k, (size * out_c, *k.shape[2:]))
            else:  # conv_transpose: [B, in_c, out_c, *kernel] -> [in_c, B * out_c, *kernel]
                kernels = emit.reshape(_swap01(emit, k), (k.shape[1], size * out_c, *k.shape[3:]))
            y = emit(op(kernels, emit.reshape(b, (size * out_c,)), x, *args))
            if not own_batch:
                return emit.reshape(y, (size, out_c, *y.shape[1:]))
            y = emit.reshape(y, (x.shape[0], size, out_c, *y.shape[2:]))
            return _swap01(emit, y)
        if not own_batch:
            return emit(op(k, b, x, *args))
        count = x.shape[1]
        y = emit(op(repeated(emit, k, count), repeated(emit, b, count), merged(emit, x), *args))
        return split(emit, y, x.shape[:2])

    return batch


conv.batch = _conv_batch(conv, 1)
conv_transpose.batch = _conv_batch(conv_transpose, 0)
