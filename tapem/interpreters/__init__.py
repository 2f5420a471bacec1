"""Interpreters: the same program, run different ways. Pass one to ``tm.run(..., interpreter=)``."""

from tapem.interpreters.eager import Eager
from tapem.interpreters.protocol import Interpreter, Site, Wrapper

__all__ = ["Eager", "Interpreter", "Site", "Wrapper"]
