"""Programs, requests, handles, the tape and the reverse pass (SPEC §1–§3)."""

from __future__ import annotations

import gc
import sys

import numpy as np
import pytest

import tapem as tm
from tapem import ops

# --- programs -----------------------------------------------------------------------------------


@tm.tapem
def affine(w, x):
    W = yield from tm.param(w, name="w")
    X = yield from tm.const(x)
    y = yield W * X
    return (yield ops.sum(y))


def test_programs_rerun_from_scratch():
    program = affine(np.array([1.0, 2.0]), np.array([3.0, 4.0]))
    first = tm.run(program).unwrap()
    second = tm.run(program).unwrap()
    assert len(first[1]) == len(second[1]) == 4
    assert float(first[1].value(first[0])) == float(second[1].value(second[0])) == 11.0


def test_programs_compose_with_yield_from():
    @tm.tapem
    def outer():
        a = yield from affine(np.array([1.0]), np.array([2.0]))
        b = yield from affine(np.array([3.0]), np.array([4.0]))
        return (yield a + b)

    out, tape = tm.run(outer()).unwrap()
    assert float(tape.value(out)) == 14.0
    assert len(tape) == 9  # two inlined programs of four nodes each, then add


def test_evaluate_and_execute():
    program = affine(np.array([1.0]), np.array([5.0]))
    handle = tm.evaluate(program).unwrap()
    tape = tm.execute(program).unwrap()
    assert handle.id == 3 and handle.shape == () and handle.dtype == np.float64
    assert len(tape) == 4


def test_a_program_may_return_anything():
    @tm.tapem
    def several():
        a = yield from tm.param(1.0)
        return {"a": a, "n": 3}

    value = tm.evaluate(several()).unwrap()
    assert value["n"] == 3 and isinstance(value["a"], tm.Handle)


# --- requests and handles -----------------------------------------------------------------------


def test_operator_sugar_builds_the_documented_ops():
    h = tm.Handle(0, np.zeros(2))
    g = tm.Handle(1, np.zeros(2))
    cases = {
        "add": h + g,
        "sub": h - g,
        "mul": h * g,
        "div": h / g,
        "matmul": h @ g,
        "neg": -h,
        "abs": abs(h),
        "shift": h + 1.0,
        "rsub": 1.0 - h,
        "scale": 2.0 * h,
        "rdiv": 1.0 / h,
        "pow": h**2,
        "transpose": h.T,
    }
    for name, request in cases.items():
        assert isinstance(request, tm.Op) and request.op == name
    assert (h - 1.5).params == {"c": -1.5}
    assert (h / 4).params == {"c": 0.25}
    assert (np.float64(3.0) * h).params == {"c": 3.0}
    assert (h + 1.0).inputs == (h,)


def test_sugar_with_arrays_is_a_clear_type_error():
    h = tm.Handle(0, np.zeros(2))
    with pytest.raises(TypeError, match="tm.const"):
        h + np.ones(2)
    with pytest.raises(TypeError, match="tm.const"):
        np.ones(2) * h


def test_ops_bind_parameters_by_position_or_name_with_defaults():
    h = tm.Handle(0, np.zeros(2))
    assert ops.clamp(h, 0.0, 1.0).params == {"lo": 0.0, "hi": 1.0}
    assert ops.clamp(h, hi=2.0, lo=-1.0).params == {"lo": -1.0, "hi": 2.0}
    assert ops.safe_log(h).params == {"eps": 1e-6}
    assert ops.sum(h, axis=0).params == {"axis": 0, "keepdims": False}
    assert ops.scale(h, np.float32(2.0)).params["c"].__class__ is float  # static, not numpy
    assert tm.Op(ops.add, [h, h]).rule is ops.add
    assert tm.Op(ops.clamp, [h], {"lo": 0.0, "hi": 1.0}).args == (0.0, 1.0)
    by_name = tm.Op("clamp", [h], {"lo": 0.0, "hi": 1.0})  # resolved when it is yielded
    assert by_name.op == "clamp" and by_name.params == {"lo": 0.0, "hi": 1.0}
    with pytest.raises(TypeError, match="missing parameter"):
        ops.clamp(h, 0.0)
    with pytest.raises(TypeError, match="unexpected parameter"):
        ops.clamp(h, 0.0, 1.0, mid=0.5)
    with pytest.raises(TypeError, match="takes 2 handle"):
        ops.add(h)


