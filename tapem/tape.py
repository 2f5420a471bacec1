"""The tape: nodes in creation order, each naming its parents by id.

A tape is plain data. A :class:`Node` holds its value, an optional name, ``requires_grad``,
its parents' ids (in argument order) and the op and static parameters that made it; leaves
have no op. Node records never refer to other nodes, so long tapes make no reference cycles.

A :class:`Tape` is an immutable value: :func:`tapem.run` extends a tape by building a new
one, and never changes the tape it was given.

>>> import numpy as np
>>> tape = Tape.empty()
>>> len(tape)
0
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from operator import attrgetter, itemgetter
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, TypeAlias

import numpy as np

from tapem.errors import InvalidNodeId
from tapem.handle import Handle, dtype_code, format_shape

if TYPE_CHECKING:
    from tapem.ops.opdef import OpDef

__all__ = [
    "HANDLE_ID",
    "RECORD_REQUIRES_GRAD",
    "RECORD_VALUE",
    "Node",
    "NodeRef",
    "Record",
    "Tape",
    "node_id",
    "readonly",
]

NodeRef: TypeAlias = Handle | int
"""A node named by its handle or by its id."""


Record: TypeAlias = tuple[Any, "str | None", bool, tuple[int, ...], "int | None", tuple[Any, ...]]
"""How a tape stores a node: ``(value, name, requires_grad, parents, rule_index, args)``.

``rule_index`` points into the tape's list of op definitions (``None`` for a leaf) and ``args``
are the op's static parameters in declared order. A record holds only numbers, strings, tuples
and arrays: it refers to no other node (no reference cycles) and to no object the cyclic
garbage collector tracks, so CPython untracks it and a long tape costs the collector nothing.
:class:`Node` is the public, read-only view of one record.
"""

RECORD_VALUE = itemgetter(0)
RECORD_REQUIRES_GRAD = itemgetter(2)
HANDLE_ID = attrgetter("id")
"""Field getters for the general (any number of inputs) paths: ``map(HANDLE_ID, inputs)``."""


class Node:
    """One tape entry (a read-only view of its record). ``rule`` is ``None`` for a leaf."""

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
    def op(self) -> str:
        """The op's name, or ``"leaf"``."""
        return "leaf" if self._rule is None else self._rule.name

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
    if isinstance(ref, Handle):
        i = ref.id
    elif isinstance(ref, (int, np.integer)) and not isinstance(ref, bool):
        i = int(ref)
    else:
        raise InvalidNodeId(ref, length)
    if not 0 <= i < length:
        raise InvalidNodeId(ref.id if isinstance(ref, Handle) else ref, length)
    return i


def readonly(value: Any) -> Any:
    """A read-only array view of ``value`` (0-d for scalars); never a copy of a large array."""
    if isinstance(value, np.ndarray):
        if not value.flags.writeable:
            return value
        view = value.view()
        view.flags.writeable = False
        return view
    if isinstance(value, np.generic):
        array = np.asarray(value)
        array.flags.writeable = False
        return array
    return value


class Tape(Sequence[Node]):
    """An immutable, ordered sequence of :class:`Node` records; ids are positions."""

    __slots__ = ("_nodes", "_rules")

    def __init__(self) -> None:
        # Both lists are owned by this tape and never mutated after construction.
        self._nodes: list[Record] = []
        self._rules: list[OpDef] = []

    @classmethod
    def empty(cls) -> Tape:
        return cls()

    @classmethod
    def _adopt(cls, nodes: list[Record], rules: list[OpDef]) -> Tape:
        """A tape over ``nodes`` and ``rules`` without copying; the caller gives up the lists."""
        tape = cls.__new__(cls)
        tape._nodes = nodes
        tape._rules = rules
        return tape

    def _view(self, i: int) -> Node:
        record = self._nodes[i]
        index = record[4]
        return Node(record, None if index is None else self._rules[index])

    def rule_of(self, i: int) -> OpDef | None:
        """The op definition of node ``i`` (``None`` for a leaf)."""
        index = self._nodes[i][4]
        return None if index is None else self._rules[index]

    def __len__(self) -> int:
        return len(self._nodes)

    def __getitem__(self, ref: Any) -> Any:
        if isinstance(ref, slice):
            if ref.start not in (None, 0) or ref.step not in (None, 1):
                raise ValueError("a tape can only be cut to a prefix: tape[:n]")
            return Tape._adopt(self._nodes[ref], list(self._rules))
        return self._view(node_id(ref, len(self._nodes)))

    def __iter__(self) -> Iterator[Node]:
        return map(self._view, range(len(self._nodes)))

    def node(self, ref: NodeRef) -> Node:
        """The record of node ``ref`` (a handle or an id)."""
        return self._view(node_id(ref, len(self._nodes)))

    def value(self, ref: NodeRef) -> Any:
        """The value of node ``ref``, as a read-only array (0-d for scalars)."""
        return readonly(self._nodes[node_id(ref, len(self._nodes))][0])

    def handle(self, ref: NodeRef) -> Handle:
        """A handle to node ``ref``, for continuing to build on this tape in a later run."""
        i = node_id(ref, len(self._nodes))
        return Handle(i, self._nodes[i][0])

    def named(self) -> dict[str, int]:
        """Node ids by name, for the named leaves (a later name wins)."""
        return {n[1]: i for i, n in enumerate(self._nodes) if n[1] is not None}

    def __repr__(self) -> str:
        return f"<Tape of {len(self._nodes)} nodes>"
