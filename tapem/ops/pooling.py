"""Pools: ``max_pool``, ``avg_pool`` and ``smooth_max_pool``, N-dimensional.

``kernel`` is a tuple with one window size per spatial axis, and its length ``nd`` says how many
trailing axes of ``x`` are spatial; ``x`` is ``[C, *spatial]`` or ``[N, C, *spatial]``. ``stride``
and ``padding`` are an int or one int per spatial axis; ``stride=None`` (the default) is the
kernel, as in PyTorch. Along an axis of size ``n`` there are ``(n + 2p - k) // s + 1`` windows,
except that the output size is **0 when the padding exceeds half the window** (``p > k // 2``).

Padding, per SPEC §6:

* ``max_pool`` ignores padded cells: they hold ``-inf`` (an int dtype's minimum), but never win,
  not even a tie with a real ``-inf``; on ties the **first** real cell in row-major window order
  wins and gets the gradient (a NaN is its window's maximum: the first NaN wins); windows that
  overlap accumulate their gradients.
* ``avg_pool`` counts padded cells as 0 and always divides by ``prod(kernel)``.
* ``smooth_max_pool`` includes padded cells as value 0 in the pivot and in the sum; the gradient
  (the window's softmax weights times ``g``) goes to real cells only.

Bad static parameters (a kernel or stride of 0, a negative padding, a ``beta`` that is 0 or not
finite) raise :class:`~tapem.errors.InvalidArgument` when the request is built; a stride or
padding tuple of the wrong length, from the shape rule. As in PyTorch, the channel and spatial
axes must not be empty (a batch axis may be).

>>> import numpy as np
>>> from tapem import ops
>>> x = np.array([[1.0, 3.0, 2.0, 0.0]])
>>> assert np.allclose(ops.max_pool.forward(x, (2,), 2, 0), [[3.0, 2.0]])
>>> assert np.allclose(ops.avg_pool.forward(x, (2,), 2, 1), [[0.5, 2.5, 0.0]])
>>> soft = ops.smooth_max_pool.forward(x, (2,), 2, 0, 50.0)
>>> assert np.allclose(soft, [[3.0, 2.0]], atol=1e-12)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

from tapem.errors import ShapeMismatch
from tapem.ops.batch_rules import BatchRule, Emit, merged, split
from tapem.ops.dtypes import as_float, float_dtype
from tapem.ops.opdef import OpDef, ShapeDtype
from tapem.ops.params import NONNEGATIVE_INTS, NONZERO_REAL, OPTIONAL_POSITIVE_INTS, WINDOW
from tapem.ops.windows import offsets, out_sizes, pad, per_dim, scatter, split_batch, window_size

__all__ = ["avg_pool", "max_pool", "smooth_max_pool"]

Ints = tuple[int, ...]


class Pool(NamedTuple):
    """A pool's static layout: window, stride, padding and window positions per axis."""

    kernel: Ints
    stride: Ints
    padding: Ints
    out: Ints


