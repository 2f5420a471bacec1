"""The forward-mode interpreter, and the reverse pass over its dual-valued tapes."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from returns.result import Failure

import tapem as tm
from tapem import ops
from tapem.backward import reverse
from tapem.dual import Dual
from tapem.interpreters import Eager, Forward

EPS = 1e-6
W0 = np.array([[0.3, -0.2, 0.5], [0.1, 0.4, -0.6]])
B0 = np.array([0.05, -0.1])
X = np.array([[0.2, -1.0, 0.7], [1.5, 0.3, -0.4], [0.0, 0.9, 0.1], [-0.8, 0.2, 0.6]])


@tm.tapem
def model(w: Any, b: Any) -> tm.Gen[tm.Handle]:
    W = yield from tm.param(w, name="W")
    B = yield from tm.param(b, name="b")
    x = yield from tm.const(X)
    z = yield ops.linear(W, B, x)
    h = yield ops.tanh(z)
    s = yield ops.softplus(h)
    return (yield ops.mean(s))


def value(w: Any, b: Any) -> float:
    out, tape = tm.run(model(w, b)).unwrap()
    return float(tape.value(out))


def grads(w: Any, b: Any) -> dict[str | int, Any]:
    return tm.grad(model(w, b))


V_W = np.array([[1.0, 0.5, -0.3], [0.2, -0.7, 0.4]])
V_B = np.array([-0.5, 0.25])


@pytest.mark.parametrize(
    "tangents",
    [{"W": V_W, "b": V_B}, {0: V_W, 1: V_B}, [V_W, V_B]],
    ids=["by name", "by node id", "by order"],
)
def test_output_tangent_is_the_directional_derivative(tangents: Any) -> None:
    out, tape = tm.run(model(W0, B0), interpreter=Forward(tangents)).unwrap()
    result = tape.value(out)
    assert isinstance(result, Dual)
    numeric = (value(W0 + EPS * V_W, B0 + EPS * V_B) - value(W0 - EPS * V_W, B0 - EPS * V_B)) / (
        2 * EPS
    )
    assert np.isclose(result.tangent, numeric, rtol=1e-7, atol=1e-10)
    assert result.primal == value(W0, B0)  # the primal is exactly the eager value


def test_the_tape_is_the_eager_tape_with_dual_values() -> None:
    eager = tm.execute(model(W0, B0)).unwrap()
    forward = tm.execute(model(W0, B0), interpreter=Forward({"b": V_B})).unwrap()
    assert len(eager) == len(forward)
    for a, b in zip(eager, forward, strict=True):
        assert (a.op, a.parents, a.requires_grad, a.name) == (
            b.op,
            b.parents,
            b.requires_grad,
            b.name,
        )
        primal = b.value.primal if isinstance(b.value, Dual) else b.value
        assert np.array_equal(a.value, primal)
    # only nodes that depend on b carry a tangent
    carries = [isinstance(node.value, Dual) for node in forward]
    assert carries == [False, True, False, True, True, True, True]


def test_backward_is_forward_over_reverse() -> None:
    interp = Forward({"W": V_W, "b": V_B})
    out, tape = tm.run(model(W0, B0), interpreter=interp).unwrap()
    cts = interp.backward(tape, out.id, np.ones(()))
    exact = grads(W0, B0)
    plus, minus = grads(W0 + EPS * V_W, B0 + EPS * V_B), grads(W0 - EPS * V_W, B0 - EPS * V_B)
    for i, key in enumerate(["W", "b"]):
        assert isinstance(cts[i], Dual)
        assert np.allclose(cts[i].primal, exact[key], rtol=1e-12, atol=0)
        hv = (plus[key] - minus[key]) / (2 * EPS)
        assert np.allclose(cts[i].tangent, hv, rtol=1e-6, atol=1e-9)
    assert cts[2] is None  # the const leaf gets nothing


def test_reverse_over_duals_undoes_broadcasting_and_mixes_plain_cotangents() -> None:
    # a receives a plain cotangent, then another (an owned plain buffer), then a dual one:
    # the in-place fast path of the reverse loop must not take the dual.
    @tm.tapem
    def f() -> tm.Gen[tm.Handle]:
        a = yield from tm.param(np.array([1.0, 2.0, 3.0]), name="a")
        b = yield from tm.param(np.array([0.5, -1.0, 2.0]), name="b")
        c = yield from tm.const(np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]))
        t1 = yield a * b
        t2 = yield a * c  # broadcast: a's cotangent is summed over the rows
        t3 = yield a * c
        s1 = yield ops.sum(t1)
        s2 = yield ops.sum(t2)
        s3 = yield ops.sum(t3)
        return (yield (yield s1 + s2) + s3)

    out, tape = tm.run(f(), interpreter=Forward({"b": np.array([1.0, 0.0, 0.0])})).unwrap()
    cts = reverse(tape, out.id, np.ones(()))
    assert isinstance(cts[0], Dual) and cts[0].shape == (3,)
    assert np.allclose(cts[0].primal, [0.5 + 10, -1.0 + 14, 2.0 + 18])
    assert np.allclose(cts[0].tangent, [1.0, 0.0, 0.0])  # d(da)/db along e0


def test_leaf_tangent_errors_are_typed() -> None:
    result = tm.run(model(W0, B0), interpreter=Forward({"nope": V_B}))
    assert isinstance(result, Failure) and isinstance(result.failure(), tm.InvalidArgument)
    assert "'nope'" in str(result.failure())
    result = tm.run(model(W0, B0), interpreter=Forward({"b": np.ones(3)}))
    assert isinstance(result.failure(), tm.ShapeMismatch)
    result = tm.run(model(W0, B0), interpreter=Forward([V_W, V_B, V_B]))
    assert "param #2" in str(result.failure())

    @tm.tapem
    def labels() -> tm.Gen[tm.Handle]:
        return (yield from tm.const(np.array([1, 2])))

    result = tm.run(labels(), interpreter=Forward({0: np.ones(2)}))
    assert isinstance(result.failure(), tm.InvalidArgument)


def test_float32_leaves_keep_float32_tangents() -> None:
    w, b = W0.astype(np.float32), B0.astype(np.float32)
    tape = tm.execute(model(w, b), interpreter=Forward({"W": V_W})).unwrap()
    for node in tape:  # (the float64 data promotes the linear layer to float64)
        if isinstance(node.value, Dual):
            assert node.value.dtype == node.value.tangent.dtype
    assert tape.value(0).dtype == tape.value(0).tangent.dtype == np.float32


def test_eager_and_forward_fail_on_the_same_request() -> None:
    @tm.tapem
    def bad() -> tm.Gen[tm.Handle]:
        a = yield from tm.param(np.ones(2), name="a")
        b = yield from tm.param(np.ones(3), name="b")
        return (yield a + b)

    for interp in (Eager(), Forward({"a": np.ones(2)})):
        error = tm.run(bad(), interpreter=interp).failure()
        assert isinstance(error, tm.ShapeMismatch) and error.location is not None
