"""The interpreter interface: how a program's requests become nodes.

The driver (:mod:`tapem.driver`) is the only code that advances a program's generator. For each
run it calls ``begin`` once, then ``leaf`` or ``op`` for every request, then ``end`` if the
program returned. An interpreter instance serves one run at a time and may be reused; state
from a run that failed is discarded by the next ``begin``. ``backward`` runs the reverse pass
over a tape this interpreter built.

Interpreters compose by wrapping: :class:`Wrapper` forwards every hook to an inner
interpreter, and a subclass overrides the hooks it cares about (``Tracing(Debugging(Eager()))``).

A minimal interpreter of your own, counting the ops an inner interpreter records:

>>> import numpy as np
>>> import tapem as tm
>>> from tapem.interpreters import Eager, Wrapper
>>> class Counting(Wrapper):
...     def begin(self, tape, site):
...         self.count = 0
...         super().begin(tape, site)
...     def op(self, request):
...         self.count += 1
...         return super().op(request)
>>> @tm.tapem
... def f():
...     x = yield from tm.param(np.array([1.0, 2.0]))
...     y = yield x * x
...     return (yield tm.ops.sum(y))
>>> counting = Counting(Eager())
>>> value, grads = tm.value_and_grad(f(), interpreter=counting)
>>> assert counting.count == 2 and float(value) == 5.0
>>> assert isinstance(counting, tm.interpreters.Interpreter)
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from tapem.backward import CotangentCheck
from tapem.handle import Handle
from tapem.requests import Leaf, Op
from tapem.sites import Site
from tapem.tape import Tape

__all__ = ["Interpreter", "Site", "Wrapper"]


@runtime_checkable
class Interpreter(Protocol):
    """What :func:`tapem.run` needs from an interpreter.

    * ``begin(tape, site)`` starts a run that extends ``tape``, which must not be changed.
      ``site`` tells where the program is: ``site()`` is the user's
      :class:`~tapem.SourceLocation` of the request being interpreted, ``site.raw()`` its cheap
      unformatted form (see :mod:`tapem.sites`). Both are valid only during ``leaf``/``op``.
    * ``leaf(request)`` / ``op(request)`` record one node and return its :class:`~tapem.Handle`,
      whose ``id`` is the node's position on the tape ``end`` will return. To reject a request,
      raise a :class:`~tapem.TapeError` (the driver adds the user's line and raises it into the
      program at its ``yield``); record nothing for a request that fails. Any other exception
      is treated as a bug and is also raised into the program.
    * ``end()`` is called once the program has returned, and returns the extended tape. It may
      raise a ``TapeError`` too (``run`` then returns ``Failure``).
    * ``backward(tape, out, seed, check=None)`` returns the cotangent of every node
      ``0..out`` (``None`` where none arrived) for ``seed`` at ``out``, calling
      ``check(node_id, parent_id, cotangent)`` on each cotangent a VJP produces.
      :func:`tapem.backward.reverse` does exactly this for tapes of numpy values.
    """

    def begin(self, tape: Tape, site: Site) -> None:
        """Start a run that extends ``tape`` (which must not be changed)."""

    def leaf(self, request: Leaf) -> Handle:
        """Record a leaf and return its handle."""

    def op(self, request: Op) -> Handle:
        """Record one op and return its handle, or raise a :class:`~tapem.TapeError`."""

    def end(self) -> Tape:
        """Finish a successful run and return the extended tape."""

    def backward(
        self, tape: Tape, out: int, seed: Any, check: CotangentCheck | None = None
    ) -> list[Any]:
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

    def backward(
        self, tape: Tape, out: int, seed: Any, check: CotangentCheck | None = None
    ) -> list[Any]:
        if check is None:  # also serves inner interpreters written without ``check``
            return self.inner.backward(tape, out, seed)
        return self.inner.backward(tape, out, seed, check)