def _pool(op: str, shape: Any, kernel: Any, stride: Any, padding: Any) -> Pool:
    """Check the input's ``shape`` and the lengths of the static parameters; the pool's
    layout."""
    nd = len(kernel)
    steps = kernel if stride is None else per_dim(op, "stride", stride, nd, 1)
    pads = per_dim(op, "padding", padding, nd, 0)
    split_batch(op, [tuple(shape)], len(shape), nd)
    if 0 in tuple(shape[len(shape) - nd - 1 :]):
        raise ShapeMismatch(
            op, [tuple(shape)], "the channel and spatial axes must not be empty (a batch may be)"
        )
    # TorchLean's rule: padding beyond half the window leaves no window along that axis.
    empty = [p > k // 2 for k, p in zip(kernel, pads, strict=True)]
    # (an empty axis is checked as a 1-wide unpadded window, which always fits)
    fits = tuple(1 if e else k for e, k in zip(empty, kernel, strict=True))
    fit_pads = tuple(0 if e else p for e, p in zip(empty, pads, strict=True))
    out = out_sizes(op, shape, fits, steps, fit_pads)
    return Pool(kernel, steps, pads, tuple(0 if e else n for e, n in zip(empty, out, strict=True)))


def _out_shape(x: Any, pool: Pool) -> Ints:
    return (*np.shape(x)[: np.ndim(x) - len(pool.kernel)], *pool.out)


def _cells(pool: Pool) -> list[tuple[Any, ...]]:
    """Index of each window offset's cells in the padded input, in row-major window order."""
    return [(Ellipsis, *cells) for _, cells in offsets(pool.kernel, pool.stride, pool.out)]


def _pool_shape(op: str) -> Callable[..., ShapeDtype]:
    def rule(x: Any, kernel: Any, stride: Any, padding: Any, *beta: Any) -> ShapeDtype:
        pool = _pool(op, x.shape, kernel, stride, padding)
        dtype = x.dtype if op == "max_pool" else float_dtype(x.dtype)
        return ShapeDtype(_out_shape(x, pool), dtype)

    return rule


def _lowest(dtype: Any) -> Any:
    if dtype.kind == "f":
        return -np.inf
    return np.iinfo(dtype).min if dtype.kind in "iu" else False


# --- max ---------------------------------------------------------------------------------------


def _max_pool(x: Any, kernel: Any, stride: Any, padding: Any) -> Any:
    pool = _pool("max_pool", np.shape(x), kernel, stride, padding)
    xp = pad(x, pool.padding, _lowest(x.dtype))
    out = np.full(_out_shape(x, pool), _lowest(x.dtype), dtype=x.dtype)
    for cells in _cells(pool):
        np.maximum(out, xp[cells], out=out)
    return out


def _first_max(x: Any, out: Any, pool: Pool) -> list[tuple[Any, Any]]:
    """Each window offset's cells, and where that cell is the first real cell (in row-major
    window order) to hold its window's maximum ``out``: a padded cell never wins, even a tie
    with a real ``-inf``; a NaN is the maximum of its window (the first NaN wins)."""
    xp = pad(x, pool.padding, _lowest(x.dtype))
    real = pad(np.ones(np.shape(x), dtype=bool), pool.padding, False) if any(pool.padding) else None
    nan_out = np.isnan(out) if x.dtype.kind == "f" else None
    taken = np.zeros(np.shape(out), dtype=bool)
    found = []
    for cells in _cells(pool):
        values = xp[cells]
        hit = values == out
        if nan_out is not None:
            hit |= np.isnan(values) & nan_out
        if real is not None:
            hit &= real[cells]
        hit &= ~taken
        taken |= hit
        found.append((cells, hit))
    return found


def _argmax_route(v: Any, out: Any, x: Any, kernel: Any, stride: Any, padding: Any) -> Any:
    """``v`` (shaped like ``out``) sent to each window's first maximal cell: the max pool's
    VJP, summing over overlapping windows."""
    pool = _pool("max_pool", np.shape(x), kernel, stride, padding)
    parts = ((cells, np.where(hit, v, 0)) for cells, hit in _first_max(x, out, pool))
    return scatter(v, np.shape(x), pool.padding, parts)


def _argmax_pick(t: Any, out: Any, x: Any, kernel: Any, stride: Any, padding: Any) -> Any:
    """``t`` read at each window's first maximal cell: the max pool's JVP."""
    pool = _pool("max_pool", np.shape(x), kernel, stride, padding)
    tp = pad(t, pool.padding, 0.0)
    picked = np.zeros_like(t, shape=np.shape(out))
    for cells, hit in _first_max(x, out, pool):
        picked = picked + np.where(hit, tp[cells], 0)
    return picked


# --- average -----------------------------------------------------------------------------------


def _window_mean(x: Any, kernel: Any, stride: Any, padding: Any) -> Any:
    pool = _pool("avg_pool", np.shape(x), kernel, stride, padding)
    xp = pad(x, pool.padding, 0.0)
    total = np.zeros_like(x, shape=_out_shape(x, pool))
    for cells in _cells(pool):
        total = total + xp[cells]
    return total / window_size(pool.kernel)


def _avg_pool_dx(g: Any, out: Any, x: Any, kernel: Any, stride: Any, padding: Any) -> Any:
    pool = _pool("avg_pool", np.shape(x), kernel, stride, padding)
    share = g / window_size(pool.kernel)
    return scatter(g, np.shape(x), pool.padding, ((cells, share) for cells in _cells(pool)))


# --- smooth max: pivot + log(sum(exp(beta * (x - pivot)))) / beta -----------------------------


def _smooth_max_pool(x: Any, kernel: Any, stride: Any, padding: Any, beta: float) -> Any:
    x = as_float(x)
    pool = _pool("smooth_max_pool", np.shape(x), kernel, stride, padding)
    xp = pad(x, pool.padding, 0.0)
    windows = [xp[cells] for cells in _cells(pool)]
    if not windows:
        return np.zeros(_out_shape(x, pool), dtype=x.dtype)
    extreme = np.maximum if beta > 0 else np.minimum
    pivot = windows[0]
    for w in windows[1:]:
        pivot = extreme(pivot, w)
    total = np.zeros_like(pivot)
    for w in windows:
        total += np.exp(beta * (w - pivot))
    return pivot + np.log(total) / beta


def _softmax_weights(x: Any, out: Any, pool: Pool, beta: float) -> list[tuple[Any, Any]]:
    """Each window offset's cells and their softmax weights ``exp(beta * (x - out))``."""
    xp = pad(x, pool.padding, 0.0)
    return [(cells, np.exp(beta * (xp[cells] - out))) for cells in _cells(pool)]


def _smooth_dx(g: Any, out: Any, x: Any, kernel: Any, stride: Any, padding: Any, beta: Any) -> Any:
    pool = _pool("smooth_max_pool", np.shape(x), kernel, stride, padding)
    parts = ((cells, weight * g) for cells, weight in _softmax_weights(x, out, pool, beta))
    return scatter(g, np.shape(x), pool.padding, parts)  # padded cells are constants


def _smooth_jvp(t: Any, out: Any, x: Any, kernel: Any, stride: Any, padding: Any, beta: Any) -> Any:
    pool = _pool("smooth_max_pool", np.shape(x), kernel, stride, padding)
    tp = pad(t, pool.padding, 0.0)
    total = np.zeros_like(t, shape=np.shape(out))
    for cells, weight in _softmax_weights(x, out, pool, beta):
        total = total + weight * tp[cells]
    return total


_PARAMS = {"kernel": WINDOW, "stride": OPTIONAL_POSITIVE_INTS, "padding": NONNEGATIVE_INTS}
_DEFAULTS = {"stride": None, "padding": 0}

# fmt: off
# --- neural layers: pools ----------------------------------------------------------------------

max_pool = OpDef("max_pool", params=_PARAMS, defaults=_DEFAULTS,
                 forward=_max_pool, shape=_pool_shape("max_pool"),
                 vjp=(_argmax_route,),
                 jvp=(_argmax_pick,),
                 doc="max(window) for each window of x [C, *spatial] or [N, C, *spatial] "
                     "(kernel: one size per spatial axis; stride: the kernel by default); "
                     "(n + 2p - k) // s + 1 windows per axis, none when p > k // 2. Padded cells "
                     "never win, not even a tie with a real -inf; on a tie the first real cell "
                     "in row-major window order takes the gradient (of a NaN window, its first "
                     "NaN); overlapping windows add up. Keeps x's dtype; the channel and spatial "
                     "axes must not be empty.")
avg_pool = OpDef("avg_pool", params=_PARAMS, defaults=_DEFAULTS,
                 forward=lambda x, kernel, stride, padding:
                 _window_mean(as_float(x), kernel, stride, padding),
                 shape=_pool_shape("avg_pool"),
                 vjp=(_avg_pool_dx,),
                 jvp=(lambda t, out, x, kernel, stride, padding:
                      _window_mean(t, kernel, stride, padding),),
                 doc="sum(window) / prod(kernel) for each window of x (layout as in max_pool): "
                     "padded cells count as 0 and the divisor is always prod(kernel); ints and "
                     "bools give float64.")
smooth_max_pool = OpDef("smooth_max_pool", params={**_PARAMS, "beta": NONZERO_REAL},
                        defaults=_DEFAULTS,
                        forward=_smooth_max_pool, shape=_pool_shape("smooth_max_pool"),
                        vjp=(_smooth_dx,),
                        jvp=(_smooth_jvp,),
                        doc="pivot + log(sum(exp(beta * (w - pivot)))) / beta for each window w "
                            "of x (layout as in max_pool): a smooth maximum for beta > 0 (pivot "
                            "the max), minimum for beta < 0 (pivot the min); padded cells count "
                            "as 0 but get no gradient; beta finite and non-zero.")
# fmt: on


# --- batching rules (see tapem.ops.batch_rules): the samples are the pool's batch axis ---------


def _pool_batch(op: OpDef) -> BatchRule:
    """Samples ``[C, *spatial]`` batched are the ``[N, C, *spatial]`` form the pool takes;
    samples ``[N, C, *spatial]`` have their batch axes merged for the pool and split after."""

    def batch(emit: Emit, xs: Any, batched: Any, args: Any) -> Any:
        (x,), kernel = xs, args[0]
        if len(x.shape) == len(kernel) + 2:
            return emit(op(x, *args))
        return split(emit, emit(op(merged(emit, x), *args)), x.shape[:2])

    return batch


max_pool.batch = _pool_batch(max_pool)
avg_pool.batch = _pool_batch(avg_pool)
smooth_max_pool.batch = _pool_batch(smooth_max_pool)
