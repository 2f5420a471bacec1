"""SPEC §5: param/const, fold_m and the mean_scalar_over family (their equalities are theorems in
TorchLean; here they are tests)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import tapem as tm
from tapem import ops


def tape_signature(tape: tm.Tape) -> list[tuple[int, str, tuple[int, ...], bool]]:
    return [(i, n.op, n.parents, n.requires_grad) for i, n in enumerate(tape)]


def regression_loss(mean, w, b, samples):
    @tm.tapem
    def loss():
        W = yield from tm.param(w, name="W")
        B = yield from tm.param(b, name="b")

        def per_sample(sample):
            x, y = sample[:-1], sample[-1:]
            X = yield from tm.const(x)
            Y = yield from tm.const(y)
            yhat = yield ops.linear(W, B, X)
            return (yield ops.mse_loss(yhat, Y))

        return (yield from mean(samples, per_sample))

    return loss()


@st.composite
def batches(draw):
    n = draw(st.integers(1, 6))
    d = draw(st.integers(1, 3))
    floats = st.floats(-3, 3, allow_subnormal=False)
    samples = draw(hnp.arrays(np.float64, (n, d + 1), elements=floats))
    w = draw(hnp.arrays(np.float64, (1, d), elements=floats))
    b = draw(hnp.arrays(np.float64, (1,), elements=floats))
    return w, b, samples


@settings(max_examples=40, deadline=None)
@given(batches())
def test_array_and_dataset_means_equal_the_list_mean(batch):
    w, b, samples = batch
    as_list = regression_loss(tm.mean_scalar_over, w, b, list(samples))
    as_array = regression_loss(tm.mean_scalar_over_array, w, b, samples)
    as_dataset = regression_loss(
        tm.mean_scalar_over_dataset, w, b, tm.Dataset.from_list(list(samples))
    )
    reference_out, reference_tape = tm.run(as_list).unwrap()
    reference_value, reference_grads = tm.value_and_grad(as_list)
    for program in (as_array, as_dataset):
        out, tape = tm.run(program).unwrap()
        assert out.id == reference_out.id
        assert tape_signature(tape) == tape_signature(reference_tape)
        for i in range(len(tape)):
            assert np.array_equal(tape.value(i), reference_tape.value(i))
        value, grads = tm.value_and_grad(program)
        assert np.array_equal(value, reference_value)
        assert grads.keys() == reference_grads.keys()
        for key in grads:
            assert np.array_equal(grads[key], reference_grads[key])


@settings(max_examples=30, deadline=None)
@given(st.lists(st.floats(-10, 10, allow_subnormal=False), min_size=1, max_size=8))
def test_mean_multiplies_the_sum_by_the_reciprocal(losses):
    @tm.tapem
    def mean():
        return (yield from tm.mean_scalar_over(losses, lambda v: tm.param(np.array(v))))

    out, tape = tm.run(mean()).unwrap()
    total = losses[0]
    for v in losses[1:]:
        total = total + v
    assert float(tape.value(out)) == total * (1.0 / len(losses))
    # layout: one leaf per loss, an add after every loss but the first, then one scale
    expected = ["leaf"] + ["leaf", "add"] * (len(losses) - 1) + ["scale"]
    assert [n.op for n in tape] == expected


def test_fold_m_threads_the_accumulator_through_a_program():
    @tm.tapem
    def step(acc, x):
        X = yield from tm.const(np.array(x))
        return (yield acc + X)

    @tm.tapem
    def total():
        zero = yield from tm.param(np.array(0.0))
        return (yield from tm.fold_m(step, zero, [1.0, 2.0, 3.0]))

    out, tape = tm.run(total()).unwrap()
    assert float(tape.value(out)) == 6.0
    assert [n.op for n in tape] == ["leaf", "leaf", "add", "leaf", "add", "leaf", "add"]


def test_fold_m_stops_at_the_first_error():
    seen = []

    @tm.tapem
    def step(acc, x):
        seen.append(x)
        X = yield from tm.const(np.ones(x))
        return (yield acc + X)

    @tm.tapem
    def total():
        zero = yield from tm.param(np.zeros(2))
        return (yield from tm.fold_m(step, zero, [2, 3, 2]))

    assert isinstance(tm.run(total()).failure(), tm.ShapeMismatch)
    assert seen == [2, 3]


def test_param_and_const_set_the_flag_and_param_makes_floats():
    @tm.tapem
    def leaves():
        p = yield from tm.param([1, 2], name="p")
        c = yield from tm.const([1, 2], name="c")
        return p, c

    (p, c), tape = tm.run(leaves()).unwrap()
    assert tape.node(p).requires_grad and not tape.node(c).requires_grad
    assert p.dtype == np.float64 and c.dtype == np.int64
    assert tape.node(p).name == "p" and tape.named() == {"p": 0, "c": 1}


def test_a_long_per_sample_mean_does_not_recurse():
    @tm.tapem
    def many():
        return (yield from tm.mean_scalar_over(range(20000), lambda v: tm.const(float(v))))

    out, tape = tm.run(many()).unwrap()
    assert float(tape.value(out)) == sum(range(20000)) * (1.0 / 20000)
