"""Sliding-window geometry shared by convolutions and pools (helpers, not ops).

Spatial ops see an input as ``[..., *spatial]`` with ``nd`` spatial axes last. A window of size
``kernel`` moves with ``stride`` over the input zero-padded (or, for max-pooling, ``-inf``-padded)
by ``padding`` cells on both sides of each spatial axis; there are ``(n + 2p - k) // s + 1``
window positions along an axis of size ``n``.

Everything here is vectorized over window positions: the only Python loops run over the
``prod(kernel)`` offsets inside a window. For each offset, :func:`offsets` gives the strided
slice of the padded input that holds that cell of every window, so

* :func:`im2col` copies the padded input into columns ``[N, C, *kernel, *out]`` (one slice
  assignment per offset), ready for one matrix product, and
* :func:`col2im` is the adjoint of :func:`pad` followed by :func:`im2col`: it adds columns back
  into a padded input buffer and returns the buffer's interior.

The helpers that run inside VJP rules create their buffers with :func:`zeros` (``np.zeros_like``
for anything but a plain ndarray) and write into them only with ``buf[idx] = ...`` /
``buf[idx] += ...`` (:func:`scatter` is the one loop that accumulates windows into a padded
input, for ``col2im`` and the pools' VJPs), so they work on the dual numbers the Hessian code
passes in; plain arrays take faster numpy-only paths with the same results.

>>> import numpy as np
>>> x = np.arange(5.0)[None, None]  # [N=1, C=1, 5 cells]
>>> cols = im2col(pad(x, (1,), 0.0), (3,), (2,), (3,))
>>> assert np.allclose(cols[0, 0], [[0, 1, 3], [0, 2, 4], [1, 3, 0]])  # rows: offsets
"""

from __future__ import annotations

import itertools
import math
import operator
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from tapem.errors import InvalidArgument, ShapeMismatch

__all__ = [
    "col2im",
    "crop",
    "im2col",
    "offsets",
    "out_sizes",
    "pad",
    "padded_shape",
    "per_dim",
    "scatter",
    "split_batch",
    "window_size",
    "zeros",
]

Ints = tuple[int, ...]


def per_dim(op: str, name: str, value: Any, nd: int, minimum: int) -> Ints:
    """``value`` (an int or one int per spatial axis) as a tuple of ``nd`` ints >= ``minimum``.

    Raises :class:`InvalidArgument` naming the op and the parameter otherwise.
    """
    scalar = not isinstance(value, (tuple, list))
    try:
        values = (operator.index(value),) * nd if scalar else tuple(map(operator.index, value))
    except TypeError:
        values = ()
    if isinstance(value, bool) or len(values) != nd:
        raise InvalidArgument(
            f"{op}: {name} must be an int or a tuple of {nd} ints (one per spatial axis), "
            f"got {value!r}",
            op=op,
        )
    if any(v < minimum for v in values):
        bound = "positive" if minimum == 1 else f">= {minimum}"
        raise InvalidArgument(f"{op}: every {name} must be {bound}, got {value!r}", op=op)
    return values


