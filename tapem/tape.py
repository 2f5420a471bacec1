"""The tape: nodes in creation order, each naming its parents by id.

A tape is plain data. Each node is stored as one **record**, a plain tuple

    ``(value, name, requires_grad, parents, rule_index, args)``

* ``value``: what the interpreter recorded (an array, 0-d for scalars; a
  :class:`~tapem.ShapeDtype` under ``ShapeOnly``; a dual number under ``Forward``);
* ``name``: a leaf's name, or ``None``;
* ``requires_grad``: whether gradients flow through the node;
* ``parents``: the input node ids, in argument order (``()`` for a leaf);
* ``rule_index``: the op's position in the tape's list of op definitions (``None`` for a leaf);
* ``args``: the op's static parameters, in declared order.

Only the recording path (:mod:`tapem.recording`) and the reverse pass (:mod:`tapem.backward`)
read records; everything else asks the :class:`Tape` (``value``, ``parents``, ``rule``,
``trainable``, ...) or reads a :class:`Node`. A record holds only numbers, strings, tuples and
arrays: it refers to no other node (no reference cycles) and to no object the cyclic garbage
collector tracks, so CPython untracks it and a long tape costs the collector nothing.

A :class:`Tape` is an immutable value: :func:`tapem.run` extends a tape by building a new one,
and never changes the tape it was given.

>>> import numpy as np
>>> import tapem as tm
>>> @tm.tapem
... def f():
...     w = yield from tm.param(np.array([1.0, 2.0]), name="w")
...     return (yield w * w)
>>> out, tape = tm.run(f()).unwrap()
>>> len(tape), tape.parents(out), tape.node(out).op, tape.trainable()
(2, (0, 0), 'mul', [0])
>>> assert np.array_equal(tape.value(out), [1.0, 4.0])
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, TypeAlias

import numpy as np

from tapem.arrays import readonly
from tapem.errors import InvalidNodeId
from tapem.handle import Handle, dtype_code, format_shape

if TYPE_CHECKING:
    from tapem.ops.opdef import OpDef

__all__ = ["Node", "NodeRef", "Record", "Tape", "node_id"]

NodeRef: TypeAlias = Handle | int
"""A node named by its handle or by its id."""

Record: TypeAlias = tuple[Any, "str | None", bool, tuple[int, ...], "int | None", tuple[Any, ...]]
"""How a tape stores a node: ``(value, name, requires_grad, parents, rule_index, args)``."""


class Node:
    """One tape entry, read-only. ``rule`` is ``None`` for a leaf."""

    __slots__ = ("_record", "_rule")

    def __init__(self, record: Record, rule: OpDef | None) -> None:
        self._record = record
        self._rule = rule

    @property
    def value(self) -> Any:
        """The node's value, read-only (an array, 0-d for scalars)."""
        return readonly(self._record[0])

    @property
    def name(self) -> str | None:
        """The leaf's name, if it was given one."""
        return self._record[1]

    @property
    def requires_grad(self) -> bool:
        """Whether gradients flow through this node."""
        return self._record[2]

    @property
    def parents(self) -> tuple[int, ...]:
        """The parents' ids, in argument order."""
        return self._record[3]

    @property
    def rule(self) -> OpDef | None:
        """The op's definition, or ``None`` for a leaf."""
        return self._rule

    @property
    def op(self) -> str:
        """The op's name, or ``"leaf"``."""
        return "leaf" if self._rule is None else self._rule.name

    @property
    def args(self) -> tuple[Any, ...]:
        """The op's static parameters, in declared order."""
        return self._record[5]

    @property
    def params(self) -> Mapping[str, Any]:
        """The op's static parameters by name (read-only)."""
        if self._rule is None:
            return MappingProxyType({})
        return MappingProxyType(dict(zip(self._rule.params, self._record[5], strict=True)))

    @property
    def is_leaf(self) -> bool:
        return self._rule is None

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self._record[0].shape)

    @property
    def dtype(self) -> np.dtype[Any]:
        dtype: np.dtype[Any] = np.dtype(self._record[0].dtype)
        return dtype

    def __repr__(self) -> str:
        kind = f"{self.op}({', '.join(f'%{p}' for p in self.parents)})"
        label = f" {self.name!r}" if self.name is not None else ""
        return f"Node({kind}{label}, {dtype_code(self.dtype)}{format_shape(self.shape)})"


