"""The scripted interpreter: a matching script passes; the first difference fails with
ScriptMismatch showing the requests served so far."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import tapem as tm
from tapem import ops
from tapem.interpreters import ANY, Eager, Expect, Scripted, Tracing, script_from


@tm.tapem
def small(scale: float = 2.0) -> tm.Gen[tm.Handle]:
    w = yield from tm.param(np.ones((2, 3)), name="w")
    x = yield from tm.const(np.arange(3.0))
    y = yield ops.matmul(w, x)
    z = yield y * scale
    return (yield ops.sum(z))


SCRIPT = [
    Expect("leaf", name="w", requires_grad=True, shape=(2, 3), dtype="f8"),
    Expect("leaf", name=None, requires_grad=False, shape=(3,)),
    Expect("matmul", 0, 1, shape=(2,)),
    Expect("scale", 2, params={"c": 2.0}),
    Expect("sum", 3, shape=()),
]


def test_a_matching_script_passes_without_computing() -> None:
    out, tape = tm.run(small(), interpreter=Scripted(SCRIPT)).unwrap()
    assert out.id == 4 and out.shape == ()
    assert isinstance(tape.node(out).value, tm.ShapeDtype)  # served by ShapeOnly


def test_a_matching_script_can_delegate_to_eager_for_values() -> None:
    scripted = Scripted(SCRIPT, inner=Eager())
    value, grads = tm.value_and_grad(small(), interpreter=scripted)
    assert float(value) == 12.0  # 2 * (0 + 1 + 2) per row, two rows
    assert np.allclose(grads["w"], 2 * np.tile(np.arange(3.0), (2, 1)))
    assert scripted.log == (
        "%0:f64[2,3] = param 'w'",
        "%1:f64[3] = const",
        "%2:f64[2] = matmul %0 %1",
        "%3:f64[2] = scale %2 c=2.0",
        "%4:f64[] = sum %3 axis=None keepdims=False",
    )


def test_the_first_difference_fails_with_the_log_so_far() -> None:
    error = tm.run(small(scale=3.0), interpreter=Scripted(SCRIPT)).failure()
    assert isinstance(error, tm.ScriptMismatch)
    assert error.index == 3
    assert error.expected == "scale %2 c=2.0"
    assert error.got == "c=3.0"
    assert error.log == (
        "%0:f64[2,3] = param 'w'",
        "%1:f64[3] = const",
        "%2:f64[2] = matmul %0 %1",
    )
    assert error.message == (
        "request 3: expected scale %2 c=2.0, got c=3.0\n"
        "requests so far:\n"
        "  %0:f64[2,3] = param 'w'\n"
        "  %1:f64[3] = const\n"
        "  %2:f64[2] = matmul %0 %1"
    )


@pytest.mark.parametrize(
    ("script", "index", "got"),
    [
        ([Expect("add"), *SCRIPT[1:]], 0, "a leaf"),
        ([Expect("leaf", name="v"), *SCRIPT[1:]], 0, "name 'w'"),
        ([SCRIPT[0], Expect("leaf", requires_grad=True), *SCRIPT[2:]], 1, "requires_grad=False"),
        ([*SCRIPT[:2], Expect("leaf"), *SCRIPT[3:]], 2, "op matmul"),
        ([*SCRIPT[:2], Expect("matmul", 1, 0), *SCRIPT[3:]], 2, "inputs %0 %1"),
        ([*SCRIPT[:2], Expect("matmul", shape=(3,)), *SCRIPT[3:]], 2, "a response of shape (2,)"),
        ([*SCRIPT[:3], Expect("scale", params={"k": 1})], 3, "k='(no such parameter)'"),
        ([SCRIPT[0], Expect("leaf", dtype="f4"), *SCRIPT[2:]], 1, "a response of dtype float64"),
    ],
)
def test_each_kind_of_difference(script: list[Expect], index: int, got: str) -> None:
    error = tm.run(small(), interpreter=Scripted(script)).failure()
    assert isinstance(error, tm.ScriptMismatch)
    assert (error.index, error.got) == (index, got)
    assert len(error.log) == index


def test_a_program_that_ends_early_or_goes_on_too_long() -> None:
    error = tm.run(small(), interpreter=Scripted([*SCRIPT, Expect("neg", 4)])).failure()
    assert isinstance(error, tm.ScriptMismatch)
    assert (error.index, error.expected, error.got) == (5, "neg %4", "the end of the program")
    assert len(error.log) == 5
    error = tm.run(small(), interpreter=Scripted(SCRIPT[:4])).failure()
    assert isinstance(error, tm.ScriptMismatch)
    assert (error.index, error.expected) == (4, "the end of the script")
    assert error.got.startswith("Op(sum, %3:f64[2]")


def test_unchecked_fields_accept_anything() -> None:
    loose = [Expect("leaf"), Expect("leaf"), Expect("matmul"), Expect("scale"), Expect("sum")]
    assert tm.run(small(scale=5.0), interpreter=Scripted(loose)).unwrap()[0].id == 4
    assert Expect("add").inputs is ANY and Expect("add").describe() == "add"


def test_expectations_are_checked_when_made() -> None:
    with pytest.raises(ValueError, match="leaf has no inputs"):
        Expect("leaf", 0)
    with pytest.raises(ValueError, match="for leaves only"):
        Expect("add", name="x")


def test_a_recorded_trace_becomes_a_script() -> None:
    tracer = Tracing(Eager())
    tm.run(small(), interpreter=tracer).unwrap()
    script = script_from(tracer.entries)
    assert [e.describe() for e in script][2:4] == [
        "matmul %0 %1 -> shape (2,), dtype float64",
        "scale %2 c=2.0 -> shape (2,), dtype float64",
    ]
    assert tm.run(small(), interpreter=Scripted(script)).unwrap()[0].id == 4
    error = tm.run(small(scale=0.5), interpreter=Scripted(script, inner=Eager())).failure()
    assert isinstance(error, tm.ScriptMismatch) and error.index == 3


def test_the_mismatch_is_raised_into_the_program() -> None:
    seen: list[Any] = []

    @tm.tapem
    def catching() -> tm.Gen[tm.Handle]:
        x = yield from tm.param(np.ones(2))
        try:
            yield ops.neg(x)
        except tm.ScriptMismatch as error:
            seen.append(error.index)
        return (yield ops.sum(x))

    script = [Expect("leaf"), Expect("sum", 0)]
    assert tm.run(catching(), interpreter=Scripted(script)).unwrap()[0].id == 1
    assert seen == [1]
