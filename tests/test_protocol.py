"""The Interpreter protocol from a user's side: an interpreter written from scratch, wrappers
over interpreters written without the optional ``check``, and the driver's use of ``end``."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import tapem as tm
from tapem import ops
from tapem.interpreters import Debugging, Eager, Interpreter, Site, Tracing, Wrapper


class Lines:
    """A from-scratch interpreter (no Wrapper): delegates by hand and remembers the sites."""

    def __init__(self) -> None:
        self.eager = Eager()
        self.lines: list[int] = []
        self.ids: list[int] = []

    def begin(self, tape: tm.Tape, site: Site) -> None:
        self.site = site
        self.lines = []
        self.eager.begin(tape, site)

    def leaf(self, request: tm.Leaf) -> Any:
        self.lines.append(self.site().line)  # type: ignore[union-attr]
        self.ids.append(self.site.node())
        return self.eager.leaf(request)

    def op(self, request: tm.Op, xs: tuple[Any, ...]) -> Any:
        self.lines.append(self.site().line)  # type: ignore[union-attr]
        self.ids.append(self.site.node())
        return self.eager.op(request, xs)

    def end(self, tape: tm.Tape) -> None:
        self.eager.end(tape)

    def backward(self, tape: tm.Tape, out: int, seed: Any, check: Any = None) -> list[Any]:
        return self.eager.backward(tape, out, seed, check)


class OldStyle(Eager):
    """An interpreter whose ``backward`` predates the ``check`` parameter."""

    def backward(self, tape: tm.Tape, out: int, seed: Any) -> list[Any]:  # type: ignore[override]
        return super().backward(tape, out, seed)


@tm.tapem
def loss() -> tm.Gen[tm.Handle]:
    x = yield from tm.param(np.array([1.0, 2.0]), name="x")
    y = yield ops.sin(x)
    return (yield ops.sum(y))


def test_a_user_interpreter_satisfies_the_protocol_and_composes() -> None:
    recording = Lines()
    assert isinstance(recording, Interpreter)
    tracer = Tracing(recording)
    value, grads = tm.value_and_grad(loss(), interpreter=tracer)
    assert np.isclose(value, np.sin(1) + np.sin(2)) and np.allclose(grads["x"], np.cos([1, 2]))
    first = loss.__tapem_generator__.__code__.co_firstlineno  # type: ignore[attr-defined]
    assert recording.lines == [first + 2, first + 3, first + 4]  # first: the decorator
    assert [e.location.line for e in tracer.entries] == recording.lines  # type: ignore[union-attr]
    assert recording.ids == [0, 1, 2] == [e.out for e in tracer.entries]


def test_wrappers_serve_an_inner_backward_without_check() -> None:
    tracer = Tracing(OldStyle())
    _, grads = tm.value_and_grad(loss(), interpreter=tracer)
    assert np.allclose(grads["x"], np.cos([1, 2])) and tracer.grads is not None
    with pytest.raises(TypeError):  # debugging needs the check: a clear Python error
        tm.value_and_grad(loss(), interpreter=Debugging(OldStyle()))


def test_an_error_from_end_is_a_failure_not_an_exception() -> None:
    class Refusing(Wrapper):
        def end(self, tape: tm.Tape) -> None:
            raise tm.InvalidArgument("refused")

    result = tm.run(loss(), interpreter=Refusing(Eager()))
    assert isinstance(result.failure(), tm.InvalidArgument)
