"""The interpreter interface: how a program's requests become nodes.

The driver (:mod:`tapem.driver`) is the only code that advances a program's generator. For each
run it calls ``begin`` once, then ``leaf`` or ``op`` for every request, then ``end`` if the
program returned. An interpreter instance serves one run at a time and may be reused.
``backward`` runs the reverse pass over a tape this interpreter built.

Interpreters compose by wrapping: :class:`Wrapper` forwards every hook to an inner
interpreter, and a subclass overrides the hooks it cares about.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

from tapem.errors import SourceLocation
from tapem.handle import Handle
from tapem.requests import Leaf, Op
from tapem.tape import Tape

__all__ = ["Interpreter", "Site", "Wrapper"]

Site = Callable[[], SourceLocation | None]
"""Returns the user's source line of the request being interpreted (computed on demand)."""


@runtime_checkable
class Interpreter(Protocol):
    """What :func:`tapem.run` needs from an interpreter."""

    def begin(self, tape: Tape, site: Site) -> None:
        """Start a run that extends ``tape`` (which must not be changed)."""

    def leaf(self, request: Leaf) -> Handle:
        """Record a leaf and return its handle."""

    def op(self, request: Op) -> Handle:
        """Record one op and return its handle, or raise a :class:`~tapem.TapeError`."""

    def end(self) -> Tape:
        """Finish a successful run and return the extended tape."""

    def backward(self, tape: Tape, out: int, seed: Any) -> list[Any]:
        """Cotangents of nodes ``0..out`` (``None`` where none arrived) for ``seed`` at ``out``."""


class Wrapper:
    """An interpreter that forwards every hook to ``inner``; subclasses override some."""

    def __init__(self, inner: Interpreter) -> None:
        self.inner = inner

    def begin(self, tape: Tape, site: Site) -> None:
        self.inner.begin(tape, site)

    def leaf(self, request: Leaf) -> Handle:
        return self.inner.leaf(request)

    def op(self, request: Op) -> Handle:
        return self.inner.op(request)

    def end(self) -> Tape:
        return self.inner.end()

    def backward(self, tape: Tape, out: int, seed: Any) -> list[Any]:
        return self.inner.backward(tape, out, seed)
