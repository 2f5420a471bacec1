"""The observer of a trace: which leaves hold an argument's array, unchanged, and whether a
request failed on its values.

While a compiled loss is traced, its arguments' arrays are proxies
(:class:`~tapem.replay.proxy.ArgArray`). A proxy that reaches a leaf unchanged arrives in the
``Leaf`` request itself; :class:`Recorder`, wrapped around the interpreter the loss runs under,
notes the node it makes and hands the inner interpreter the real array, so the run records
exactly what it records without proxies.

A request the interpreter refuses (a forward rule's value check: ``log`` of a negative number,
a label out of range, a NaN under debugging) is raised into the program, which may catch it and
go on: then the tape depends on values, not only on the arguments' structure, and no plan may
stand for the call. The recorder notes that too (``failed``).

>>> import numpy as np
>>> import tapem as tm
>>> from tapem.interpreters import Eager
>>> from tapem.replay.proxy import ArgArray, Usage
>>> @tm.tapem
... def f(w):
...     W = yield from tm.param(w)
...     return (yield tm.ops.sum((yield W * (yield from tm.const(np.ones(2))))))
>>> recorder = Recorder(Eager())
>>> _ = tm.run(f(ArgArray(np.array([1.0, 2.0]), 0, (), Usage())), interpreter=recorder)
>>> {node: proxy.slot for node, proxy in recorder.sources.items()}, recorder.failed
({0: 0}, False)
"""

from __future__ import annotations

from typing import Any

from tapem.protocol import Interpreter, Wrapper
from tapem.replay.proxy import ArgArray
from tapem.requests import Leaf, Op, make_leaf
from tapem.sites import Site
from tapem.tape import Tape

__all__ = ["Recorder"]


class Recorder(Wrapper):
    """Forward everything to ``inner``; note each leaf made of an argument's array.

    After a run, ``sources`` maps the id of each such leaf to its proxy (which says where in
    the arguments the array is), and ``failed`` says whether the inner interpreter refused a
    request (on its values: the recording path checks the rest before asking it).
    """

    def __init__(self, inner: Interpreter) -> None:
        super().__init__(inner)
        self.sources: dict[int, ArgArray] = {}
        self.failed = False
        self._site = Site(None)

    def begin(self, tape: Tape, site: Site) -> None:
        self.sources = {}
        self.failed = False
        self._site = site
        self.inner.begin(tape, site)

    def leaf(self, request: Leaf) -> Any:
        value = request._value
        if type(value) is ArgArray:
            self.sources[self._site.node()] = value  # the id the node gets
            request = make_leaf(value.real, request._name, request._requires_grad)
        try:
            return self.inner.leaf(request)
        except BaseException:
            self.failed = True
            raise

    def op(self, request: Op, xs: tuple[Any, ...]) -> Any:
        try:
            return self.inner.op(request, xs)
        except BaseException:
            self.failed = True
            raise
