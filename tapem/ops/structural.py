"""Structural ops: moving elements around without arithmetic.

``reshape``, ``transpose``, ``flatten`` (PyTorch's ``start_dim``/``end_dim``), and the variadic
``concat`` and ``stack``, which take a sequence of handles: ``ops.concat([a, b], axis=0)``.

>>> import numpy as np
>>> from tapem import ops
>>> x = np.zeros((2, 3, 4))
>>> assert ops.flatten.forward(x, 1, -1).shape == (2, 12)
>>> parts = (np.ones((2, 1)), np.zeros((2, 2)))
>>> g = np.arange(6.0).reshape(2, 3)
>>> assert np.allclose(ops.concat.vjp[1](g, ops.concat.forward(*parts, 1), *parts, 1),
...                    [[1, 2], [4, 5]])
>>> first, second = ops.concat.vjp.at_once(g, None, *parts, 1)
>>> assert np.allclose(first, [[0], [3]]) and np.allclose(second, [[1, 2], [4, 5]])
"""

from __future__ import annotations

import math
import sys
from operator import attrgetter, itemgetter
from typing import Any

import numpy as np

from tapem.errors import InvalidArgument, ShapeMismatch
from tapem.ops.batch_rules import BatchRule, Emit
from tapem.ops.dtypes import result_dtype
from tapem.ops.opdef import OpDef, ShapeDtype, Variadic
from tapem.ops.params import INT, PERMUTATION, SHAPE
from tapem.requests import make_op

__all__ = ["concat", "flatten", "reshape", "stack", "transpose"]

_shape_of = attrgetter("shape")


