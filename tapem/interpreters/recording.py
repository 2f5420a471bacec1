"""The tape-building state that every interpreter which records nodes shares.

:class:`Recording` holds the node records and op definitions of the run in progress, starting
from a copy of the input tape's lists (one shallow copy per run: the input tape never changes),
and hands them over as a new :class:`~tapem.Tape` at the end. Subclasses (``Eager``,
``ShapeOnly``, ``Forward``) append records in their own ``leaf``/``op`` hot paths and call
:meth:`Recording.rule_index` for the op's index into the tape's rule list.
"""

from __future__ import annotations

from tapem.handle import Handle
from tapem.ops.opdef import OpDef
from tapem.sites import Site
from tapem.tape import HANDLE_ID, Record, Tape

__all__ = ["Recording"]


class Recording:
    """Base class of the interpreters that build a tape of records."""

    def __init__(self) -> None:
        self._nodes: list[Record] = []
        self._rules: list[OpDef] = []
        self._rule_ids: dict[OpDef, int] = {}

    def begin(self, tape: Tape, site: Site) -> None:
        self._nodes = list(tape._nodes)
        self._rules = list(tape._rules)
        self._rule_ids = {rule: k for k, rule in enumerate(self._rules)}

    def rule_index(self, rule: OpDef) -> int:
        """``rule``'s position in the tape's rule list (added on first use)."""
        index = self._rule_ids.get(rule)
        if index is None:
            index = self._rule_ids[rule] = len(self._rules)
            self._rules.append(rule)
        return index

    def gather(self, inputs: tuple[Handle, ...]) -> tuple[tuple[int, ...], list[Record]]:
        """The ids and records of an op's ``inputs``: the general path, for any number of
        inputs (the hot paths of one to three inputs are written out)."""
        ids = tuple(map(HANDLE_ID, inputs))
        return ids, list(map(self._nodes.__getitem__, ids))

    def end(self) -> Tape:
        tape = Tape._adopt(self._nodes, self._rules)
        self._nodes, self._rules, self._rule_ids = [], [], {}
        return tape
