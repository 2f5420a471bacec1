"""The driver: the one loop that advances a program's generator.

For each request the program yields, the driver has the recording path
(:mod:`tapem.recording`) make the node, with the interpreter's value, and sends the handle
back. When that raises a :class:`~tapem.TapeError`, the driver records the user's source line
on it and raises it **into the program at that yield**, so the program may catch it and the
traceback ends on the user's line. An error that escapes the program becomes
``Failure(error)``; the generator is closed and the input tape is untouched.

The driver knows only the interpreter protocol (:mod:`tapem.protocol`); :func:`tapem.run`
(in :mod:`tapem.transforms`) picks the default interpreter.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Generator
from typing import Any, TypeVar, cast

from returns.result import Failure, Result, Success

from tapem import collector
from tapem.errors import NotAHandle, TapeError
from tapem.program import Program
from tapem.protocol import Interpreter
from tapem.recording import Recording
from tapem.requests import Leaf, Op
from tapem.sites import locate, location_from_traceback
from tapem.tape import Tape

__all__ = ["drive"]

T = TypeVar("T")

_GENERATOR_OPERAND = re.compile(r"operand type\(s\) for .*'(generator|Program)'")
"""Python's message for arithmetic on a sub-program that was not run (a missing yield from)."""


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


def drive(
    program: Program[T],
    interpreter: Interpreter,
    tape: Tape,
    *,
    check_result: Callable[[Any], TapeError | None] | None = None,
) -> Result[tuple[T, Tape], TapeError]:
    """Run ``program`` under ``interpreter``, extending ``tape``. The only generator driver.

    ``check_result(value)`` may refuse what the program returned with an error, which is
    placed at the line of the program's ``return``.
    """
    with collector.paused():  # records are acyclic: see tapem.collector
        return _drive(program, interpreter, tape, check_result)


def _drive(
    program: Program[T],
    interpreter: Interpreter,
    tape: Tape,
    check_result: Callable[[Any], TapeError | None] | None,
) -> Result[tuple[T, Tape], TapeError]:
    gen = _start(program)
    frame = cast(Any, gen).gi_frame  # kept: after the program returns, it shows the return
    recording = Recording(tape, interpreter, gen)
    site = recording.site
    interpreter.begin(tape, site)
    leaf, op, other = recording.leaf, recording.op, recording.request
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
                    response = other(request)
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
        refused = None if check_result is None else check_result(stop.value)
        if refused is not None:
            refused.location = locate((frame.f_code, frame.f_lasti))
            return Failure(refused)
        result = recording.finish()
        try:  # an interpreter may still refuse the finished run (e.g. unused tangents)
            interpreter.end(result)
        except TapeError as error:
            return Failure(error)
        return Success((stop.value, result))
    except TapeError as error:
        if error.location is None:
            error.location = location_from_traceback(error.__traceback__)
        return Failure(error)
    except TypeError as error:
        if not _GENERATOR_OPERAND.search(str(error)):
            raise
        missing = NotAHandle(
            f"{error}: a sub-program was used as a value; run it with `yield from` to get its "
            "handle, e.g. `W = yield from tm.param(w)`, `h = yield from layer(x)`"
        )
        missing.location = location_from_traceback(error.__traceback__)
        return Failure(missing)
    finally:
        gen.close()
        recording.release()
