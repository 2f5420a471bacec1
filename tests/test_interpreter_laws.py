"""Laws of the interpreters, over random programs built from the op table (random_programs.py).

* Tracing is transparent: the same step outcomes, tape, value and gradients as the interpreter
  it wraps (and so is Debugging in warn mode); its entries describe the tape it recorded.
* Tracing twice is tracing once: both tracers record what a single tracer records.
* Shape-only and eager agree on every step's shape and dtype, and on which request fails and
  with which error type.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
from hypothesis import HealthCheck, given, settings
from random_programs import Outcome, Spec, program, specs

import tapem as tm
from tapem.interpreters import (
    Debugging,
    Eager,
    Interpreter,
    NonFiniteWarning,
    ShapeOnly,
    TraceEntry,
    Tracing,
)

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def run_spec(spec: Spec, interpreter: Interpreter) -> tuple[list[Outcome], tm.Handle, tm.Tape]:
    log: list[Outcome] = []
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", NonFiniteWarning)
        out, tape = tm.run(program(spec, log), interpreter=interpreter).unwrap()
    return log, out, tape


def gradients(spec: Spec, interpreter: Interpreter) -> tuple[Any, list[Any]]:
    """The value and the full cotangent list of a reverse pass through ``interpreter``."""
    _, out, tape = run_spec(spec, interpreter)
    seed = np.ones((), dtype=tape.node(out).dtype)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", NonFiniteWarning)
        return tape.value(out), interpreter.backward(tape, out.id, seed)


def same_array(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return a is None and b is None
    a, b = np.asarray(a), np.asarray(b)
    return a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a, b, equal_nan=True)


def assert_same_tape(a: tm.Tape, b: tm.Tape) -> None:
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        assert (x.op, x.name, x.requires_grad, x.parents) == (
            y.op,
            y.name,
            y.requires_grad,
            y.parents,
        )
        assert x.args == y.args
        assert same_array(x.value, y.value)


def without_errors(entries: list[TraceEntry]) -> list[Any]:
    """Entries comparable across runs: each error replaced by its type."""
    return [e._replace(error=type(e.error)) for e in entries]


Make = Callable[[], Interpreter]


def check_transparent(spec: Spec, wrap: Callable[[Interpreter], Interpreter]) -> None:
    log, out, tape = run_spec(spec, Eager())
    wrapped_log, wrapped_out, wrapped_tape = run_spec(spec, wrap(Eager()))
    assert wrapped_log == log
    assert wrapped_out.id == out.id
    assert_same_tape(wrapped_tape, tape)
    value, grads = gradients(spec, Eager())
    wrapped_value, wrapped_grads = gradients(spec, wrap(Eager()))
    assert same_array(wrapped_value, value)
    assert len(wrapped_grads) == len(grads)
    assert all(same_array(g, h) for g, h in zip(wrapped_grads, grads, strict=True))


@SETTINGS
@given(spec=specs())
def test_tracing_is_transparent(spec: Spec) -> None:
    check_transparent(spec, Tracing)
    check_transparent(spec, lambda inner: Tracing(inner, values=True))


@SETTINGS
@given(spec=specs())
def test_debugging_in_warn_mode_is_transparent(spec: Spec) -> None:
    check_transparent(spec, lambda inner: Debugging(inner, warn=True))


@SETTINGS
@given(spec=specs())
def test_trace_entries_describe_the_tape(spec: Spec) -> None:
    tracer = Tracing(Eager(), values=True)
    log, _, tape = run_spec(spec, tracer)
    entries = tracer.entries
    recorded = [e for e in entries if e.out is not None]
    assert [e.out for e in recorded] == list(range(len(tape)))
    for e in recorded:
        node = tape.node(e.out)
        assert (e.op, e.inputs, e.shape, e.dtype) == (node.op, node.parents, node.shape, node.dtype)
        assert e.params == tuple(node.params.items())
        assert same_array(e.value, node.value)
        if e.op == "leaf":
            assert (e.name, e.requires_grad) == (node.name, node.requires_grad)
    failed = [type(e.error) for e in entries if e.out is None]
    assert failed == [outcome[1] for outcome in log if len(outcome) == 2]


@SETTINGS
@given(spec=specs())
def test_tracing_twice_is_tracing_once(spec: Spec) -> None:
    once = Tracing(Eager())
    _, _, tape_once = run_spec(spec, once)
    inner = Tracing(Eager())
    outer = Tracing(inner)
    _, _, tape_twice = run_spec(spec, outer)
    assert_same_tape(tape_twice, tape_once)
    assert outer.entries == inner.entries  # one run: the very same error objects
    assert without_errors(outer.entries) == without_errors(once.entries)
    assert outer.listing() == once.listing()
    assert outer.dot() == once.dot()


@SETTINGS
@given(spec=specs(max_steps=14))
def test_shape_only_agrees_with_eager(spec: Spec) -> None:
    log, out, tape = run_spec(spec, Eager())
    abstract_log, abstract_out, abstract_tape = run_spec(spec, ShapeOnly())
    assert abstract_log == log  # every step: the same shape and dtype, or the same error type
    assert abstract_out.id == out.id
    assert len(abstract_tape) == len(tape)
    for node, abstract in zip(tape, abstract_tape, strict=True):
        assert isinstance(abstract.value, tm.ShapeDtype)
        assert (abstract.shape, abstract.dtype) == (node.shape, node.dtype)
        assert (abstract.op, abstract.parents, abstract.requires_grad) == (
            node.op,
            node.parents,
            node.requires_grad,
        )


def test_the_generated_programs_fail_often_enough_to_matter() -> None:
    """A guard on the generator itself: the laws above must see failures of several types
    and successes of many ops, or they would check little."""
    outcomes: list[Outcome] = []
    ops_seen: set[str] = set()

    @given(spec=specs())
    @settings(max_examples=200, deadline=None, database=None)
    def collect(spec: Spec) -> None:
        log, _, _ = run_spec(spec, Eager())
        outcomes.extend(log)
        ops_seen.update(spec.steps[k].op for k, *rest in log if len(rest) == 2)

    collect()
    failures = {o[1] for o in outcomes if len(o) == 2}
    successes = sum(1 for o in outcomes if len(o) == 3)
    assert {tm.ShapeMismatch}.issubset(failures)
    assert successes > len(outcomes) // 4
    assert len(ops_seen) >= 20, sorted(ops_seen)
