"""SPEC §10, examples 1–9, exactly (float64)."""

from __future__ import annotations

import numpy as np
import pytest

import tapem as tm
from tapem import ops

# --- example 1: linear regression through mean_scalar_over -------------------------------------

SAMPLES = [(0.0, 1.0), (1.0, 3.0), (2.0, 5.0), (3.0, 7.0)]


def regression(mean):
    @tm.tapem
    def loss():
        W = yield from tm.param(np.array([[0.5]]), name="W")
        B = yield from tm.param(np.array([0.0]), name="b")

        def per_sample(sample):
            x, y = sample
            X = yield from tm.const(np.array([x]))
            Y = yield from tm.const(np.array([y]))
            yhat = yield ops.linear(W, B, X)
            return (yield ops.mse_loss(yhat, Y))

        return (yield from mean(per_sample))

    return loss()


MEANS = {
    "list": lambda f: tm.mean_scalar_over(SAMPLES, f),
    "array": lambda f: tm.mean_scalar_over_array(np.array(SAMPLES), f),
    "dataset": lambda f: tm.mean_scalar_over_dataset(tm.Dataset.from_list(SAMPLES), f),
}


@pytest.mark.parametrize("kind", sorted(MEANS))
def test_example_1_linear_regression(kind):
    out, tape = tm.run(regression(MEANS[kind])).unwrap()
    assert len(tape) == 22
    assert out.id == 21
    expected_ops = ["leaf", "leaf"]
    for sample in range(4):
        expected_ops += ["leaf", "leaf", "linear", "mse_loss"]
        if sample > 0:
            expected_ops.append("add")
    expected_ops.append("scale")
    assert [node.op for node in tape] == expected_ops
    # sample 0 -> 2,3,4,5; sample 1 -> 6..9 then add 10; sample 2 -> 11..14, add 15; ...
    assert tape.node(4).parents == (0, 1, 2)
    assert tape.node(5).parents == (4, 3)
    assert tape.node(10).parents == (5, 9)
    assert tape.node(15).parents == (10, 14)
    assert tape.node(20).parents == (15, 19)
    assert tape.node(21).parents == (20,)
    losses = [float(tape.value(i)) for i in (5, 9, 14, 19)]
    assert losses == [1.0, 6.25, 16.0, 30.25]
    assert float(tape.value(out)) == 13.375

    grads = tm.backward_scalar(tape, out).unwrap()
    assert np.array_equal(grads[0], [[-13.5]])
    assert np.array_equal(grads[1], [-6.5])
    assert float(grads[21]) == 1.0
    for i in (5, 9, 10, 14, 15, 19, 20):  # the add/scale/mse nodes
        assert float(grads[i]) == 0.25
    consts = [i for i, node in enumerate(tape) if node.is_leaf and not node.requires_grad]
    assert consts == [2, 3, 6, 7, 11, 12, 16, 17]
    assert not set(consts) & set(grads)


def test_example_1_value_and_grad():
    value, grads = tm.value_and_grad(regression(MEANS["list"]))
    assert float(value) == 13.375
    assert set(grads) == {"W", "b"}
    assert np.array_equal(grads["W"], [[-13.5]])
    assert np.array_equal(grads["b"], [-6.5])


# --- example 2: empty batch ---------------------------------------------------------------------


def test_example_2_empty_batch_fails_without_calling_the_loss():
    calls = []

    def loss_of(x):
        calls.append(x)
        return (yield from tm.const(x))

    result = tm.run(tm.mean_scalar_over([], loss_of, tag="t"))
    error = result.failure()
    assert isinstance(error, tm.EmptyDataset)
    assert error.message == "t: empty dataset"
    assert error.tag == "t"
    assert calls == []


# --- example 3: reciprocal mean -----------------------------------------------------------------