def reshaped(op: str, shape_in: tuple[int, ...], shape: Any) -> tuple[int, ...]:
    """The target of a reshape of ``shape_in`` to ``shape`` (one ``-1`` allowed), or raise.
    Sizes are Python ints: a product of huge sizes cannot overflow into a valid one."""
    target = (shape,) if isinstance(shape, int) else tuple(shape)
    size = math.prod(shape_in)
    unknown = [i for i, d in enumerate(target) if d == -1]
    known = math.prod(d for d in target if d != -1)
    if len(unknown) > 1 or any(d < -1 for d in target):
        raise ShapeMismatch(op, [shape_in, target], "at most one -1 and no other negative sizes")
    if unknown:
        if known == 0 or size % known:
            raise ShapeMismatch(op, [shape_in, target], f"cannot reshape {size} elements")
        target = tuple(size // known if d == -1 else d for d in target)
    elif known != size:
        raise ShapeMismatch(op, [shape_in, target], f"cannot reshape {size} elements to {known}")
    if any(d > sys.maxsize for d in target):
        raise ShapeMismatch(op, [shape_in, target], f"a size exceeds {sys.maxsize}")
    return target


def _reshape_shape(x: Any, shape: Any) -> ShapeDtype:
    return ShapeDtype(reshaped("reshape", tuple(x.shape), shape), x.dtype)


def permutation(op: str, ndim: int, axes: Any) -> tuple[int, ...]:
    """``axes`` as a full permutation of ``range(ndim)`` (reversed for ``None``), or raise."""
    if axes is None:
        return tuple(range(ndim))[::-1]
    if any(not -ndim <= a < ndim for a in axes):
        raise ShapeMismatch(op, [], f"axes {axes} are out of range for an input of rank {ndim}")
    perm = tuple(a % ndim for a in axes)
    if sorted(perm) != list(range(ndim)):
        raise ShapeMismatch(op, [], f"axes {axes} are not a permutation of {ndim} axes")
    return perm


def _transpose_shape(x: Any, axes: Any) -> ShapeDtype:
    perm = permutation("transpose", len(x.shape), axes)
    return ShapeDtype(tuple(x.shape[a] for a in perm), x.dtype)


def _transpose_back(g: Any, x: Any, axes: Any) -> Any:
    perm = permutation("transpose", np.ndim(x), axes)
    return np.transpose(g, np.argsort(perm))


def _flattened(x_shape: tuple[int, ...], start_dim: int, end_dim: int) -> tuple[int, ...]:
    """The shape ``torch.flatten`` gives: axes ``start_dim..end_dim`` merged (a scalar -> [1])."""
    shape = x_shape or (1,)
    rank = len(shape)
    for value in (start_dim, end_dim):
        if not -rank <= value < rank:
            raise ShapeMismatch(
                "flatten", [x_shape], f"dim {value} is out of range for an input of rank {rank}"
            )
    start, end = start_dim % rank, end_dim % rank
    if start > end:
        raise InvalidArgument(
            f"flatten: start_dim ({start_dim}) comes after end_dim ({end_dim})", op="flatten"
        )
    merged = math.prod(shape[start : end + 1])
    return (*shape[:start], merged, *shape[end + 1 :])


def _flatten_shape(x: Any, start_dim: int, end_dim: int) -> ShapeDtype:
    return ShapeDtype(_flattened(tuple(x.shape), start_dim, end_dim), x.dtype)


def _joined(op: str, avals: Any, axis: int, new_axis: bool) -> tuple[tuple[int, ...], int]:
    """Check the inputs of ``concat`` / ``stack``; the output shape and the normalized axis."""
    shapes = [tuple(a.shape) for a in avals]
    if not shapes:
        raise ShapeMismatch(op, [], "needs at least one input")
    rank = len(shapes[0]) + new_axis
    if not -rank <= axis < rank or rank == 0:
        raise ShapeMismatch(op, shapes, f"axis {axis} is out of range for rank {rank}")
    a = axis % rank
    first = shapes[0]
    if new_axis:
        if any(s != first for s in shapes):
            raise ShapeMismatch(op, shapes, "stacked inputs must all have the same shape")
        return (*first[:a], len(shapes), *first[a:]), a

    def others(s: tuple[int, ...]) -> tuple[int, ...]:
        return s[:a] + s[a + 1 :]

    if any(len(s) != len(first) or others(s) != others(first) for s in shapes):
        raise ShapeMismatch(op, shapes, f"inputs must agree on every axis but axis {axis}")
    return (*first[:a], sum(s[a] for s in shapes), *first[a + 1 :]), a


def _join_shape(op: str, new_axis: bool) -> Any:
    def rule(*avals_and_axis: Any) -> ShapeDtype:
        *avals, axis = avals_and_axis
        shape, _ = _joined(op, avals, axis, new_axis)
        return ShapeDtype(shape, result_dtype(*avals))

    return rule


# --- the derivatives of concat and stack -------------------------------------------------------
#
# Every rule of a variadic op receives every input (``rule(i, g, out, *xs, axis)``), so a
# per-input rule costs at least the number of inputs n, and n of them at least n**2: the
# per-input rules below do little more (a slice; for concat the sizes of the inputs on the
# shorter side of input i, summed in C), and ``at_once`` gives every input's cotangent in O(n),
# for a caller that wants them all (the reverse pass over a concat node).


def _block(a: int, cells: Any) -> tuple[Any, ...]:
    """The index of ``cells`` (an int or a slice) along axis ``a``."""
    return (*(slice(None),) * a, cells)


def _concat_part(i: int, out: Any, rest: tuple[Any, ...]) -> tuple[Any, ...]:
    """The index of input ``i``'s block in the output ``out`` (``rest`` is the inputs, then the
    axis): its bounds, from the sizes of the inputs before it or after it, whichever are fewer,
    summed in C."""
    a = rest[-1] % np.ndim(rest[0])
    n = len(rest) - 1
    sizes = map(itemgetter(a), map(_shape_of, rest[:i] if 2 * i < n else rest[i + 1 : n]))
    size = rest[i].shape[a]
    start = sum(sizes) if 2 * i < n else np.shape(out)[a] - sum(sizes) - size
    return _block(a, slice(start, start + size))


def _concat_vjp(i: int, g: Any, out: Any, *rest: Any) -> Any:
    return g[_concat_part(i, out, rest)]


def _concat_vjp_all(g: Any, out: Any, *rest: Any) -> tuple[Any, ...]:
    a = rest[-1] % np.ndim(rest[0])
    parts = []
    start = 0
    for x in rest[:-1]:
        stop = start + x.shape[a]
        parts.append(g[_block(a, slice(start, stop))])
        start = stop
    return tuple(parts)


def _concat_jvp(i: int, t: Any, out: Any, *rest: Any) -> Any:
    placed = np.zeros_like(t, shape=np.shape(out))
    placed[_concat_part(i, out, rest)] = t
    return placed


def _stack_axis(rest: tuple[Any, ...]) -> int:
    axis: int = rest[-1]
    return axis % (np.ndim(rest[0]) + 1)


def _stack_vjp(i: int, g: Any, out: Any, *rest: Any) -> Any:
    return g[_block(_stack_axis(rest), i)]


def _stack_vjp_all(g: Any, out: Any, *rest: Any) -> tuple[Any, ...]:
    a = _stack_axis(rest)
    return tuple(g[_block(a, i)] for i in range(len(rest) - 1))


def _stack_jvp(i: int, t: Any, out: Any, *rest: Any) -> Any:
    placed = np.zeros_like(t, shape=np.shape(out))
    placed[_block(_stack_axis(rest), i)] = t
    return placed


def _concat(*xs_and_axis: Any) -> Any:
    *xs, axis = xs_and_axis
    return np.concatenate(xs, axis=axis)


def _stack(*xs_and_axis: Any) -> Any:
    *xs, axis = xs_and_axis
    return np.stack(xs, axis=axis)


# fmt: off
reshape = OpDef("reshape", params={"shape": SHAPE}, shape=_reshape_shape,
                forward=lambda x, shape: np.reshape(x, shape),
                vjp=(lambda g, out, x, shape: np.reshape(g, np.shape(x)),),
                jvp=(lambda t, out, x, shape: np.reshape(t, np.shape(out)),),
                doc="x with the shape ``shape`` (an int or a tuple; one -1 is inferred), its "
                    "elements in row-major order, as numpy's reshape; the size must not "
                    "change.")
transpose = OpDef("transpose", params={"axes": PERMUTATION}, defaults={"axes": None},
                  shape=_transpose_shape,
                  forward=lambda x, axes: np.transpose(x, axes),
                  vjp=(lambda g, out, x, axes: _transpose_back(g, x, axes),),
                  jvp=(lambda t, out, x, axes: np.transpose(t, axes),),
                  doc="x with its axes permuted: axis i of the result is axis ``axes[i]`` of x "
                      "(negative ones count from the end; all reversed by default), as numpy's "
                      "transpose.")
flatten = OpDef("flatten", params={"start_dim": INT, "end_dim": INT}, shape=_flatten_shape,
                defaults={"start_dim": 0, "end_dim": -1},
                forward=lambda x, start_dim, end_dim:
                np.reshape(x, _flattened(np.shape(x), start_dim, end_dim)),
                vjp=(lambda g, out, x, start_dim, end_dim: np.reshape(g, np.shape(x)),),
                jvp=(lambda t, out, x, start_dim, end_dim: np.reshape(t, np.shape(out)),),
                doc="x with axes ``start_dim`` to ``end_dim`` (both included; negative ones "
                    "count from the end) merged into one, as torch.flatten; a scalar gives "
                    "shape [1].")
concat = OpDef("concat", inputs=None, params={"axis": INT}, defaults={"axis": 0},
               forward=_concat, shape=_join_shape("concat", new_axis=False),
               vjp=Variadic(_concat_vjp, _concat_vjp_all), jvp=Variadic(_concat_jvp),
               doc="concatenate(xs, axis): the inputs joined along their existing axis "
                   "``axis``, as numpy's concatenate; ``ops.concat([a, b], axis=0)`` takes a "
                   "sequence of handles, which agree on every other axis.")
stack = OpDef("stack", inputs=None, params={"axis": INT}, defaults={"axis": 0},
              forward=_stack, shape=_join_shape("stack", new_axis=True),
              vjp=Variadic(_stack_vjp, _stack_vjp_all), jvp=Variadic(_stack_jvp),
              doc="stack(xs, axis): the inputs joined along a new axis ``axis`` of the "
                  "result, as numpy's stack; ``ops.stack([a, b])`` takes a sequence of handles "
                  "of one shape.")
# fmt: on


# --- batching rules (see tapem.ops.batch_rules): one sample's axes, one further along ----------


def _reshape_batch(emit: Emit, xs: Any, batched: Any, args: Any) -> Any:
    (x,), (shape,) = xs, args
    return emit.reshape(x, (x.shape[0], *reshaped("reshape", x.shape[1:], shape)))


def _transpose_batch(emit: Emit, xs: Any, batched: Any, args: Any) -> Any:
    (x,), (axes,) = xs, args
    perm = permutation("transpose", len(x.shape) - 1, axes)
    return emit(make_op(transpose, (x,), ((0, *(a + 1 for a in perm)),)))


def _flatten_batch(emit: Emit, xs: Any, batched: Any, args: Any) -> Any:
    (x,), (start_dim, end_dim) = xs, args
    return emit.reshape(x, (x.shape[0], *_flattened(x.shape[1:], start_dim, end_dim)))


def _join_batch(op: OpDef, new_axis: bool) -> BatchRule:
    """concat or stack along one sample's axis, the inputs without a batch axis repeated."""

    def batch(emit: Emit, xs: Any, batched: Any, args: Any) -> Any:
        (axis,) = args
        rank = len(xs[batched.index(True)].shape) - 1 + new_axis
        inputs = [emit.expanded(x, b) for x, b in zip(xs, batched, strict=True)]
        return emit(make_op(op, tuple(inputs), (axis % rank + 1,)))

    return batch


reshape.batch = _reshape_batch
transpose.batch = _transpose_batch
flatten.batch = _flatten_batch
concat.batch = _join_batch(concat, new_axis=False)
stack.batch = _join_batch(stack, new_axis=True)
