"""Selection: basic indexing (``index``), embedding lookup (``gather``) and ``where``.

* ``index(x, key)`` is numpy's basic indexing: ints, slices, ``None`` and ``...``; it is what
  ``handle[key]`` builds. Its VJP scatters the cotangent back into zeros of ``x``'s shape.
  The key is a static parameter, and tape records hold only plain data, so the key is stored
  **encoded**: a tuple whose items are ints, ``None``, the string ``"..."`` and, for each
  slice, the 3-tuple ``(start, stop, step)``. ``h[1:3, ..., None]`` is recorded as
  ``((1, 3, None), "...", None)``. (A 3-tuple inside a key therefore always means a slice.)
  Advanced (array) indexing is not supported: use ``gather``.
* ``gather(table, indices)`` picks rows of ``table`` along axis 0 by integer ``indices`` (a
  ``const`` of any shape): an embedding lookup, output ``[*indices.shape, *table.shape[1:]]``.
  Its VJP adds each cotangent row into the row it came from, so repeated indices accumulate.
* ``where(mask, a, b)`` takes ``a`` where the boolean ``mask`` is true and ``b`` elsewhere
  (all three broadcast). Its VJP *selects* the cotangent with ``np.where`` rather than
  multiplying it by the mask, so a non-finite cotangent in the branch not taken never turns into
  ``0 * inf = nan``.

>>> import numpy as np
>>> from tapem import ops
>>> key = encode_key((slice(1, 3), Ellipsis, None))
>>> key
((1, 3, None), '...', None)
>>> assert ops.index.forward(np.arange(4.0), key).shape == (2, 1)
>>> table = np.array([[1.0, 1.0], [2.0, 2.0]])
>>> rows = np.array([1, 1, 0])
>>> assert np.allclose(ops.gather.vjp[0](np.ones((3, 2)), None, table, rows), [[1, 1], [2, 2]])
"""

from __future__ import annotations

import operator
from typing import Any

import numpy as np

from tapem.errors import InvalidArgument, ShapeMismatch
from tapem.ops.batch_rules import Emit, broadcasting
from tapem.ops.dtypes import result_dtype
from tapem.ops.elementwise import add
from tapem.ops.opdef import OpDef, ShapeDtype, broadcast_shapes
from tapem.ops.params import Kind
from tapem.ops.structural import transpose
from tapem.requests import make_op

__all__ = ["gather", "index", "where"]

_BAD_KEY = (
    "index: a key holds ints, slices, None and ... (basic indexing); got {item!r}. "
    "To pick by an array of indices along axis 0, use ops.gather"
)


def _int_or_none(value: Any, item: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool):
        raise InvalidArgument(_BAD_KEY.format(item=item), op="index")
    try:
        return operator.index(value)
    except TypeError:
        raise InvalidArgument(_BAD_KEY.format(item=item), op="index") from None


def _encode_item(item: Any) -> Any:
    if item is None:
        return None
    if item is Ellipsis or (isinstance(item, str) and item == "..."):
        return "..."
    if isinstance(item, slice):
        item = (item.start, item.stop, item.step)
    if isinstance(item, tuple) and len(item) == 3:
        start, stop, step = (_int_or_none(v, item) for v in item)
        if step == 0:
            raise InvalidArgument("index: a slice step must not be zero", op="index")
        return (start, stop, step)
    if isinstance(item, (np.ndarray, list, tuple, str, float)):
        raise InvalidArgument(_BAD_KEY.format(item=item), op="index")
    return _int_or_none(item, item)


def encode_key(key: Any) -> tuple[Any, ...]:
    """A basic-indexing key as plain data (see the module docstring); raise
    :class:`~tapem.errors.InvalidArgument` for anything else. Encoding twice changes nothing."""
    items = key if isinstance(key, tuple) else (key,)
    encoded = tuple(_encode_item(item) for item in items)
    if encoded.count("...") > 1:
        raise InvalidArgument("index: a key may hold at most one ... (Ellipsis)", op="index")
    return encoded


def decode_key(key: tuple[Any, ...]) -> tuple[Any, ...]:
    """The numpy key an encoded key stands for."""
    return tuple(
        slice(*item) if isinstance(item, tuple) else Ellipsis if item == "..." else item
        for item in key
    )


KEY = Kind("a basic-indexing key: an int, a slice, None, ... or a tuple of them", encode_key)
"""The kind of ``index``'s key: checked and encoded (see :func:`encode_key`) when the request
is built."""


def _index_shape(x: Any, key: Any) -> ShapeDtype:
    probe = np.broadcast_to(np.zeros((), dtype=np.int8), tuple(x.shape))  # no data copied
    try:
        shape = probe[decode_key(key)].shape
    except IndexError as error:
        raise ShapeMismatch("index", [tuple(x.shape)], f"{error} (key {key!r})") from None
    return ShapeDtype(shape, x.dtype)


def _index(x: Any, key: Any) -> Any:
    picked = x[decode_key(key)]
    return picked if isinstance(picked, np.ndarray) else np.asarray(picked)


def _index_vjp(g: Any, out: Any, x: Any, key: Any) -> Any:
    spread = np.zeros_like(g, shape=np.shape(x))
    spread[decode_key(key)] = g  # basic indexing: every cell of x is picked at most once
    return spread


