"""Interpreters: the same program, run different ways. Pass one to ``tm.run(..., interpreter=)``.

Wrap them to combine them: ``Tracing(Debugging(Eager()))``.
"""

from tapem.interpreters.debugging import DebugEvent, Debugging, NonFiniteWarning
from tapem.interpreters.eager import Eager
from tapem.interpreters.forward import Forward
from tapem.interpreters.scripted import ANY, Expect, Scripted, script_from
from tapem.interpreters.shape_only import ShapeOnly
from tapem.interpreters.tracing import TraceEntry, Tracing
from tapem.protocol import Interpreter, Wrapper
from tapem.sites import Site

__all__ = [
    "ANY",
    "DebugEvent",
    "Debugging",
    "Eager",
    "Expect",
    "Forward",
    "Interpreter",
    "NonFiniteWarning",
    "Scripted",
    "ShapeOnly",
    "Site",
    "TraceEntry",
    "Tracing",
    "Wrapper",
    "script_from",
]