def test_example_3_reciprocal_mean():
    @tm.tapem
    def mean_of_losses():
        def loss_of(v):
            return (yield from tm.param(np.array(v)))

        return (yield from tm.mean_scalar_over([2.0, 2.0, 3.0], loss_of))

    out, tape = tm.run(mean_of_losses()).unwrap()
    assert float(tape.value(out)) == 2.333333333333333  # 7 * (1/3), not 7/3
    assert float(tape.value(out)) != 7 / 3
    grads = tm.backward_scalar(tape, out).unwrap()
    leaves = [i for i, node in enumerate(tape) if node.is_leaf]
    assert [float(grads[i]) for i in leaves] == [0.3333333333333333] * 3


def test_mean_of_one_sample_records_a_scale_and_no_add():
    @tm.tapem
    def single():
        return (yield from tm.mean_scalar_over([4.0], lambda v: tm.param(np.array(v))))

    out, tape = tm.run(single()).unwrap()
    assert [node.op for node in tape] == ["leaf", "scale"]
    assert tape.node(out).params["c"] == 1.0


# --- example 4: two-layer MLP -------------------------------------------------------------------


def test_example_4_two_layer_mlp():
    @tm.tapem
    def mlp():
        W1 = yield from tm.param(np.array([[0.1, 0.2], [0.3, 0.4], [0.5, 0.6]]), name="W1")
        b1 = yield from tm.param(np.array([0.1, 0.2, 0.3]), name="b1")
        W2 = yield from tm.param(np.array([[0.7, 0.8, 0.9]]), name="W2")
        b2 = yield from tm.param(np.array([0.4]), name="b2")
        x = yield from tm.const(np.array([0.5, 0.8]), name="x")
        t = yield from tm.const(np.array([1.0]))
        z1 = yield ops.linear(W1, b1, x)
        a1 = yield ops.relu(z1)
        y = yield ops.linear(W2, b2, a1)
        return (yield ops.mse_loss(y, t))

    out, tape = tm.run(mlp()).unwrap()
    assert np.allclose(tape.value(6), [0.31, 0.67, 1.03])
    assert np.allclose(tape.value(8), [2.08])
    assert np.isclose(float(tape.value(out)), 1.1664)
    value, grads = tm.value_and_grad(mlp())
    assert np.allclose(grads["W2"], [[0.6696, 1.4472, 2.2248]])
    assert np.allclose(grads["b2"], [2.16])
    assert np.allclose(grads["W1"], [[0.756, 1.2096], [0.864, 1.3824], [0.972, 1.5552]])
    assert np.allclose(grads["b1"], [1.512, 1.728, 1.944])
    assert "x" not in grads
    assert 4 not in tm.backward_scalar(tape, out).unwrap()


# --- example 5: div ------------------------------------------------------------------------------


def test_example_5_div_with_a_seed():
    @tm.tapem
    def quotient():
        a = yield from tm.param(np.array([6.0, 8.0]))
        b = yield from tm.param(np.array([2.0, 4.0]))
        return (yield a / b)

    out, tape = tm.run(quotient()).unwrap()
    assert np.array_equal(tape.value(out), [3.0, 2.0])
    grads = tm.backward(tape, out, np.ones(2)).unwrap()
    assert np.array_equal(grads[0], [0.5, 0.25])
    assert np.array_equal(grads[1], [-1.5, -0.5])


# --- example 6: non-scalar backward ------------------------------------------------------------


def test_example_6_backward_needs_a_scalar_and_a_valid_id():
    @tm.tapem
    def product():
        a = yield from tm.param(np.array([2.0, 3.0]))
        b = yield from tm.param(np.array([5.0, 7.0]))
        c = yield a * b
        return (yield c * 4.0)

    out, tape = tm.run(product()).unwrap()
    assert out.id == 3
    assert np.array_equal(tape.value(out), [40.0, 84.0])
    not_scalar = tm.backward_scalar(tape, out).failure()
    assert isinstance(not_scalar, tm.NotScalar)
    assert "seed gradient shape mismatch" in str(not_scalar)
    invalid = tm.backward_scalar(tape, 99).failure()
    assert isinstance(invalid, tm.InvalidNodeId)
    assert "invalid node id" in str(invalid)


