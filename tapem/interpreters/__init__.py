"""Interpreters: the same program, run different ways. Pass one to ``tm.run(..., interpreter=)``."""

from tapem.interpreters.eager import Eager
from tapem.interpreters.forward import Forward
from tapem.interpreters.protocol import Interpreter, Site, Wrapper

__all__ = ["Eager", "Forward", "Interpreter", "Site", "Wrapper"]
