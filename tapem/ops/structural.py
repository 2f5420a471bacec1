"""Structural ops: moving elements around without arithmetic (reshape, transpose, ...)."""

from __future__ import annotations

from typing import Any

import numpy as np

from tapem.errors import ShapeMismatch
from tapem.ops.opdef import OpDef, ShapeDtype

__all__ = ["reshape", "transpose"]


def reshaped(op: str, shape_in: tuple[int, ...], shape: Any) -> tuple[int, ...]:
    """The target of a reshape of ``shape_in`` to ``shape`` (one ``-1`` allowed), or raise."""
    target = (shape,) if isinstance(shape, int) else tuple(int(d) for d in shape)
    size = int(np.prod(shape_in, dtype=np.int64))
    unknown = [i for i, d in enumerate(target) if d == -1]
    known = int(np.prod([d for d in target if d != -1], dtype=np.int64))
    if len(unknown) > 1 or any(d < -1 for d in target):
        raise ShapeMismatch(op, [shape_in, target], "at most one -1 and no other negative sizes")
    if unknown:
        if known == 0 or size % known:
            raise ShapeMismatch(op, [shape_in, target], f"cannot reshape {size} elements")
        target = tuple(size // known if d == -1 else d for d in target)
    elif known != size:
        raise ShapeMismatch(op, [shape_in, target], f"cannot reshape {size} elements to {known}")
    return target


def _reshape_shape(x: Any, shape: Any) -> ShapeDtype:
    return ShapeDtype(reshaped("reshape", tuple(x.shape), shape), x.dtype)


def permutation(op: str, ndim: int, axes: Any) -> tuple[int, ...]:
    """``axes`` as a full permutation of ``range(ndim)`` (reversed for ``None``), or raise."""
    if axes is None:
        return tuple(range(ndim))[::-1]
    perm = tuple(int(a) % ndim if ndim else int(a) for a in axes)
    if sorted(perm) != list(range(ndim)):
        raise ShapeMismatch(op, [], f"axes {tuple(axes)} are not a permutation of {ndim} axes")
    return perm


def _transpose_shape(x: Any, axes: Any) -> ShapeDtype:
    perm = permutation("transpose", len(x.shape), axes)
    return ShapeDtype(tuple(x.shape[a] for a in perm), x.dtype)


def _transpose_back(g: Any, x: Any, axes: Any) -> Any:
    perm = permutation("transpose", np.ndim(x), axes)
    return np.transpose(g, np.argsort(perm))


# fmt: off
reshape = OpDef("reshape", params=("shape",), shape=_reshape_shape,
                forward=lambda x, shape: np.reshape(x, shape),
                vjp=(lambda g, out, x, shape: np.reshape(g, np.shape(x)),),
                jvp=(lambda t, out, x, shape: np.reshape(t, np.shape(out)),))
transpose = OpDef("transpose", params=("axes",), defaults={"axes": None}, shape=_transpose_shape,
                  forward=lambda x, axes: np.transpose(x, axes),
                  vjp=(lambda g, out, x, axes: _transpose_back(g, x, axes),),
                  jvp=(lambda t, out, x, axes: np.transpose(t, axes),))
# fmt: on
