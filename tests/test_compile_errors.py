"""tm.compile fails as eager fails: a replay that raises runs the call again eagerly, so the
error is eager's (its type, message and the line of the loss), also under the debugging
interpreter, which a replay stands in for by checking every value and cotangent. Misuse is a
typed error naming what is wrong."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

import tapem as tm
from tapem import ops
from tapem.interpreters import Debugging, Eager, ShapeOnly, Tracing

pytestmark = pytest.mark.filterwarnings("error::tapem.ReplayWarning")  # no bug hides

HERE = Path(__file__).resolve()


def line_with(marker: str) -> int:
    lines = HERE.read_text().splitlines()
    matches = [i for i, line in enumerate(lines, start=1) if line.rstrip().endswith(marker)]
    assert len(matches) == 1, marker
    return matches[0]


def eager_error(loss: Any, *args: Any, interpreter: Any = None) -> BaseException:
    with pytest.raises(Exception) as info:  # noqa: PT011 - any error: compared below
        tm.value_and_grad(loss(*args), interpreter=interpreter)
    return info.value


def same_error(got: BaseException, want: BaseException) -> None:
    assert type(got) is type(want) and str(got) == str(want)
    assert getattr(got, "location", None) == getattr(want, "location", None)


@tm.tapem
def logged(w: Any, x: Any) -> tm.Gen[tm.Handle]:
    W = yield from tm.param(w, name="w")
    X = yield from tm.const(x)
    y = yield ops.log((yield W * X))  # <- log domain
    return (yield ops.sum(y))


@tm.tapem
def per_sample_log(w: Any, xs: Any) -> tm.Gen[tm.Handle]:
    W = yield from tm.param(w, name="w")

    def one(x: Any) -> tm.Gen[tm.Handle]:
        X = yield from tm.const(x)
        return (yield ops.sum((yield ops.log((yield W * X)))))  # <- log in a loop

    return (yield from tm.mean_scalar_over(list(xs), one))


@tm.tapem
def labelled(w: Any, x: Any, labels: Any) -> tm.Gen[tm.Handle]:
    logits = yield (yield from tm.const(x)) @ (yield from tm.param(w, name="w"))
    y = yield ops.cross_entropy(logits, (yield from tm.const(labels)))  # <- label range
    return y


@pytest.mark.parametrize(
    ("loss", "good", "bad", "marker"),
    [
        (logged, (np.ones(3), np.ones(3)), (np.ones(3), -np.ones(3)), "# <- log domain"),
        (
            per_sample_log,
            (np.ones(2), np.ones((6, 2))),
            (np.ones(2), np.array([[1.0, 1], [1, 1], [1, 1], [1, 1], [1, 0], [1, 1]])),
            "# <- log in a loop",
        ),
        (
            labelled,
            (np.ones((2, 3)), np.ones((4, 2)), np.array([0, 1, 2, 1])),
            (np.ones((2, 3)), np.ones((4, 2)), np.array([0, 1, 3, 1])),
            "# <- label range",
        ),
    ],
)
def test_a_replay_fails_with_the_eager_error_at_the_same_line(
    loss: Any, good: Any, bad: Any, marker: str
) -> None:
    c = tm.compile(loss)
    c.value_and_grad(*good)
    c.value_and_grad(*good)
    with pytest.raises(tm.TapeError) as replayed:
        c.value_and_grad(*bad)
    want = eager_error(loss, *bad)
    same_error(replayed.value, want)
    assert replayed.value.location is not None
    assert replayed.value.location.line == line_with(marker)
    assert (c.traces, c.replays) == (1, 1)  # the failing call was no replay; the plan stays
    c.value_and_grad(*good)
    assert c.replays == 2


def test_a_failing_first_call_fails_as_eager_and_traces_nothing() -> None:
    c = tm.compile(logged)
    with pytest.raises(tm.DomainError) as first:
        c.value_and_grad(np.ones(3), np.zeros(3))
    same_error(first.value, eager_error(logged, np.ones(3), np.zeros(3)))
    assert c.traces == 0
    c.value_and_grad(np.ones(3), np.ones(3))
    assert c.traces == 1


@tm.tapem
def ratio(w: Any, x: Any) -> tm.Gen[tm.Handle]:
    W = yield from tm.param(w, name="w")
    X = yield from tm.const(x)
    q = yield W / X  # <- 0/0 forward
    return (yield ops.sum(q))


@tm.tapem
def root(w: Any, x: Any) -> tm.Gen[tm.Handle]:
    W = yield from tm.param(w, name="w")
    X = yield from tm.const(x)
    r = yield (yield W * X) ** 0.5  # <- infinite slope backward
    return (yield ops.sum(r))


@pytest.mark.parametrize(
    ("loss", "bad", "marker", "phase"),
    [(ratio, np.array([0.0, 0.0]), "# <- 0/0 forward", "forward"),
     (root, np.array([0.0, 1.0]), "# <- infinite slope backward", "backward")],
)  # fmt: skip
def test_under_debugging_a_replay_finds_what_eager_finds(
    loss: Any, bad: Any, marker: str, phase: str
) -> None:
    c = tm.compile(loss, interpreter=Debugging(Eager()))
    w = np.array([1.0, 2.0])
    with np.errstate(all="ignore"):
        c.value_and_grad(w, np.array([1.0, 1.0]))
        c.value_and_grad(w, np.array([2.0, 3.0]))
        with pytest.raises(tm.NonFinite) as replayed:
            c.value_and_grad(w, bad)
        want = eager_error(loss, w, bad, interpreter=Debugging(Eager()))
    same_error(replayed.value, want)
    assert replayed.value.phase == phase and replayed.value.location.line == line_with(marker)
    assert (c.traces, c.replays) == (1, 1)


def test_without_debugging_a_replay_hands_out_nan_as_eager_does() -> None:
    c = tm.compile(ratio)
    w = np.array([0.0, 2.0])
    with np.errstate(all="ignore"):
        c.value_and_grad(w, np.ones(2))
        value, grads = c.value_and_grad(w, np.zeros(2))
        want = tm.value_and_grad(ratio(w, np.zeros(2)))
    assert np.isnan(value) and np.isnan(want[0]) and c.replays == 1
    assert np.array_equal(grads["w"], want[1]["w"], equal_nan=True)


def test_a_loss_that_returns_no_handle_fails_as_eager() -> None:
    @tm.tapem
    def nothing(w: Any) -> tm.Gen[Any]:
        yield from tm.param(w)
        return 3.0

    with pytest.raises(tm.NotAHandle) as compiled:
        tm.compile(nothing).value_and_grad(np.ones(2))
    same_error(compiled.value, eager_error(nothing, np.ones(2)))
    assert "returned float" in str(compiled.value)


def not_a_factory(w: Any) -> tm.Gen[tm.Handle]:
    return (yield from tm.param(w))


@pytest.mark.parametrize(
    ("loss", "hint"),
    [
        (not_a_factory, "decorate the generator function with @tm.tapem"),
        (tm.tapem(not_a_factory)(np.ones(2)), "that is a program"),
        (tm.compile(tm.tapem(not_a_factory)), "compiled already"),
        (len, "got builtin_function_or_method"),
    ],
)
def test_compile_takes_a_tapem_factory(loss: Any, hint: str) -> None:
    with pytest.raises(tm.InvalidArgument, match="takes a @tm.tapem function") as info:
        tm.compile(loss)
    assert hint in str(info.value)


@pytest.mark.parametrize(
    "interpreter",
    [
        Tracing(Eager()),
        ShapeOnly(),
        Debugging(Eager(), warn=True),
        Debugging(Eager(), callback=print),
        Debugging(Tracing(Eager())),
    ],
)
def test_an_interpreter_a_replay_cannot_stand_for_is_refused(interpreter: Any) -> None:
    with pytest.raises(tm.InvalidArgument, match="replays losses run by Eager"):
        tm.compile(logged, interpreter=interpreter)


@pytest.mark.parametrize("size", [0, -3, True, 2.0])
def test_the_cache_size_is_a_positive_int(size: Any) -> None:
    with pytest.raises(tm.InvalidArgument, match="cache_size must be an int >= 1"):
        tm.compile(logged, cache_size=size)


@pytest.mark.parametrize(
    "argument", [iter([np.ones(3)]), (x for x in [np.ones(3)]), np.random.default_rng(0)]
)
def test_iterators_and_random_generators_are_refused(argument: Any) -> None:
    with pytest.raises(tm.InvalidArgument, match="cannot take an iterator or a random"):
        tm.compile(logged).value_and_grad(np.ones(3), argument)


def test_a_signature_without_a_plan_runs_eagerly_and_says_why() -> None:
    @tm.tapem
    def noted(w: Any) -> tm.Gen[Any]:
        W = yield from tm.param(w, name="w")
        return {"sum": (yield ops.sum(W)), "buffer": np.zeros(2)}  # a fresh, writable array

    c = tm.compile(noted)
    buffers = []
    for _ in range(2):
        got = c.value(np.ones(2))
        assert float(got["sum"]) == 2.0 and got["buffer"].flags.writeable
        buffers.append(got["buffer"])
    assert buffers[0] is not buffers[1]
    assert (c.traces, c.replays) == (1, 0)  # an array among the results: eager, each time

    @tm.tapem
    def exact(w: Any) -> tm.Gen[tm.Handle]:
        if type(w) is not np.ndarray:  # a proxy is an ndarray to isinstance, not to type()
            raise TypeError("an exact ndarray, please")
        return (yield ops.sum((yield from tm.param(w, name="w"))))

    c = tm.compile(exact)
    for _ in range(2):
        same = c.value_and_grad(np.ones(2))
        assert float(same[0]) == 2.0 and np.array_equal(same[1]["w"], np.ones(2))
    assert (c.traces, c.replays) == (0, 0)
    with pytest.raises(tm.InvalidArgument, match="runs eagerly: the loss could not be traced"):
        c.plan(np.ones(2))
