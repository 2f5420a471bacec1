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

from tapem import requests as _requests
from tapem.expressions import Arithmetic, binary
from tapem.ops import TABLE
from tapem.ops import elementwise as _ew
from tapem.ops import linalg as _la
from tapem.ops import selection as _sel
from tapem.ops import structural as _st
from tapem.requests import Leaf, Op, make_op

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


class Handle(Arithmetic):
    """A reference to node ``id`` of the tape being built, with its ``shape`` and ``dtype``.

    A program reads nothing else from a handle: the node's value stays on the tape, which is
    what lets the same program run under any interpreter, batched, or replayed. The handle
    keeps the very object the node recorded (an array under ``Eager``, a
    :class:`~tapem.ShapeDtype` under ``ShapeOnly``, a dual number under ``Forward``), privately:
    the recording path compares it with the node's record to tell this run's handles from
    stale or hand-made ones (:class:`~tapem.InvalidNodeId`).
    """

    __slots__ = ("_value", "id")

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
    # The common cases (a handle with a handle or a float) build the resolved request at once;
    # everything else (numbers of other types, requests, numpy's functions) is Arithmetic's.

    @classmethod
    def _build(cls, name: str, inputs: Any, params: dict[str, Any]) -> Op:
        return Op._build(name, inputs, params)

    @classmethod
    def _plain(cls, name: str, inputs: tuple[Any, ...], args: tuple[Any, ...]) -> Op:
        return Op._plain(name, inputs, args)

    @classmethod
    def _const(cls, value: Any) -> Leaf:
        return Op._const(value)

    def __add__(self, other: Any) -> Any:
        if other.__class__ is Handle:
            return make_op(_ew.add, (self, other), ())
        if other.__class__ is float:
            return make_op(_ew.shift, (self,), (other,))
        return binary("+", self, other)

    def __radd__(self, other: Any) -> Any:
        if other.__class__ is float:
            return make_op(_ew.shift, (self,), (other,))
        return binary("+", other, self)

    def __sub__(self, other: Any) -> Any:
        if other.__class__ is Handle:
            return make_op(_ew.sub, (self, other), ())
        return binary("-", self, other)

    def __mul__(self, other: Any) -> Any:
        if other.__class__ is Handle:
            return make_op(_ew.mul, (self, other), ())
        if other.__class__ is float:
            return make_op(_ew.scale, (self,), (other,))
        return binary("*", self, other)

    def __rmul__(self, other: Any) -> Any:
        if other.__class__ is float:
            return make_op(_ew.scale, (self,), (other,))
        return binary("*", other, self)

    def __truediv__(self, other: Any) -> Any:
        if other.__class__ is Handle:
            return make_op(_ew.div, (self, other), ())
        return binary("/", self, other)

    def __matmul__(self, other: Any) -> Any:
        if other.__class__ is Handle:
            return make_op(_la.matmul, (self, other), ())
        return binary("@", self, other)

    def __getitem__(self, key: Any) -> Op:
        """Basic indexing (ints, slices, ``None``, ``...``): ``ops.index``."""
        return Op(_sel.index, (self,), {"key": key})

    @property
    def T(self) -> Op:  # noqa: N802 - numpy's spelling
        """Reverse the axes (``ops.transpose``)."""
        return make_op(_st.transpose, (self,), (None,))


# The requests that operators and numpy's functions build on handles and requests name their op
# definition itself, not its name (see ``tapem.requests.resolve_name``); a dict is quicker to
# read than the table's read-only view.
_requests.resolve_name = dict(TABLE).get
