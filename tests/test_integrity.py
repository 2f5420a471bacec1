"""The recording path's integrity: what it refuses, under every interpreter, before any value
is computed, and what can never change a tape after the fact.

* an op with a wrong number of inputs is an ``InvalidRequest`` before numpy sees it (it used to
  reach numpy as an ``out=`` argument and write into the input tape);
* a handle from another run or tape, or a hand-made one, is an ``InvalidNodeId`` (it used to
  name whatever node had that id now);
* ``tape.value(k)`` and caller arrays recorded without a copy can never be made writable again.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import tapem as tm
from tapem import ops
from tapem.arrays import immutable, readonly
from tapem.interpreters import Debugging, Eager, Forward, Scripted, ShapeOnly, Tracing

INTERPRETERS = {
    "eager": Eager,
    "shape-only": ShapeOnly,
    "forward": lambda: Forward({}),
    "tracing": lambda: Tracing(Eager()),
    "debugging": lambda: Debugging(Eager()),
    "scripted": lambda: Scripted([], inner=Eager()),  # expects nothing: refusals come first
}
OBSERVING = sorted(set(INTERPRETERS) - {"scripted"})  # for programs that record leaves first


@tm.tapem
def first() -> tm.Gen[tm.Handle]:
    a = yield from tm.param(np.array([10.0, 20.0]), name="a")
    b = yield from tm.param(np.array([1.0, 2.0]), name="b")
    return (yield a + b)


def run_on(program: tm.Program[Any], tape: tm.Tape, make: Any) -> Any:
    return tm.run(program, tape, interpreter=make()).failure()


@pytest.mark.parametrize("name", sorted(INTERPRETERS))
@pytest.mark.parametrize("count", [0, 2, 3])
def test_a_wrong_number_of_inputs_is_refused_before_numpy(name: str, count: int) -> None:
    out, tape = tm.run(first()).unwrap()
    before = [np.array(tape.value(i)) for i in range(len(tape))]

    @tm.tapem
    def second() -> tm.Gen[tm.Handle]:
        handles = [tape.handle(i) for i in range(count)]
        return (yield tm.Op(ops.tanh, handles))  # tanh takes one input

    error = run_on(second(), tape, INTERPRETERS[name])
    assert isinstance(error, tm.InvalidRequest)
    assert f"tanh takes 1 input(s) (x); the request has {count}" in str(error)
    for i, value in enumerate(before):
        assert np.array_equal(tape.value(i), value)  # the input tape is untouched


@pytest.mark.parametrize("name", sorted(INTERPRETERS))
def test_a_request_by_name_with_a_wrong_number_of_inputs_is_refused(name: str) -> None:
    out, tape = tm.run(first()).unwrap()

    @tm.tapem
    def second() -> tm.Gen[tm.Handle]:
        return (yield tm.Op("tanh", [tape.handle(0), tape.handle(1)]))

    error = run_on(second(), tape, INTERPRETERS[name])
    assert isinstance(error, tm.InvalidRequest) and "tanh takes 1 input" in str(error)
    assert np.array_equal(tape.value(1), [1.0, 2.0])


@pytest.mark.parametrize("name", OBSERVING)
def test_a_handle_from_another_run_is_an_invalid_node_id(name: str) -> None:
    stale, _ = tm.run(first()).unwrap()  # %2 of another run

    @tm.tapem
    def other() -> tm.Gen[tm.Handle]:
        x = yield from tm.param(np.ones(2))
        y = yield from tm.param(np.ones(2))
        z = yield x * y  # node 2 exists here too, but it is not the node the handle names
        return (yield z + stale)

    error = run_on(other(), tm.Tape(), INTERPRETERS[name])
    assert isinstance(error, tm.InvalidNodeId) and error.stale
    assert "made by another run or by hand" in str(error)


@pytest.mark.parametrize("name", OBSERVING)
@pytest.mark.parametrize("node_id", [-1, 0, 5])
def test_a_hand_made_handle_is_an_invalid_node_id(name: str, node_id: int) -> None:
    forged = tm.Handle(node_id, np.zeros(2))

    @tm.tapem
    def uses_forged() -> tm.Gen[tm.Handle]:
        x = yield from tm.param(np.ones(2))
        return (yield x + forged)

    error = run_on(uses_forged(), tm.Tape(), INTERPRETERS[name])
    assert isinstance(error, tm.InvalidNodeId) and error.node_id == node_id


def test_handles_of_a_tape_continue_on_the_runs_that_extend_it() -> None:
    out, tape = tm.run(first()).unwrap()

    @tm.tapem
    def more() -> tm.Gen[tm.Handle]:
        return (yield ops.sum((yield out * tape.handle(0))))  # out: a handle of the run before

    total, longer = tm.run(more(), tape).unwrap()
    assert float(longer.value(total)) == 11.0 * 10.0 + 22.0 * 20.0


@pytest.mark.parametrize("bad", [np.ones(2), 3.0, "x", None])
def test_an_input_that_is_not_a_handle_says_how_to_fix_it(bad: Any) -> None:
    @tm.tapem
    def program() -> tm.Gen[tm.Handle]:
        x = yield from tm.param(np.ones(2))
        return (yield tm.Op(ops.add, [x, bad]))

    error = tm.run(program()).failure()
    assert isinstance(error, tm.InvalidRequest)
    assert "input 1 of add" in str(error) and "not a handle" in str(error)


def test_an_op_used_as_an_input_is_recorded_first_as_an_expression() -> None:
    @tm.tapem
    def program() -> tm.Gen[tm.Handle]:
        x = yield from tm.param(np.ones(2))
        return (yield tm.Op(ops.add, [x, ops.sin(x)]))

    out, tape = tm.run(program()).unwrap()
    assert [n.op for n in tape] == ["leaf", "sin", "add"] and tape.parents(out) == (0, 1)


def test_values_handed_out_can_never_be_made_writable() -> None:
    out, tape = tm.run(first()).unwrap()
    for i in range(len(tape)):
        value = tape.value(i)
        with pytest.raises(ValueError, match="WRITEABLE"):
            value.flags.writeable = True
        with pytest.raises(ValueError, match="read-only"):
            value[...] = 0.0

    @tm.tapem
    def loss() -> tm.Gen[tm.Handle]:
        return (yield ops.sum((yield from first())))

    value, grads = tm.value_and_grad(loss())
    assert set(grads) == {"a", "b"}
    for g in grads.values():
        with pytest.raises(ValueError, match="WRITEABLE"):
            g.flags.writeable = True


def test_only_arrays_nobody_can_change_are_recorded_without_a_copy() -> None:
    mine = np.arange(3.0)
    mine.flags.writeable = False  # read-only, but its owner can turn the flag back on
    frozen = readonly(np.arange(3.0))  # what tapem hands out
    assert not immutable(mine) and immutable(frozen)

    @tm.tapem
    def program() -> tm.Gen[Any]:
        a = yield from tm.const(mine)
        b = yield from tm.const(frozen)
        return a, b

    (a, b), tape = tm.run(program()).unwrap()
    assert not np.shares_memory(tape.value(a), mine)
    assert np.shares_memory(tape.value(b), frozen)
    mine.flags.writeable = True
    mine[0] = 99.0  # the caller changes their array: the tape keeps what was recorded
    assert tape.value(a)[0] == 0.0


def test_an_optimizers_results_are_recorded_without_a_copy() -> None:
    opt = tm.optim.SGD(lr=0.1)
    params = opt.step({"w": np.ones(3)}, {"w": np.ones(3)})
    assert immutable(params["w"])

    @tm.tapem
    def loss(p: dict[str, Any]) -> tm.Gen[tm.Handle]:
        w = yield from tm.param(p["w"], name="w")
        return (yield ops.sum(w))

    _, tape = tm.run(loss(params)).unwrap()
    assert np.shares_memory(tape.value(0), params["w"])


@pytest.mark.parametrize(
    "value", [np.array([1 + 2j]), np.array(["a"]), np.array([object()]), None, "text"]
)
@pytest.mark.parametrize("make", [tm.param, tm.const])
def test_leaves_of_complex_object_string_or_none_values_are_refused(value: Any, make: Any) -> None:
    @tm.tapem
    def program() -> tm.Gen[tm.Handle]:
        return (yield from make(value, name="v"))  # <- the leaf

    error = tm.run(program()).failure()
    assert isinstance(error, tm.InvalidArgument)
    assert "'v' must hold bools, ints or floats" in str(error)
    assert error.location is not None and error.location.function == "program"


def test_a_trainable_leaf_is_floating() -> None:
    @tm.tapem
    def program() -> tm.Gen[tm.Handle]:
        return (yield from tm.param(np.array([1, 2]), name="w"))

    out, tape = tm.run(program()).unwrap()
    assert tape.node(out).dtype == np.float64