# --- example 7: edge cases ----------------------------------------------------------------------


def grad_of_sum(op, *inputs):
    @tm.tapem
    def program():
        handles = []
        for x in inputs:
            handles.append((yield from tm.param(np.asarray(x, dtype=float))))
        y = yield op(*handles)
        return (yield ops.sum(y))

    out, tape = tm.run(program()).unwrap()
    grads = tm.backward_scalar(tape, out).unwrap()
    return tape.value(len(inputs)), [grads[i] for i in range(len(inputs))]


def test_example_7_relu_abs_sqrt_clamp_max():
    assert np.array_equal(grad_of_sum(ops.relu, [-1, 0, 2])[1][0], [0, 0, 1])
    assert np.array_equal(grad_of_sum(ops.abs, [-2, 0, 3])[1][0], [-1, 0, 1])
    value, (g,) = grad_of_sum(ops.sqrt, [-4, 0, 4])
    assert np.array_equal(value, [0, 0, 2])
    assert np.array_equal(g, [0, 0, 0.25])
    clamp = lambda x: ops.clamp(x, 0.0, 1.0)
    assert np.array_equal(grad_of_sum(clamp, [-1, 0, 0.5, 1, 2])[1][0], [0, 0, 1, 0, 0])
    _, (da, db) = grad_of_sum(ops.max, [1, 2], [1, 0])
    assert np.array_equal(da, [0.5, 1])
    assert np.array_equal(db, [0.5, 0])


def test_example_7_safe_log_and_softplus():
    value, (g,) = grad_of_sum(ops.safe_log, 0.0)
    assert float(value) == -0.36651147788766414
    assert float(g) == pytest.approx(0.7213464797614926, rel=1e-15)
    value, (g,) = grad_of_sum(ops.softplus, 1.0)
    assert float(value) == 1.3132616875182228
    assert float(g) == pytest.approx(0.7310585786300049, rel=1e-15)


def test_example_7_log_domain_error_records_nothing():
    @tm.tapem
    def program():
        x = yield from tm.param(np.array([1.0, 0.0]))
        return (yield ops.log(x))

    error = tm.run(program()).failure()
    assert isinstance(error, tm.DomainError)
    assert "log" in str(error) and "safe_log" in str(error)

    @tm.tapem
    def caught():
        x = yield from tm.param(np.array([1.0, 0.0]))
        try:
            yield ops.log(x)
        except tm.DomainError:
            return x

    _, tape = tm.run(caught()).unwrap()
    assert len(tape) == 1  # the failed log left no node


# --- examples 8 and 9 ---------------------------------------------------------------------------


def test_example_8_softmax_last():
    x = np.array([1.0, 2.0, 3.0])
    y = ops.softmax_last.forward(x)
    assert np.allclose(y, [0.0900305732, 0.2447284711, 0.6652409558], atol=1e-10)
    (vjp,) = ops.softmax_last.vjp
    g = vjp(np.array([1.0, 0.0, 0.0]), y, x)
    assert np.allclose(g, [0.0819250691, -0.0220330445, -0.0598920245], atol=1e-10)
    assert np.allclose(vjp(np.ones(3), y, x), 0.0, atol=1e-16)


def test_example_9_mse_loss():
    yhat, t = np.array([1.0, 2.0, 3.0]), np.array([1.0, 1.0, 1.0])
    assert ops.mse_loss.forward(yhat, t) == pytest.approx(5 / 3, rel=1e-15)
    d_yhat, d_t = (rule(np.float64(1.0), None, yhat, t) for rule in ops.mse_loss.vjp)
    assert np.allclose(d_yhat, [0, 2 / 3, 4 / 3])
    assert np.allclose(d_t, -d_yhat)
