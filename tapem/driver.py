"""The driver: the one loop that advances a program's generator, and the ``run`` functions.

For each request the program yields, the driver asks the interpreter for a handle and sends it
back. When the interpreter raises a :class:`~tapem.TapeError`, the driver records the user's
source line on it and raises it **into the program at that yield**, so the program may catch it
and the traceback ends on the user's line. An error that escapes the program becomes
``Failure(error)``; the generator is closed and the input tape is untouched.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any, TypeVar

from returns.result import Failure, Result, Success

from tapem import collector
from tapem.errors import InvalidRequest, TapeError
from tapem.interpreters.eager import Eager
from tapem.interpreters.protocol import Interpreter
from tapem.program import Program
from tapem.requests import Leaf, Op
from tapem.sites import Site, location_from_traceback
from tapem.tape import Tape

__all__ = ["evaluate", "execute", "run", "run_or_raise"]

T = TypeVar("T")


def _start(program: object) -> Generator[Any, Any, Any]:
    if not isinstance(program, Program):
        hint = ""
        if isinstance(program, Generator):
            hint = "; decorate the generator function with @tm.tapem so it can be re-run"
        raise TypeError(f"expected a tapem Program, got {type(program).__name__}{hint}")
    gen = program.__iter__()  # not iter(): it would reject a non-generator before we explain
    if not isinstance(gen, Generator):
        raise TypeError(
            f"{program.name} returned a {type(gen).__name__}, not a generator: a tapem program "
            "must `yield` its requests (did it forget a `yield`?)"
        )
    return gen


def _not_a_request(obj: object) -> InvalidRequest:
    if isinstance(obj, (Program, Generator)):
        return InvalidRequest(
            obj, "use `yield from` to run a sub-program, e.g. `yield from tm.param(w)`"
        )
    return InvalidRequest(obj)


def drive(
    program: Program[T], interpreter: Interpreter, tape: Tape
) -> Result[tuple[T, Tape], TapeError]:
    """Run ``program`` under ``interpreter``, extending ``tape``. The only generator driver."""
    with collector.paused():  # records are acyclic: see tapem.collector
        return _drive(program, interpreter, tape)


def _drive(
    program: Program[T], interpreter: Interpreter, tape: Tape
) -> Result[tuple[T, Tape], TapeError]:
    gen = _start(program)
    site = Site(gen)
    interpreter.begin(tape, site)
    leaf, op = interpreter.leaf, interpreter.op
    send = gen.send
    try:
        request = next(gen)
        while True:
            try:
                cls = request.__class__
                if cls is Op:
                    response = op(request)
                elif cls is Leaf:
                    response = leaf(request)
                else:
                    raise _not_a_request(request)
            except TapeError as error:
                if error.location is None:
                    error.location = site()
                request = gen.throw(error.with_traceback(None))
                continue
            except Exception as error:  # a bug in a rule: still raised at the user's line
                request = gen.throw(error)
                continue
            request = send(response)
    except StopIteration as stop:
        try:  # an interpreter may still refuse the finished run (e.g. unused tangents)
            return Success((stop.value, interpreter.end()))
        except TapeError as error:
            return Failure(error)
    except TapeError as error:
        if error.location is None:
            error.location = location_from_traceback(error.__traceback__)
        return Failure(error)
    finally:
        gen.close()


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