def test_requests_are_immutable_and_compare_by_identity():
    h = tm.Handle(0, np.zeros(2))
    a, b = h + h, h + h
    assert a != b and a == a
    assert len({a, b}) == 2
    leaf = tm.Leaf(np.zeros(3))
    assert leaf != tm.Leaf(np.zeros(3))
    with pytest.raises(TypeError):
        a.params["x"] = 1  # type: ignore[index]


# --- the reverse pass ---------------------------------------------------------------------------


def grads_of(program):
    out, tape = tm.run(program).unwrap()
    return tape, tm.backward_scalar(tape, out).unwrap()


def test_a_value_used_twice_gets_both_contributions():
    @tm.tapem
    def twice():
        x = yield from tm.param(np.array(3.0))
        y = yield ops.add(x, x)
        z = yield x * y  # z = 2x^2, dz/dx = 4x
        return z

    _, grads = grads_of(twice())
    assert float(grads[0]) == 12.0


def test_unreached_nodes_are_skipped_and_never_poison_the_result():
    @tm.tapem
    def program():
        x = yield from tm.param(np.array(2.0))
        zero = yield from tm.param(np.array(0.0))
        yield ops.inv(zero)  # 1/0 = inf, unrelated to the output
        return (yield x * x)

    with np.errstate(divide="ignore"):
        tape, grads = grads_of(program())
    assert set(grads) == {0, 3}
    assert float(grads[0]) == 4.0
    assert np.isinf(tape.value(2))


def test_frozen_leaves_get_nothing_and_do_not_propagate():
    @tm.tapem
    def program():
        w = yield from tm.param(np.array(2.0))
        c = yield from tm.const(np.array(5.0))
        frozen = yield c * 3.0  # requires_grad False: an op on constants only
        return (yield w * frozen)

    tape, grads = grads_of(program())
    assert not tape.node(2).requires_grad
    assert set(grads) == {0, 3}
    assert float(grads[0]) == 15.0


def test_output_without_gradients_maps_only_itself():
    @tm.tapem
    def program():
        c = yield from tm.const(np.array(5.0))
        return (yield c * 2.0)

    _, grads = grads_of(program())
    assert set(grads) == {1} and float(grads[1]) == 1.0


def test_contributions_are_summed_in_order():
    # children by descending id, then each node's parents in argument order
    order = []
    spy = tm.OpDef(
        "spy",
        inputs=("a", "b"),
        forward=lambda a, b: a + b,
        vjp=(
            lambda g, out, a, b: order.append("a") or g,
            lambda g, out, a, b: order.append("b") or g,
        ),
        jvp=(lambda t, out, a, b: t, lambda t, out, a, b: t),
        shape=ops.opdef.binary_shape("spy"),
    )

    @tm.tapem
    def program():
        x = yield from tm.param(np.array(1.0))
        y = yield spy(x, x)
        return (yield spy(y, x))

    grads_of(program())
    assert order == ["a", "b", "a", "b"]


def test_broadcasting_is_undone_for_every_input():
    @tm.tapem
    def program():
        a = yield from tm.param(np.ones((3, 1)))
        b = yield from tm.param(np.arange(4.0))
        s = yield a * b  # (3, 4)
        return (yield ops.sum(s))

    _, grads = grads_of(program())
    assert grads[0].shape == (3, 1) and np.array_equal(grads[0], np.full((3, 1), 6.0))
    assert grads[1].shape == (4,) and np.array_equal(grads[1], np.full(4, 3.0))


def test_float32_stays_float32_through_values_and_gradients():
    @tm.tapem
    def program():
        x = yield from tm.param(np.ones(3, dtype=np.float32), name="x")
        y = yield ops.tanh((yield x * 0.5))
        return (yield ops.mean(y))

    value, grads = tm.value_and_grad(program())
    assert value.dtype == np.float32 and grads["x"].dtype == np.float32


def test_gradients_do_not_alias_each_other():
    @tm.tapem
    def program():
        a = yield from tm.param(np.ones(2), name="a")
        b = yield from tm.param(np.ones(2), name="b")
        return (yield ops.sum((yield a + b)))

    _, grads = tm.value_and_grad(program())
    assert not grads["a"].flags.writeable and not grads["b"].flags.writeable


