"""The commonest mistakes get messages that say what went wrong, where, and how to fix it: each
is a ``TapeError`` at the user's line, with no internal error in the way."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

import tapem as tm
from tapem import ops

THIS_FILE = Path(__file__).read_text().splitlines()


def line_of(marker: str) -> int:
    hits = [i for i, line in enumerate(THIS_FILE, start=1) if line.endswith(f"# {marker}")]
    assert len(hits) == 1, marker
    return hits[0]


def failure_of(program: tm.Program[Any]) -> Any:
    with pytest.raises(tm.TapeError) as info:
        tm.value_and_grad(program)
    return info.value


@tm.tapem
def returns_an_op() -> tm.Gen[Any]:
    x = yield from tm.param(np.ones(2), name="x")
    y = ops.sum(x)  # the yield is missing here
    return y  # <- returns an op


@tm.tapem
def returns_an_array() -> tm.Gen[Any]:
    yield from tm.param(np.ones(2), name="x")
    return np.ones(2)  # <- returns an array


@tm.tapem
def returns_nothing() -> tm.Gen[Any]:
    x = yield from tm.param(np.ones(2), name="x")
    yield ops.sum(x)  # <- returns nothing


@pytest.mark.parametrize(
    ("program", "marker", "says"),
    [
        (returns_an_op, "<- returns an op", "an Op (a request): yield it"),
        (returns_an_array, "<- returns an array", "an ndarray"),
        (returns_nothing, "<- returns nothing", "None: return the handle"),
    ],
)
def test_a_loss_that_returns_no_handle_fails_at_its_return(
    program: Any, marker: str, says: str
) -> None:
    error = failure_of(program())
    assert isinstance(error, tm.NotAHandle) and isinstance(error, TypeError)
    assert says in str(error) and "value_and_grad needs a program" in str(error)
    assert error.location.line == line_of(marker)
    assert error.__cause__ is None


@tm.tapem
def forgets_yield_from(w: Any, x: Any) -> tm.Gen[tm.Handle]:
    W = tm.param(w, name="W")
    X = tm.const(x)
    return (yield ops.sum((yield W * X)))  # <- forgot yield from


def test_a_missing_yield_from_names_the_line_and_the_fix() -> None:
    error = failure_of(forgets_yield_from(np.ones(2), np.ones(2)))
    assert isinstance(error, tm.NotAHandle)
    assert "run it with `yield from`" in str(error) and "W = yield from tm.param(w)" in str(error)
    assert error.location.line == line_of("<- forgot yield from")


def test_a_sub_program_used_as_a_value_names_the_fix() -> None:
    @tm.tapem
    def layer(x: Any) -> tm.Gen[tm.Handle]:
        X = yield from tm.const(x)
        return (yield X * 2.0)

    @tm.tapem
    def loss() -> tm.Gen[tm.Handle]:
        h = layer(np.ones(2))
        return (yield ops.sum((yield h * 3.0)))  # <- the program as a value

    error = failure_of(loss())
    assert isinstance(error, tm.NotAHandle) and "layer is a program" in str(error)
    assert error.location.line == line_of("<- the program as a value")


def test_yield_instead_of_yield_from_says_yield_from() -> None:
    @tm.tapem
    def loss() -> tm.Gen[tm.Handle]:
        w = yield tm.param(np.ones(2), name="w")  # <- yield, not yield from
        return (yield ops.sum(w))

    error = failure_of(loss())
    assert isinstance(error, tm.InvalidRequest) and "use `yield from`" in str(error)
    assert error.location.line == line_of("<- yield, not yield from")


@pytest.mark.parametrize("make", [tm.param, tm.const])
def test_a_leaf_of_a_handle_says_the_value_is_on_the_tape(make: Any) -> None:
    @tm.tapem
    def loss() -> tm.Gen[tm.Handle]:
        x = yield from tm.param(np.ones(2), name="x")
        again = yield from make(x)  # <- leaf of a handle
        return (yield ops.sum(again))

    error = failure_of(loss())
    assert isinstance(error, tm.InvalidArgument) and "already on the tape" in str(error)
    assert error.location.line == line_of("<- leaf of a handle")


def test_the_log_hint_says_what_safe_log_computes_and_offers_clamp() -> None:
    @tm.tapem
    def loss() -> tm.Gen[tm.Handle]:
        x = yield from tm.param(np.array([1.0, 0.0]), name="x")
        return (yield ops.sum(ops.log(x)))

    error = failure_of(loss())
    assert isinstance(error, tm.DomainError)
    assert "ln(softplus(x) + eps)" in str(error) and "ops.clamp" in str(error)


def test_a_per_sample_loss_that_returns_an_op_says_yield_it() -> None:
    @tm.tapem
    def loss() -> tm.Gen[tm.Handle]:
        def per_sample(x: Any) -> tm.Gen[Any]:
            X = yield from tm.const(x)
            return ops.sum(X)

        return (yield from tm.mean_scalar_over([np.ones(2)], per_sample))

    error = failure_of(loss())
    assert isinstance(error, tm.NotAHandle) and "yield it" in str(error)
