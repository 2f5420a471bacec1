"""Handles: what an interpreter sends back for each request.

A handle names one node of the tape being built: it knows its id, shape and dtype, and nothing
else (a program cannot read values, which is what lets the same program run under any
interpreter). Arithmetic on handles builds requests, so a loss reads like the maths::

    c = yield a + b          # Op add
    d = yield c * 2.0        # Op scale
    e = yield W @ x          # Op matmul

Mixing a handle with a Python or numpy scalar uses the scalar ops: ``h + c`` is ``shift``,
``c - h`` is ``rsub``, ``h * c`` is ``scale``, ``h / c`` is ``scale`` by ``1/c`` (as the mean
in :func:`tapem.mean_scalar_over` does), ``c / h`` is ``rdiv`` and ``h ** p`` is ``pow``.
``h[1:3]`` (basic indexing: ints, slices, ``None``, ``...``) is ``index``; a handle is not
iterable.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tapem.ops import elementwise as _ew
from tapem.ops import linalg as _la
from tapem.ops import selection as _sel
from tapem.ops import structural as _st
from tapem.requests import Op, make_op

_new = tuple.__new__

__all__ = ["Handle", "dtype_code", "format_shape"]

_DTYPE_CODES = {"f": "f", "i": "i", "u": "u", "b": "b", "c": "c"}


def dtype_code(dtype: np.dtype[Any]) -> str:
    """A short dtype name for listings: ``f64``, ``f32``, ``i64``, ``bool``."""
    if dtype.kind == "b":
        return "bool"
    return _DTYPE_CODES.get(dtype.kind, dtype.kind) + str(dtype.itemsize * 8)


def format_shape(shape: tuple[int, ...]) -> str:
    """``(2, 3)`` as ``[2,3]``."""
    return "[" + ",".join(map(str, shape)) + "]"


def _is_scalar(value: object) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)


class Handle:
    """A reference to node ``id`` of the tape being built, with its ``shape`` and ``dtype``.

    A program reads nothing else from a handle: the node's value stays on the tape, which is
    what lets the same program run under any interpreter, batched, or replayed. The handle
    keeps the very object the node recorded (an array under ``Eager``, a
    :class:`~tapem.ShapeDtype` under ``ShapeOnly``, a dual number under ``Forward``), privately:
    the recording path compares it with the node's record to tell this run's handles from
    stale or hand-made ones (:class:`~tapem.InvalidNodeId`).
    """

    __slots__ = ("_value", "id")
    __array_ufunc__ = None  # numpy scalars on the left defer to our reflected operators

    def __init__(self, node_id: int, value: Any) -> None:
        self.id = node_id
        self._value = value

    @property
    def shape(self) -> tuple[int, ...]:
        """The node's shape."""
        return tuple(self._value.shape)

    @property
    def dtype(self) -> np.dtype[Any]:
        """The node's dtype."""
        dtype: np.dtype[Any] = np.dtype(self._value.dtype)
        return dtype

    @property
    def ndim(self) -> int:
        """The node's number of axes."""
        return len(self._value.shape)

    def __repr__(self) -> str:
        return f"%{self.id}:{dtype_code(self.dtype)}{format_shape(self.shape)}"

    # --- operator sugar: each builds one Op request -------------------------------------------

    def __add__(self, other: Handle | float) -> Op:
        if other.__class__ is Handle:  # the common cases first, without a call
            return _new(Op, (_ew.add, (self, other), ()))
        if other.__class__ is float:
            return _new(Op, (_ew.shift, (self,), (other,)))
        if isinstance(other, Handle):
            return make_op(_ew.add, (self, other), ())
        return _scalar_op(_ew.shift, self, other, "+")

    def __radd__(self, other: float) -> Op:
        return _scalar_op(_ew.shift, self, other, "+")

    def __sub__(self, other: Handle | float) -> Op:
        if isinstance(other, Handle):
            return make_op(_ew.sub, (self, other), ())
        return _scalar_op(_ew.shift, self, -_scalar(other, "-"), "-")

    def __rsub__(self, other: float) -> Op:
        return _scalar_op(_ew.rsub, self, other, "-")

    def __mul__(self, other: Handle | float) -> Op:
        if other.__class__ is Handle:  # the common cases first, without a call
            return _new(Op, (_ew.mul, (self, other), ()))
        if other.__class__ is float:
            return _new(Op, (_ew.scale, (self,), (other,)))
        if isinstance(other, Handle):
            return make_op(_ew.mul, (self, other), ())
        return _scalar_op(_ew.scale, self, other, "*")

    def __rmul__(self, other: float) -> Op:
        if other.__class__ is float:
            return _new(Op, (_ew.scale, (self,), (other,)))
        return _scalar_op(_ew.scale, self, other, "*")

    def __truediv__(self, other: Handle | float) -> Op:
        if isinstance(other, Handle):
            return make_op(_ew.div, (self, other), ())
        return _scalar_op(_ew.scale, self, 1.0 / _scalar(other, "/"), "/")

    def __rtruediv__(self, other: float) -> Op:
        return _scalar_op(_ew.rdiv, self, other, "/")

    def __pow__(self, other: float) -> Op:
        return make_op(_ew.pow, (self,), (_scalar(other, "**"),))

    def __neg__(self) -> Op:
        return make_op(_ew.neg, (self,), ())

    def __abs__(self) -> Op:
        return make_op(_ew.abs, (self,), ())

    def __matmul__(self, other: Handle) -> Op:
        if not isinstance(other, Handle):
            return NotImplemented
        return make_op(_la.matmul, (self, other), ())

    def __getitem__(self, key: Any) -> Op:
        """Basic indexing (ints, slices, ``None``, ``...``): ``ops.index``."""
        return make_op(_sel.index, (self,), (_sel.encode_key(key),))

    def __iter__(self) -> Any:
        raise TypeError(
            "a tapem handle is not iterable (its values are on the tape, not in the program); "
            "index it one request at a time, e.g. `row = yield h[i]`"
        )

    @property
    def T(self) -> Op:  # noqa: N802 - numpy's spelling
        """Reverse the axes (``ops.transpose``)."""
        return make_op(_st.transpose, (self,), (None,))


def _scalar(value: object, symbol: str) -> float:
    if type(value) is float:
        return value
    if not _is_scalar(value):
        raise TypeError(
            f"unsupported operand for {symbol} with a tapem handle: {type(value).__name__}; "
            "combine handles with handles or with Python/numpy scalars "
            "(wrap an array in `yield from tm.const(array)` first)"
        )
    return float(value)  # type: ignore[arg-type]


def _scalar_op(rule: Any, handle: Handle, value: object, symbol: str) -> Op:
    return make_op(rule, (handle,), (_scalar(value, symbol),))
