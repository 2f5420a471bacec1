"""Running a program: :func:`run`, :func:`evaluate` and :func:`execute`, the public faces of the
driver, with the eager interpreter as the default."""

from __future__ import annotations

from typing import TypeVar

from returns.result import Failure, Result

from tapem.driver import drive
from tapem.errors import TapeError
from tapem.interpreters.eager import Eager
from tapem.program import Program
from tapem.protocol import Interpreter
from tapem.tape import Tape

__all__ = ["evaluate", "execute", "run", "run_or_raise"]

T = TypeVar("T")


def run(
    program: Program[T], tape: Tape | None = None, *, interpreter: Interpreter | None = None
) -> Result[tuple[T, Tape], TapeError]:
    """Run ``program`` on ``tape`` (empty if ``None``): ``Success((value, new_tape))`` or
    ``Failure(error)``. ``tape`` itself is never changed.

    >>> import numpy as np
    >>> import tapem as tm
    >>> @tm.tapem
    ... def double(x):
    ...     X = yield from tm.const(x)
    ...     return (yield X * 2.0)
    >>> out, tape = tm.run(double(np.array([1.0, 2.0]))).unwrap()
    >>> len(tape), out.id
    (2, 1)
    >>> assert np.allclose(tape.value(out), [2.0, 4.0])
    """
    return drive(program, interpreter if interpreter is not None else Eager(), tape or Tape())


def run_or_raise(
    program: Program[T], tape: Tape | None = None, *, interpreter: Interpreter | None = None
) -> tuple[T, Tape]:
    """Like :func:`run`, but returns ``(value, new_tape)`` and raises the
    :class:`~tapem.TapeError` instead of returning ``Failure`` (for the convenience functions)."""
    result = run(program, tape, interpreter=interpreter)
    if isinstance(result, Failure):
        raise result.failure()
    return result.unwrap()


def evaluate(
    program: Program[T], tape: Tape | None = None, *, interpreter: Interpreter | None = None
) -> Result[T, TapeError]:
    """Like :func:`run`, keeping only the program's return value."""
    return run(program, tape, interpreter=interpreter).map(lambda pair: pair[0])


def execute(
    program: Program[T], tape: Tape | None = None, *, interpreter: Interpreter | None = None
) -> Result[Tape, TapeError]:
    """Like :func:`run`, keeping only the new tape."""
    return run(program, tape, interpreter=interpreter).map(lambda pair: pair[1])