def test_gradients_accumulated_many_times_are_exact_and_never_shared():
    # One-element gradients are summed into new buffers and larger ones in place; either way
    # the sum is the plain left-to-right sum, and a cotangent handed through (add's inputs)
    # is never changed by a later accumulation.
    @tm.tapem
    def program():
        b = yield from tm.param(np.array([0.5]), name="b")
        v = yield from tm.param(np.zeros(3), name="v")
        w = yield from tm.param(np.zeros(3), name="w")
        total = yield ops.sum((yield v + w))
        for k in range(1, 6):
            total = yield total + (yield ops.sum((yield b * float(k))))
            total = yield total + (yield ops.sum((yield v * float(k))))
        return total

    _, grads = tm.value_and_grad(program())
    assert np.array_equal(grads["b"], [15.0])
    assert np.array_equal(grads["v"], np.full(3, 16.0))
    assert np.array_equal(grads["w"], np.ones(3))


class _CountingShape:
    """A shape rule that counts its calls (a binary op with no parameters)."""

    def __init__(self) -> None:
        self.calls = 0
        self.rule = ops.opdef.binary_shape("counted")

    def __call__(self, a, b):
        self.calls += 1
        if a.shape != b.shape:
            raise tm.ShapeMismatch("counted", [a.shape, b.shape], "needs equal shapes")
        return self.rule(a, b)


def test_eager_checks_each_shape_signature_once_per_run_and_never_remembers_a_failure():
    shape = _CountingShape()
    counted = tm.OpDef(
        "counted",
        inputs=("a", "b"),
        forward=lambda a, b: a * b,
        vjp=(lambda g, out, a, b: g * b, lambda g, out, a, b: g * a),
        jvp=(lambda t, out, a, b: t * b, lambda t, out, a, b: a * t),
        shape=shape,
    )

    @tm.tapem
    def program(mismatch):
        x = yield from tm.param(np.ones(3))
        y = yield from tm.const(np.full(3, 2.0))
        for _ in range(4):
            x = yield counted(x, y)
        z = yield from tm.const(np.ones(2))
        failures = 0
        for _ in range(2):
            try:
                yield counted(x, z) if mismatch else counted(z, z)
            except tm.ShapeMismatch:
                failures += 1
        return (yield ops.sum(x)), failures

    value, failures = tm.value_of(program(False))
    assert (float(value), failures) == (48.0, 0)
    assert shape.calls == 2  # [3]x[3] once for four requests, [2]x[2] once for two
    assert tm.value_of(program(True))[1] == 2
    assert shape.calls == 2 + 1 + 2  # a new run checks again; the failing request every time


# --- scale ------------------------------------------------------------------------------------


def test_a_million_node_tape_runs_forward_and_backward_without_recursion():
    n = 1_000_000

    @tm.tapem
    def long_chain():
        x = yield from tm.param(np.array(1.0), name="x")
        for _ in range(n):
            x = yield x * 1.0
        return x

    assert n > sys.getrecursionlimit()
    out, tape = tm.run(long_chain()).unwrap()
    assert len(tape) == n + 1
    grads = tm.backward_scalar(tape, out).unwrap()
    assert float(grads[0]) == 1.0 and len(grads) == n + 1


def test_tape_records_are_invisible_to_the_cyclic_garbage_collector():
    _, tape = tm.run(affine(np.array([1.0]), np.array([2.0]))).unwrap()
    gc.collect()  # CPython untracks a tuple once it sees that everything inside is untracked;
    gc.collect()  # a record's inner tuples go first, the record itself on the next pass
    assert not any(gc.is_tracked(record) for record in tape._nodes)


def test_the_collector_is_paused_during_a_run_and_restored_after_it_even_on_errors():
    states = []

    @tm.tapem
    def observe(fail):
        x = yield from tm.param(np.ones(2))
        states.append(gc.isenabled())
        if fail:
            yield x + (yield from tm.param(np.ones(3)))
        return (yield ops.sum(x))

    assert gc.isenabled()
    tm.value_and_grad(observe(False))
    assert isinstance(tm.run(observe(True)).failure(), tm.ShapeMismatch)
    assert states == [False, False] and gc.isenabled()
    gc.disable()  # a user who turned it off keeps it off
    try:
        tm.run(observe(False))
        assert not gc.isenabled()
    finally:
        gc.enable()
