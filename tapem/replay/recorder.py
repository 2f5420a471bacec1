"""The observer of a trace: which leaves hold an argument's array, unchanged.

While a compiled loss is traced, its arguments' arrays are proxies
(:class:`~tapem.replay.proxy.ArgArray`). A proxy that reaches a leaf unchanged arrives in the
``Leaf`` request itself; :class:`Recorder`, wrapped around the interpreter the loss runs under,
notes the node it makes and hands the inner interpreter the real array, so the run records
exactly what it records without proxies.
"""

from __future__ import annotations

from collections.abc import Sized
from typing import Any

from tapem.protocol import Interpreter, Wrapper
from tapem.replay.proxy import ArgArray
from tapem.requests import Leaf
from tapem.sites import Site
from tapem.tape import Tape

__all__ = ["Recorder"]

_new = tuple.__new__


class Recorder(Wrapper):
    """Forward everything to ``inner``; note each leaf made of an argument's array.

    After a run, ``sources`` maps the id of each such leaf to its proxy (which says where in
    the arguments the array is).
    """

    def __init__(self, inner: Interpreter) -> None:
        super().__init__(inner)
        self.sources: dict[int, ArgArray] = {}
        self._nodes: Sized = ()

    def begin(self, tape: Tape, site: Site) -> None:
        self.sources = {}
        self._nodes = site.nodes
        self.inner.begin(tape, site)

    def leaf(self, request: Leaf) -> Any:
        value = request[0]
        if type(value) is ArgArray:
            self.sources[len(self._nodes)] = value  # the id the node gets
            request = _new(Leaf, (value.real, request[1], request[2]))
        return self.inner.leaf(request)