# --- gather ------------------------------------------------------------------------------------


def _gather_shape(table: Any, indices: Any) -> ShapeDtype:
    if len(table.shape) == 0:
        raise ShapeMismatch("gather", [(), tuple(indices.shape)], "table needs rank >= 1 [V, ...]")
    if indices.dtype.kind not in "iu":
        raise InvalidArgument(
            f"gather: indices must have an integer dtype, got {indices.dtype}; build them with "
            "tm.const(np.array(..., dtype=np.int64))",
            op="gather",
        )
    return ShapeDtype((*indices.shape, *table.shape[1:]), table.dtype)


def _gather(table: Any, indices: Any) -> Any:
    rows = np.shape(table)[0]
    if np.size(indices) and (np.min(indices) < 0 or np.max(indices) >= rows):
        raise InvalidArgument(
            f"gather: indices must be in [0, {rows}) (the rows of the table); got values from "
            f"{np.min(indices)} to {np.max(indices)}",
            op="gather",
        )
    return table[indices]


def _gather_vjp(g: Any, out: Any, table: Any, indices: Any) -> Any:
    rows = np.zeros_like(g, shape=np.shape(table))
    np.add.at(rows, indices, g)  # repeated indices accumulate
    return rows


# --- where -------------------------------------------------------------------------------------


def _where_shape(mask: Any, a: Any, b: Any) -> ShapeDtype:
    if mask.dtype != np.bool_:
        raise InvalidArgument(
            f"where: mask must be a bool array, got {mask.dtype}; compare first, e.g. "
            "tm.const(values > 0)",
            op="where",
        )
    shape = broadcast_shapes("where", tuple(mask.shape), tuple(a.shape), tuple(b.shape))
    return ShapeDtype(shape, result_dtype(a, b))


# fmt: off
# --- selection ---------------------------------------------------------------------------------

index = OpDef("index", params={"key": KEY}, forward=_index, shape=_index_shape,
              vjp=(_index_vjp,),
              jvp=(lambda t, out, x, key: t[decode_key(key)],),
              doc="x[key]: numpy's basic indexing (ints, slices, None and ...), what ``h[key]`` "
                  "builds; an int out of range is a ShapeMismatch. The gradient goes back to "
                  "the cells picked. For an array of indices along axis 0, use gather.")
gather = OpDef("gather", inputs=("table", "indices"), forward=_gather, shape=_gather_shape,
               vjp=(_gather_vjp, None),
               jvp=(lambda t, out, table, indices: t[indices], None),
               doc="table[indices] along axis 0 (an embedding lookup): ``indices`` is an "
                   "integer const of any shape, the result [*indices.shape, *table.shape[1:]]. "
                   "An index outside [0, V) is an InvalidArgument (a check of values, which "
                   "ShapeOnly skips); repeated indices add up their gradients.")
where = OpDef("where", inputs=("mask", "a", "b"), forward=np.where, shape=_where_shape,
              derivative=(None,
                          lambda v, out, mask, a, b: np.where(mask, v, 0),
                          lambda v, out, mask, a, b: np.where(mask, 0, v)),
              doc="a where mask, else b, elementwise (all three broadcast; mask is a bool "
                  "const). The gradient is selected, not multiplied by the mask, so an inf in "
                  "the branch not taken never becomes nan.")
# fmt: on


# --- batching rules (see tapem.ops.batch_rules) ------------------------------------------------


def _index_batch(emit: Emit, xs: Any, batched: Any, args: Any) -> Any:
    """One sample's key, after a whole slice over the batch axis."""
    (x,), (key,) = xs, args
    return emit(make_op(index, (x,), (((None, None, None), *key),)))


def _gather_batch(emit: Emit, xs: Any, batched: Any, args: Any) -> Any:
    table, indices = xs
    if not batched[0]:  # shared rows, per-sample indices: one lookup
        return emit(gather(table, indices))
    size, rows, rest = table.shape[0], table.shape[1], table.shape[2:]
    if not batched[1]:  # per-sample tables, shared indices: look up along axis 1, move it back
        front = emit(make_op(transpose, (table,), ((1, 0, *range(2, len(table.shape))),)))
        picked = emit(gather(front, indices))  # [*indices, N, ...]
        k = len(indices.shape)
        axes = (k, *range(k), *range(k + 1, len(picked.shape)))
        return emit(make_op(transpose, (picked,), (axes,)))
    # Both per sample: sample n's index i is row n * rows + i of the tables stacked. The indices
    # are first checked against one table's rows (a lookup into an empty table), so that an
    # index out of range is the loop's error, not another sample's row.
    emit(gather(emit.const(np.zeros((rows, 0), dtype=table.dtype)), indices))
    wide = np.uint64 if indices.dtype == np.uint64 else np.int64
    starts = np.arange(size, dtype=wide).reshape(size, *(1,) * (len(indices.shape) - 1)) * rows
    flat = emit.reshape(table, (size * rows, *rest))
    return emit(gather(flat, emit(add(indices, emit.const(starts)))))


index.batch = _index_batch
gather.batch = _gather_batch
where.batch = broadcasting(where)