def node_id(ref: object, length: int) -> int:
    """The node id that ``ref`` (a handle or an int) names on a tape of ``length`` nodes."""
    if ref.__class__ is int and 0 <= ref < length:
        return ref
    if isinstance(ref, Handle):
        i = ref.id
    elif isinstance(ref, (int, np.integer)) and not isinstance(ref, bool):
        i = int(ref)
    else:
        raise InvalidNodeId(ref, length)
    if not 0 <= i < length:
        raise InvalidNodeId(ref.id if isinstance(ref, Handle) else ref, length)
    return i


class Tape(Sequence[Node]):
    """An immutable, ordered sequence of :class:`Node`\\ s; ids are positions.

    Indexing (``tape[i]``, ``tape.node(ref)``) gives a :class:`Node`; ``tape[:n]`` the prefix
    of ``n`` nodes. A node is named by its handle or its id (``ref``) wherever one is expected.
    """

    __slots__ = ("_nodes", "_rules")

    def __init__(self) -> None:
        # Both lists are owned by this tape and never mutated after construction.
        self._nodes: list[Record] = []
        self._rules: list[OpDef] = []

    @classmethod
    def empty(cls) -> Tape:
        return cls()

    @classmethod
    def adopt(cls, nodes: list[Record], rules: list[OpDef]) -> Tape:
        """A tape over ``nodes`` and ``rules`` without copying (the recording path hands over
        the lists of a finished run and never touches them again)."""
        tape = cls.__new__(cls)
        tape._nodes = nodes
        tape._rules = rules
        return tape

    def __len__(self) -> int:
        return len(self._nodes)

    def __getitem__(self, ref: Any) -> Any:
        if isinstance(ref, slice):
            if ref.start not in (None, 0) or ref.step not in (None, 1):
                raise ValueError("a tape can only be cut to a prefix: tape[:n]")
            return Tape.adopt(self._nodes[ref], list(self._rules))
        return self.node(ref)

    def __iter__(self) -> Iterator[Node]:
        return map(self._node, range(len(self._nodes)))

    def _node(self, i: int) -> Node:
        record = self._nodes[i]
        index = record[4]
        return Node(record, None if index is None else self._rules[index])

    def _id(self, ref: NodeRef) -> int:
        return node_id(ref, len(self._nodes))

    def node(self, ref: NodeRef) -> Node:
        """The record of node ``ref``, read-only."""
        return self._node(self._id(ref))

    def value(self, ref: NodeRef) -> Any:
        """The value of node ``ref``, as a read-only array (0-d for scalars)."""
        return readonly(self._nodes[self._id(ref)][0])

    def parents(self, ref: NodeRef) -> tuple[int, ...]:
        """The ids of node ``ref``'s inputs, in argument order (``()`` for a leaf)."""
        return self._nodes[self._id(ref)][3]

    def rule(self, ref: NodeRef) -> OpDef | None:
        """The op definition that made node ``ref`` (``None`` for a leaf)."""
        index = self._nodes[self._id(ref)][4]
        return None if index is None else self._rules[index]

    def handle(self, ref: NodeRef) -> Handle:
        """A handle to node ``ref``, for continuing to build on this tape in a later run."""
        i = self._id(ref)
        return Handle(i, self._nodes[i][0])

    def trainable(self) -> list[int]:
        """The ids of the trainable leaves (``param``\\ s), in creation order."""
        return [i for i, r in enumerate(self._nodes) if r[4] is None and r[2]]

    def named(self) -> dict[str, int]:
        """Node ids by name, for the named leaves (a later name wins)."""
        return {r[1]: i for i, r in enumerate(self._nodes) if r[1] is not None}

    def __repr__(self) -> str:
        return f"<Tape of {len(self._nodes)} nodes>"