def out_sizes(op: str, shape: Sequence[int], kernel: Ints, stride: Ints, padding: Ints) -> Ints:
    """Window positions per spatial axis: ``(n + 2p - k) // s + 1``; raise if a window does not
    fit in the padded input."""
    spatial = tuple(shape[len(shape) - len(kernel) :])
    sizes = []
    for n, k, s, p in zip(spatial, kernel, stride, padding, strict=True):
        if n + 2 * p < k:
            raise ShapeMismatch(
                op,
                [tuple(shape), kernel],
                f"the window {kernel} is larger than the padded input {spatial} "
                f"(padding {padding}); use a smaller kernel or more padding",
            )
        sizes.append((n + 2 * p - k) // s + 1)
    return tuple(sizes)


def split_batch(op: str, shapes: Sequence[Sequence[int]], x_ndim: int, nd: int) -> bool:
    """Whether ``x`` of rank ``x_ndim`` has a batch axis (``[N, C, *spatial]``) or not
    (``[C, *spatial]``), for ``nd`` spatial axes; any other rank is a :class:`ShapeMismatch`."""
    if x_ndim == nd + 2:
        return True
    if x_ndim == nd + 1:
        return False
    raise ShapeMismatch(
        op,
        [tuple(s) for s in shapes],
        f"expected x of rank {nd + 1} ([C, *spatial]) or {nd + 2} ([N, C, *spatial]) "
        f"for {nd} spatial dimension(s)",
    )


def _interior(padding: Ints, padded: Sequence[int]) -> tuple[Any, ...]:
    nd = len(padding)
    spatial = padded[len(padded) - nd :]
    return (Ellipsis, *(slice(p, n - p) for p, n in zip(padding, spatial, strict=True)))


def padded_shape(shape: Sequence[int], padding: Ints) -> Ints:
    """``shape`` with each of its last ``len(padding)`` axes grown by ``2 * p`` cells."""
    lead = len(shape) - len(padding)
    spatial = (n + 2 * p for n, p in zip(shape[lead:], padding, strict=True))
    return (*shape[:lead], *spatial)


def pad(x: Any, padding: Ints, fill: float) -> Any:
    """``x`` padded by ``padding`` cells of value ``fill`` on both sides of its last axes."""
    if not any(padding):
        return x
    padded = padded_shape(np.shape(x), padding)
    out = np.full_like(x, fill, shape=padded)
    out[_interior(padding, padded)] = x
    return out


def crop(xp: Any, padding: Ints) -> Any:
    """The inverse of :func:`pad`: the interior of ``xp`` (a view)."""
    if not any(padding):
        return xp
    return xp[_interior(padding, np.shape(xp))]


def offsets(kernel: Ints, stride: Ints, out: Ints) -> Iterator[tuple[Ints, tuple[slice, ...]]]:
    """For each offset inside the window (row-major order), the slices of the padded input's
    spatial axes that hold that cell of every window."""
    if 0 in out:
        return
    for offset in itertools.product(*(range(k) for k in kernel)):
        yield (
            offset,
            tuple(
                slice(o, o + s * (n - 1) + 1, s)
                for o, s, n in zip(offset, stride, out, strict=True)
            ),
        )


def zeros(like: Any, shape: Sequence[int]) -> Any:
    """A zero buffer of ``like``'s type and dtype (``np.zeros_like(like, shape=shape)``; for a
    plain ndarray, ``np.zeros``, which skips the explicit fill)."""
    if type(like) is np.ndarray:
        return np.zeros(tuple(shape), dtype=like.dtype)
    return np.zeros_like(like, shape=tuple(shape))


def im2col(xp: Any, kernel: Ints, stride: Ints, out: Ints) -> Any:
    """Columns ``[N, C, *kernel, *out]`` of the padded input ``xp`` ``[N, C, *spatial]``."""
    n, c = np.shape(xp)[:2]
    nd = len(kernel)
    if type(xp) is np.ndarray:  # one strided view, one copy
        axes = tuple(range(2, 2 + nd))
        windows: Any = sliding_window_view(xp, kernel, axis=axes)  # [N, C, *positions, *kernel]
        steps = (slice(0, s * o, s) for s, o in zip(stride, out, strict=True))
        strided = windows[(Ellipsis, *steps, *(slice(None),) * nd)]
        order = (0, 1, *range(2 + nd, 2 + 2 * nd), *axes)
        return np.ascontiguousarray(np.transpose(strided, order))
    cols: Any = zeros(xp, (n, c, *kernel, *out))
    for offset, cells in offsets(kernel, stride, out):
        cols[(slice(None), slice(None), *offset)] = xp[(Ellipsis, *cells)]
    return cols


def scatter(
    like: Any, shape: Sequence[int], padding: Ints, parts: Iterable[tuple[Any, Any]]
) -> Any:
    """Each ``(cells, value)`` of ``parts`` added, in order, onto the ``cells`` of a zero buffer
    of ``like``'s type shaped like an input of ``shape`` padded by ``padding``; the buffer's
    interior (what lands on padded cells is dropped)."""
    xp: Any = zeros(like, padded_shape(shape, padding))
    for cells, value in parts:
        xp[cells] += value
    return crop(xp, padding)


def col2im(cols: Any, shape: Sequence[int], kernel: Ints, stride: Ints, padding: Ints) -> Any:
    """The adjoint of :func:`im2col` of the input padded by :func:`pad`: columns
    ``[N, C, *kernel, *out]`` summed back into an input of shape ``shape`` (windows that overlap
    accumulate; what falls on padded cells is dropped)."""
    out = tuple(np.shape(cols)[2 + len(kernel) :])
    parts = (
        ((Ellipsis, *cells), cols[(slice(None), slice(None), *offset)])
        for offset, cells in offsets(kernel, stride, out)
    )
    return scatter(cols, shape, padding, parts)


def window_size(kernel: Ints) -> int:
    """The number of cells in a window."""
    return math.prod(kernel)
