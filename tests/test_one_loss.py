"""One loss for every transform: the program ``value_and_grad`` and ``fit`` take also goes to
``hessian``, ``hvp``, ``jvp`` and ``jacobian`` (by parameter name), and JAX's ``grad(f)(x)``
works for a function of handles."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import tapem as tm
from tapem import ops

RNG = np.random.default_rng(7)
W0, B0, X0 = RNG.normal(size=(2, 3)), RNG.normal(size=2), RNG.normal(size=3)


@tm.tapem
def loss(w: Any = W0, b: Any = B0) -> tm.Gen[tm.Handle]:
    """sum(tanh(W x + b)^2): a training loss that declares its parameters."""
    W = yield from tm.param(w, name="W")
    B = yield from tm.param(b, name="b")
    x = yield from tm.const(X0)
    return (yield ops.sum(ops.tanh(ops.linear(W, B, x)) ** 2))


def flat_loss(theta: np.ndarray) -> float:
    W, b = theta[:6].reshape(2, 3), theta[6:]
    return float(np.sum(np.tanh(W @ X0 + b) ** 2))


def numeric_hessian(f: Any, theta: np.ndarray, eps: float = 1e-4) -> np.ndarray:
    n = theta.size
    H = np.zeros((n, n))
    for i in range(n):
        for j in range(n):
            e_i, e_j = np.eye(n)[i] * eps, np.eye(n)[j] * eps
            H[i, j] = (
                f(theta + e_i + e_j) - f(theta + e_i - e_j) - f(theta - e_i + e_j)
                + f(theta - e_i - e_j)
            ) / (4 * eps * eps)  # fmt: skip
    return H


THETA = np.concatenate([W0.ravel(), B0])
H_NUMERIC = numeric_hessian(flat_loss, THETA)


def test_the_hessian_of_a_program_is_keyed_by_parameter_name() -> None:
    H = tm.hessian(loss())
    assert set(H) == {"W", "b"} and set(H["W"]) == {"W", "b"}
    assert H["W"]["W"].shape == (2, 3, 2, 3) and H["W"]["b"].shape == (2, 3, 2)
    assert H["b"]["W"].shape == (2, 2, 3) and H["b"]["b"].shape == (2, 2)
    full = np.block(
        [[H["W"]["W"].reshape(6, 6), H["W"]["b"].reshape(6, 2)],
         [H["b"]["W"].reshape(2, 6), H["b"]["b"].reshape(2, 2)]]
    )  # fmt: skip
    assert np.allclose(full, H_NUMERIC, atol=1e-6)
    assert np.allclose(full, full.T)


def test_hvp_of_a_program_takes_and_returns_dicts() -> None:
    v = {"W": RNG.normal(size=(2, 3)), "b": RNG.normal(size=2)}
    hv = tm.hvp(loss(), v)
    expected = H_NUMERIC @ np.concatenate([v["W"].ravel(), v["b"]])
    assert np.allclose(hv["W"].ravel(), expected[:6], atol=1e-6)
    assert np.allclose(hv["b"], expected[6:], atol=1e-6)
    only_b = tm.hvp(loss(), {"b": v["b"]})  # a missing key is a zero direction
    assert np.allclose(only_b["b"], H_NUMERIC[6:, 6:] @ v["b"], atol=1e-6)


def test_jvp_and_jacobian_of_a_program() -> None:
    value, grads = tm.value_and_grad(loss())
    v = {"W": np.ones((2, 3)), "b": np.zeros(2)}
    value_j, derivative = tm.jvp(loss(), v)
    assert np.array_equal(value_j, value)
    assert np.isclose(derivative, np.sum(grads["W"]))
    jac = tm.jacobian(loss())
    assert all(np.array_equal(jac[k], grads[k]) for k in grads)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: tm.hvp(loss(), {"V": np.ones(2)}), "no parameter named 'V'"),
        (lambda: tm.hvp(loss(), {"b": np.ones(3)}), "shape mismatch"),
    ],
)
def test_directions_that_do_not_fit_the_parameters_are_refused(call: Any, message: str) -> None:
    with pytest.raises(tm.TapeError, match=message):
        call()


@tm.tapem
def f(x: tm.Handle, y: tm.Handle) -> tm.Gen[tm.Handle]:
    return (yield ops.sum((yield x * x * y)))


def test_grad_of_a_function_of_handles_is_a_function_as_in_jax() -> None:
    x, y = np.array([1.0, 2.0]), np.array([3.0, -1.0])
    assert np.allclose(tm.grad(f)(x, y), 2 * x * y)
    dx, dy = tm.grad(f, argnums=(0, 1))(x, y)
    assert np.allclose(dx, 2 * x * y) and np.allclose(dy, x * x)
    value, dy_only = tm.value_and_grad(f, argnums=1)(x, y)
    assert np.isclose(value, np.sum(x * x * y)) and np.allclose(dy_only, x * x)


def test_grad_of_something_that_is_no_tapem_function_says_what_to_pass() -> None:
    with pytest.raises(tm.InvalidArgument, match="@tm.tapem function of handles"):
        tm.grad(lambda x: x)(np.ones(2))
    with pytest.raises(tm.InvalidArgument, match="argnums 2 is out of range"):
        tm.grad(f, argnums=2)(np.ones(2), np.ones(2))
