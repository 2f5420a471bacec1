"""The interpreter interface: what an interpreter says about a run, and how interpreters wrap.

The recording path (:mod:`tapem.recording`) turns every request into a node: it fetches the
inputs by id, checks them, interns the op and appends the record. An interpreter only says
**what value each new node holds**:

* ``begin(tape, site)``: a run starts that extends ``tape`` (which must not be changed).
  ``site()`` is the user's :class:`~tapem.SourceLocation` of the request being interpreted,
  ``site.raw()`` its cheap unformatted form, and ``site.node()`` the id the request's node
  will get (see :mod:`tapem.sites`); all three are valid only inside ``leaf``/``op``.
* ``leaf(request) -> value``: the value a :class:`~tapem.Leaf` records (eager: the array,
  copied unless immutable; shape-only: its shape and dtype; forward mode: a dual number).
* ``op(request, xs) -> value``: the value an :class:`~tapem.Op` records, given its inputs'
  values ``xs`` (a tuple, in argument order). The request is resolved and checked: its
  ``rule`` is an op definition, its ``args`` are bound, its inputs are this run's handles.
  To refuse a request, raise a :class:`~tapem.TapeError`: nothing is recorded, and the driver
  raises the error into the program at its ``yield``, with the user's line.
* ``end(tape)``: the program returned and ``tape`` is the result; raise a ``TapeError`` to
  refuse the run (``run`` then returns ``Failure``).
* optionally, ``refused(request, error)``: the recording path refused an op request before
  asking for its value (an input that is not a handle of this run, a wrong number of inputs, a
  shape that does not fit): nothing is recorded, and ``error`` goes to the program next. The
  tracing interpreter lists such requests.
* ``backward(tape, out, seed, check=None)``: the cotangent of every node ``0..out`` (``None``
  where none arrived) for ``seed`` at ``out``, calling ``check(node_id, parent_id,
  cotangent)`` on each cotangent a VJP produces. :func:`tapem.backward.reverse` is that loop.

An interpreter serves one run at a time and may be reused; ``begin`` starts afresh.
Interpreters compose by wrapping: :class:`Wrapper` forwards every hook to ``inner``, and a
subclass overrides the hooks it cares about (``Tracing(Debugging(Eager()))``).

A minimal interpreter of your own, counting the ops an inner interpreter evaluates:

>>> import numpy as np
>>> import tapem as tm
>>> from tapem.interpreters import Eager, Wrapper
>>> class Counting(Wrapper):
...     def begin(self, tape, site):
...         self.count = 0
...         super().begin(tape, site)
...     def op(self, request, xs):
...         self.count += 1
...         return super().op(request, xs)
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
from tapem.errors import TapeError
from tapem.requests import Leaf, Op
from tapem.sites import Site
from tapem.tape import Tape

__all__ = ["Interpreter", "Wrapper"]


@runtime_checkable
class Interpreter(Protocol):
    """What :func:`tapem.run` needs from an interpreter (see the module docstring)."""

    def begin(self, tape: Tape, site: Site) -> None:
        """Start a run that extends ``tape`` (which must not be changed)."""

    def leaf(self, request: Leaf) -> Any:
        """The value a leaf records."""

    def op(self, request: Op, xs: tuple[Any, ...]) -> Any:
        """The value an op records, from its inputs' values ``xs``; or raise a
        :class:`~tapem.TapeError`."""

    def end(self, tape: Tape) -> None:
        """The run finished with ``tape``; raise a :class:`~tapem.TapeError` to refuse it."""

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

    def leaf(self, request: Leaf) -> Any:
        return self.inner.leaf(request)

    def op(self, request: Op, xs: tuple[Any, ...]) -> Any:
        return self.inner.op(request, xs)

    def end(self, tape: Tape) -> None:
        self.inner.end(tape)

    def refused(self, request: Op, error: TapeError) -> None:
        inner = getattr(self.inner, "refused", None)
        if inner is not None:
            inner(request, error)

    def backward(
        self, tape: Tape, out: int, seed: Any, check: CotangentCheck | None = None
    ) -> list[Any]:
        if check is None:  # also serves inner interpreters written without ``check``
            return self.inner.backward(tape, out, seed)
        return self.inner.backward(tape, out, seed, check)
