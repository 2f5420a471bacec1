"""The debugging interpreter: the first NaN/Inf, forward or backward, with its op, node, pass
and the user line that created the node; warn mode; the per-request callback."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import tapem as tm
from tapem import ops
from tapem.interpreters import DebugEvent, Debugging, Eager, NonFiniteWarning, ShapeOnly, Tracing

HERE = Path(__file__).resolve()


@pytest.fixture(autouse=True)
def _quiet_numpy() -> Any:
    with np.errstate(all="ignore"):  # numpy's own notes about 0/0; these tests expect them
        yield


def line_with(marker: str) -> int:
    lines = HERE.read_text().splitlines()
    matches = [i for i, line in enumerate(lines, start=1) if line.rstrip().endswith(marker)]
    assert len(matches) == 1, marker
    return matches[0]


@tm.tapem
def nan_forward() -> tm.Gen[tm.Handle]:
    zero = yield from tm.param(np.zeros(2), name="zero")  # node 0
    one = yield from tm.const(np.ones(2))  # node 1
    shifted = yield one * zero  # node 2: [0, 0], fine
    ratio = yield zero / shifted  # <- forward NaN (node 3: 0/0)
    root = yield ops.sqrt(ratio)  # node 4: NaN too, but not the first
    return (yield ops.sum(root))


@tm.tapem
def inf_backward() -> tm.Gen[tm.Handle]:
    x = yield from tm.param(np.array([0.0, 2.0]), name="x")  # node 0
    square = yield x * x  # node 1: [0, 4]
    root = yield square**0.5  # <- backward Inf (node 2: d/ds s^0.5 is infinite at 0)
    return (yield ops.sum(root))  # node 3; its gradient at x = 0 is inf * 0 = NaN


def test_a_nan_in_the_forward_pass_names_the_op_node_and_line() -> None:
    result = tm.run(nan_forward(), interpreter=Debugging(Eager()))
    error = result.failure()
    assert isinstance(error, tm.NonFinite)
    assert (error.op, error.node_id, error.phase) == ("div", 3, "forward")
    assert error.created_at is not None and error.created_at == error.location
    assert (error.created_at.line, error.created_at.function) == (
        line_with("# <- forward NaN (node 3: 0/0)"),
        "nan_forward",
    )
    message = str(error)
    assert "forward pass at node 3 (div)" in message and "2 NaN and 0 Inf" in message
    assert f"test_debugging.py:{error.created_at.line} in nan_forward" in message


def test_the_error_is_raised_into_the_program_at_its_yield() -> None:
    caught: list[tm.NonFinite] = []

    @tm.tapem
    def catching() -> tm.Gen[tm.Handle]:
        zero = yield from tm.param(np.array(0.0))
        try:
            return (yield zero / zero)
        except tm.NonFinite as error:
            caught.append(error)
            return (yield zero * 1.0)

    out, tape = tm.run(catching(), interpreter=Debugging(Eager())).unwrap()
    # nothing is recorded for a request that fails: the op after it takes the same id
    assert len(caught) == 1 and caught[0].node_id == 1 and out.id == 1
    assert tape.node(out).op == "scale"


def test_a_nan_leaf_is_reported_as_a_leaf() -> None:
    @tm.tapem
    def bad_data() -> tm.Gen[tm.Handle]:
        x = yield from tm.const(np.array([1.0, np.inf]))  # <- leaf Inf
        return (yield ops.sum(x))

    error = tm.run(bad_data(), interpreter=Debugging(Eager())).failure()
    assert isinstance(error, tm.NonFinite)
    assert (error.op, error.node_id, error.phase) == ("leaf", 0, "forward")
    assert error.created_at is not None and error.created_at.line == line_with("# <- leaf Inf")


def test_an_inf_that_appears_only_in_the_backward_pass() -> None:
    debugging = Debugging(Eager())
    value = tm.evaluate(inf_backward(), interpreter=debugging).unwrap()
    assert value.id == 3  # the forward pass is clean
    with pytest.raises(tm.NonFinite) as info:
        tm.value_and_grad(inf_backward(), interpreter=debugging)
    error = info.value
    assert (error.op, error.node_id, error.phase, error.input_id) == ("pow", 2, "backward", 1)
    assert error.created_at is not None and error.created_at == error.location
    assert (error.created_at.line, error.created_at.function) == (
        line_with("# <- backward Inf (node 2: d/ds s^0.5 is infinite at 0)"),
        "inf_backward",
    )
    assert "backward pass at node 2 (pow)" in str(error) and "input 0 (node 1)" in str(error)


def test_without_debugging_the_same_programs_run_silently_to_nan() -> None:
    """The reference behaviour the debugging interpreter guards against."""
    with np.errstate(all="ignore"):
        value, _ = tm.value_and_grad(nan_forward())
        assert np.isnan(value)
        _, grads = tm.value_and_grad(inf_backward())
    assert np.isnan(grads["x"][0]) and grads["x"][1] == 1.0


def test_warn_mode_warns_once_per_pass_at_the_users_line() -> None:
    debugging = Debugging(Eager(), warn=True)
    with pytest.warns(NonFiniteWarning) as record:
        value, _ = tm.value_and_grad(nan_forward(), interpreter=debugging)
    assert np.isnan(value)
    forward = [w for w in record if w.message.error.phase == "forward"]  # type: ignore[union-attr]
    assert len(forward) == 1  # nodes 3, 4 and 5 are NaN; the first is reported
    warning = forward[0]
    assert warning.lineno == line_with("# <- forward NaN (node 3: 0/0)")
    assert Path(warning.filename) == HERE
    assert warning.message.error.node_id == 3  # type: ignore[union-attr]
    with pytest.warns(NonFiniteWarning, match="backward pass at node 2 \\(pow\\)"):
        tm.value_and_grad(inf_backward(), interpreter=debugging)


def test_warn_mode_can_be_escalated_with_the_warnings_filter() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", NonFiniteWarning)
        with pytest.raises(NonFiniteWarning):
            tm.run(nan_forward(), interpreter=Debugging(Eager(), warn=True))


def test_the_callback_sees_every_new_node_in_order() -> None:
    events: list[DebugEvent] = []
    debugging = Debugging(Eager(), callback=events.append)
    tm.run(inf_backward(), interpreter=debugging).unwrap()
    assert [e.index for e in events] == [0, 1, 2, 3]
    assert [e.handle.id for e in events] == [0, 1, 2, 3]
    assert isinstance(events[0].request, tm.Leaf) and events[2].request.op == "pow"
    assert events[1].value.tolist() == [0.0, 4.0]
    where = events[2].location
    assert where is not None and where.line == line_with(
        "# <- backward Inf (node 2: d/ds s^0.5 is infinite at 0)"
    )


def test_the_callback_runs_before_the_check() -> None:
    values: list[Any] = []
    debugging = Debugging(Eager(), callback=lambda event: values.append(event.value))
    error = tm.run(nan_forward(), interpreter=debugging).failure()
    assert isinstance(error, tm.NonFinite) and np.isnan(values[-1]).all() and len(values) == 4


def test_creation_sites_are_found_when_the_run_extends_a_tape() -> None:
    # The run's nodes start at the input tape's length; their sites must still line up.
    _, start = tm.run(nan_forward()).unwrap()
    debugging = Debugging(Eager())
    out, tape = tm.run(inf_backward(), start, interpreter=debugging).unwrap()
    with pytest.raises(tm.NonFinite) as info:
        debugging.backward(tape, out.id, np.ones(()))
    error = info.value
    assert (error.op, error.node_id) == ("pow", len(start) + 2)
    assert error.created_at is not None
    assert error.created_at.line == line_with(
        "# <- backward Inf (node 2: d/ds s^0.5 is infinite at 0)"
    )


def test_a_tape_from_elsewhere_has_no_creation_sites() -> None:
    _, tape = tm.run(inf_backward()).unwrap()
    with pytest.raises(tm.NonFinite, match="creation site is unknown") as info:
        Debugging(Eager()).backward(tape, 3, np.ones(()))
    assert info.value.created_at is None and info.value.node_id == 2


def test_a_non_finite_seed_is_reported() -> None:
    debugging = Debugging(Eager())
    _, tape = tm.run(inf_backward(), interpreter=debugging).unwrap()
    with pytest.raises(tm.NonFinite, match="seed") as info:
        debugging.backward(tape, 3, np.array(np.nan))
    assert (info.value.node_id, info.value.phase, info.value.op) == (3, "backward", "sum")


def test_composes_with_tracing_both_ways() -> None:
    tracer = Tracing(Debugging(Eager()))
    error = tm.run(nan_forward(), interpreter=tracer).failure()
    assert isinstance(error, tm.NonFinite)
    assert [e.out for e in tracer.entries] == [0, 1, 2, None]  # the failed request, recorded
    assert tracer.entries[3].error is error

    outer = Debugging(Tracing(Eager()))
    with pytest.raises(tm.NonFinite, match="pow"):
        tm.value_and_grad(inf_backward(), interpreter=outer)


def test_shape_only_values_have_nothing_to_check() -> None:
    out, tape = tm.run(nan_forward(), interpreter=Debugging(ShapeOnly())).unwrap()
    assert out.shape == () and len(tape) == 6


def test_clean_programs_pass_through_unchanged() -> None:
    @tm.tapem
    def clean() -> tm.Gen[tm.Handle]:
        x = yield from tm.param(np.array([1.0, 2.0]), name="x")
        y = yield ops.exp(x)
        return (yield ops.sum(y))

    value, grads = tm.value_and_grad(clean(), interpreter=Debugging(Eager()))
    assert np.isclose(value, np.exp(1) + np.exp(2)) and np.allclose(grads["x"], np.exp([1, 2]))
