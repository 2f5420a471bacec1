"""Interpreters: the same program, run different ways. Pass one to ``tm.run(..., interpreter=)``.

Wrap them to combine them: ``Tracing(Debugging(Eager()))``.
"""

from tapem.interpreters.eager import Eager
from tapem.interpreters.protocol import Interpreter, Site, Wrapper
from tapem.interpreters.shape_only import ShapeOnly
from tapem.interpreters.tracing import TraceEntry, Tracing

__all__ = [
    "Eager",
    "Interpreter",
    "ShapeOnly",
    "Site",
    "TraceEntry",
    "Tracing",
    "Wrapper",
]
