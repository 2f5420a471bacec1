"""The functional surface: jvp, vjp, hvp, hessian, jacobian.

Expected values come from closed forms (SPEC example 10, Rosenbrock, logistic regression) or
from central differences of independently computed values and gradients.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import tapem as tm
from tapem import ops

EPS = 1e-6


@tm.tapem
def mean_square(x: tm.Handle) -> tm.Gen[tm.Handle]:
    y = yield x * x
    return (yield ops.mean(y))


def test_spec_example_10() -> None:
    x = np.array([0.5, -1.2])
    value, (gradient,) = tm.vjp(mean_square, (x,), 1.0)
    assert float(value) == pytest.approx(0.845, abs=1e-15)
    assert np.allclose(gradient, [0.5, -1.2], rtol=0, atol=1e-15)
    H = tm.hessian(mean_square, x)
    assert H.shape == (2, 2)
    assert np.array_equal(H[:, 0], [1.0, 0.0]) and np.array_equal(H[:, 1], [0.0, 1.0])
    value, tangent = tm.jvp(mean_square, (x,), (np.array([1.0, 0.0]),))
    assert float(value) == pytest.approx(0.845) and float(tangent) == pytest.approx(0.5)


@tm.tapem
def rosenbrock(x: tm.Handle) -> tm.Gen[tm.Handle]:
    """sum_i 100 (x[i+1] - x[i]^2)^2 + (1 - x[i])^2, with the shifts as constant matrices."""
    n = x.shape[0]
    ahead = yield from tm.const(np.eye(n)[1:])
    here = yield from tm.const(np.eye(n)[:-1])
    nxt = yield ahead @ x
    cur = yield here @ x
    d = yield nxt - (yield cur * cur)
    e = yield 1.0 - cur
    terms = yield (yield (yield d * d) * 100.0) + (yield e * e)
    return (yield ops.sum(terms))


def rosenbrock_hessian(x: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    n = len(x)
    H = np.zeros((n, n))
    for i in range(n - 1):
        H[i, i] += 1200 * x[i] ** 2 - 400 * x[i + 1] + 2
        H[i + 1, i + 1] += 200
        H[i, i + 1] -= 400 * x[i]
        H[i + 1, i] -= 400 * x[i]
    return H


def test_rosenbrock_hessian_matches_the_closed_form() -> None:
    x = np.array([0.3, -0.5, 1.2, 0.7, -1.1])
    assert np.allclose(tm.hessian(rosenbrock, x), rosenbrock_hessian(x), rtol=1e-12, atol=1e-10)


def test_logistic_regression_hessian_is_xt_diag_p_1_minus_p_x_over_n() -> None:
    rng = np.random.default_rng(0)
    X, w = rng.standard_normal((20, 4)), rng.standard_normal(4) * 0.5
    y = (rng.uniform(size=20) < 0.5).astype(np.float64)

    @tm.tapem
    def nll(w: tm.Handle) -> tm.Gen[tm.Handle]:
        Xc = yield from tm.const(X)
        yc = yield from tm.const(y)
        z = yield Xc @ w
        # -[y log p + (1-y) log(1-p)] with p = sigmoid(z) is softplus(z) - y z
        per_sample = yield (yield ops.softplus(z)) - (yield yc * z)
        return (yield ops.mean(per_sample))

    p = 1 / (1 + np.exp(-X @ w))
    expected = X.T @ np.diag(p * (1 - p)) @ X / len(X)
    assert np.allclose(tm.hessian(nll, w), expected, rtol=1e-12, atol=1e-14)


SIZES = [(5, 4), (4,), (4, 3), (3,)]


@tm.tapem
def mlp(W1: Any, b1: Any, W2: Any, b2: Any, x: Any, labels: Any) -> tm.Gen[tm.Handle]:
    X = yield from tm.const(x)
    Y = yield from tm.const(labels)
    h = yield ops.tanh((yield ops.linear(W1, b1, X)))
    logits = yield ops.linear(W2, b2, (yield ops.softplus(h)))
    return (yield ops.cross_entropy(logits, Y))


def mlp_case(seed: int) -> tuple[tuple[Any, ...], Any]:
    rng = np.random.default_rng(seed)
    params = tuple(rng.standard_normal(s) * 0.7 for s in [(5, 4), (5,), (3, 5), (3,)])
    x, labels = rng.standard_normal((6, 4)), rng.integers(0, 3, size=6)
    return params, (lambda *ps: mlp(*ps, x, labels))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_mlp_hvp_matches_finite_differences_of_the_gradient(seed: int) -> None:
    params, f = mlp_case(seed)
    rng = np.random.default_rng(100 + seed)
    vs = tuple(rng.standard_normal(p.shape) for p in params)
    hv = tm.hvp(f, params, vs)
    plus = tm.vjp(f, tuple(p + EPS * v for p, v in zip(params, vs, strict=True)), 1.0)[1]
    minus = tm.vjp(f, tuple(p - EPS * v for p, v in zip(params, vs, strict=True)), 1.0)[1]
    for exact, gp, gm in zip(hv, plus, minus, strict=True):
        assert exact.shape == gp.shape
        assert np.allclose(exact, (gp - gm) / (2 * EPS), rtol=1e-6, atol=1e-8)


def test_hvp_is_symmetric_and_linear() -> None:
    params, f = mlp_case(3)
    rng = np.random.default_rng(9)
    u = tuple(rng.standard_normal(p.shape) for p in params)
    v = tuple(rng.standard_normal(p.shape) for p in params)

    def dot(a: Any, b: Any) -> float:
        return float(sum(np.sum(x * y) for x, y in zip(a, b, strict=True)))

    Hu, Hv = tm.hvp(f, params, u), tm.hvp(f, params, v)
    assert dot(u, Hv) == pytest.approx(dot(v, Hu), rel=1e-10)
    Hsum = tm.hvp(f, params, tuple(2 * a - b for a, b in zip(u, v, strict=True)))
    assert all(np.allclose(h, 2 * a - b) for h, a, b in zip(Hsum, Hu, Hv, strict=True))


@tm.tapem
def scalar_program(x: tm.Handle, y: tm.Handle) -> tm.Gen[tm.Handle]:
    a = yield ops.sin(x)
    b = yield ops.softplus((yield a * y))
    c = yield ops.log_softmax_last((yield b - (yield x * x)))
    return (yield ops.sum((yield c * 0.5)))


@settings(max_examples=30, deadline=None)
@given(
    shape=hnp.array_shapes(min_dims=1, max_dims=2, max_side=4),
    data=st.data(),
)
def test_jvp_is_the_gradient_dotted_with_the_tangent(shape: Any, data: st.DataObject) -> None:
    floats = st.floats(-2, 2, allow_subnormal=False)
    x, y, vx, vy = (data.draw(hnp.arrays(np.float64, shape, elements=floats)) for _ in range(4))
    value, tangent = tm.jvp(scalar_program, (x, y), (vx, vy))
    value2, (gx, gy) = tm.vjp(scalar_program, (x, y), 1.0)
    assert float(value) == float(value2)
    expected = np.sum(gx * vx) + np.sum(gy * vy)
    assert float(tangent) == pytest.approx(float(expected), rel=1e-9, abs=1e-12)


def test_vjp_matches_the_gradients_of_the_weighted_sum() -> None:
    rng = np.random.default_rng(5)
    a, b, u = rng.standard_normal((3, 2)), rng.standard_normal(2), rng.standard_normal((3, 2))

    @tm.tapem
    def f(a: tm.Handle, b: tm.Handle) -> tm.Gen[tm.Handle]:
        return (yield ops.tanh((yield a * b)))

    @tm.tapem
    def weighted() -> tm.Gen[tm.Handle]:
        A = yield from tm.param(a, name="a")
        B = yield from tm.param(b, name="b")
        U = yield from tm.const(u)
        y = yield from f(A, B)
        return (yield ops.sum((yield y * U)))

    value, (da, db) = tm.vjp(f, (a, b), u)
    grads = tm.grad(weighted())
    assert np.allclose(value, np.tanh(a * b))
    assert np.array_equal(da, grads["a"]) and np.array_equal(db, grads["b"])


@pytest.mark.parametrize(("n_in", "n_out"), [(2, 5), (5, 2), (3, 3)])
def test_jacobian_forward_and_reverse_agree_with_finite_differences(n_in: int, n_out: int) -> None:
    rng = np.random.default_rng(n_in * 10 + n_out)
    W = rng.standard_normal((n_out, n_in))

    @tm.tapem
    def f(x: tm.Handle) -> tm.Gen[tm.Handle]:
        Wc = yield from tm.const(W)
        z = yield Wc @ (yield ops.sin(x))
        return (yield ops.softmax_last(z))

    x = rng.standard_normal(n_in)
    forward = tm.jacobian(f, x, mode="forward")
    backward = tm.jacobian(f, x, mode="reverse")
    assert forward.shape == backward.shape == (n_out, n_in)
    assert np.allclose(forward, backward, rtol=1e-12, atol=1e-14)
    numeric = np.stack(
        [
            (tm.jvp(f, (x + EPS * e,), (e,))[0] - tm.jvp(f, (x - EPS * e,), (e,))[0]) / (2 * EPS)
            for e in np.eye(n_in)
        ],
        axis=-1,
    )
    assert np.allclose(tm.jacobian(f, x), numeric, rtol=1e-7, atol=1e-9)


def test_jacobian_of_a_matrix_input_has_out_shape_plus_in_shape() -> None:
    x = np.arange(6.0).reshape(2, 3) / 6

    @tm.tapem
    def f(x: tm.Handle) -> tm.Gen[tm.Handle]:
        return (yield ops.sum((yield x * x), axis=1))

    J = tm.jacobian(f, x)
    assert J.shape == (2, 2, 3)
    expected = np.zeros((2, 2, 3))
    expected[0, 0], expected[1, 1] = 2 * x[0], 2 * x[1]
    assert np.allclose(J, expected) and np.allclose(tm.jacobian(f, x, mode="forward"), expected)


def test_primals_keep_their_dtype() -> None:
    x = np.array([0.5, -1.2], dtype=np.float32)
    (hv,) = tm.hvp(mean_square, (x,), (np.ones(2, dtype=np.float32),))
    assert hv.dtype == np.float32 and np.allclose(hv, [1.0, 1.0])
    assert tm.hessian(mean_square, x).dtype == np.float32
    value, tangent = tm.jvp(mean_square, (x,), (np.ones(2),))
    assert value.dtype == tangent.dtype == np.float32
    _, (g,) = tm.vjp(mean_square, ([1, 2],), 1.0)  # integers become float64
    assert g.dtype == np.float64 and np.allclose(g, [1.0, 2.0])


def test_errors_are_raised_typed() -> None:
    x = np.array([1.0, 2.0])

    @tm.tapem
    def vector(x: tm.Handle) -> tm.Gen[tm.Handle]:
        return (yield x * 2.0)

    @tm.tapem
    def bad_log(x: tm.Handle) -> tm.Gen[tm.Handle]:
        return (yield ops.sum((yield ops.log((yield x - 5.0)))))

    with pytest.raises(tm.NotScalar):
        tm.hvp(vector, (x,), (x,))
    with pytest.raises(tm.NotScalar):
        tm.vjp(vector, (x,), 1.0)  # the cotangent must have the output's shape
    with pytest.raises(tm.InvalidArgument):
        tm.hvp(mean_square, (x,), (x, x))
    with pytest.raises(tm.ShapeMismatch):
        tm.jvp(mean_square, (x,), (np.ones(3),))
    with pytest.raises(tm.DomainError):
        tm.hvp(bad_log, (x,), (x,))
    with pytest.raises(TypeError, match="tuple"):
        tm.jvp(mean_square, x, x)
    with pytest.raises(tm.InvalidArgument):
        tm.jacobian(vector, x, mode="sideways")


def test_an_unused_argument_gets_zeros() -> None:
    @tm.tapem
    def first(a: tm.Handle, b: tm.Handle) -> tm.Gen[tm.Handle]:
        return (yield ops.sum((yield a * a)))

    a, b = np.array([1.0, 2.0]), np.array([3.0])
    _, (da, db) = tm.vjp(first, (a, b), 1.0)
    assert np.array_equal(db, [0.0]) and np.array_equal(da, [2.0, 4.0])
    ha, hb = tm.hvp(first, (a, b), (np.ones(2), np.ones(1)))
    assert np.array_equal(ha, [2.0, 2.0]) and np.array_equal(hb, [0.0])


def test_an_output_made_before_an_argument_gives_it_zeros() -> None:
    @tm.tapem
    def first(a: tm.Handle, b: tm.Handle) -> tm.Gen[tm.Handle]:
        yield b * 2.0
        return a  # node 0: nothing flows back to node 1

    a, b = np.array(2.0), np.array([3.0])
    _, (da, db) = tm.vjp(first, (a, b), 1.0)
    assert float(da) == 1.0 and np.array_equal(db, [0.0])
    ha, hb = tm.hvp(first, (a, b), (np.ones(()), np.ones(1)))
    assert float(ha) == 0.0 and np.array_equal(hb, [0.0])


def test_jacobian_in_forward_mode_of_an_empty_input() -> None:
    @tm.tapem
    def f(x: tm.Handle) -> tm.Gen[tm.Handle]:
        ones = yield from tm.const(np.ones(3))
        return (yield (yield ops.sum(x)) * ones)

    J = tm.jacobian(f, np.zeros(0), mode="forward")
    assert J.shape == (3, 0)
    assert tm.jacobian(f, np.zeros(0), mode="reverse").shape == (3, 0)


def test_a_function_that_returns_no_handle_is_named_in_the_error() -> None:
    @tm.tapem
    def no_handle(x: tm.Handle) -> tm.Gen[Any]:
        yield x * x
        return 0.0

    x = np.array([1.0, 2.0])
    for who, call in [
        ("jvp", lambda: tm.jvp(no_handle, (x,), (x,))),
        ("vjp", lambda: tm.vjp(no_handle, (x,), 1.0)),
        ("hvp", lambda: tm.hvp(no_handle, (x,), (x,))),
        ("hessian", lambda: tm.hessian(no_handle, x)),
        ("jacobian", lambda: tm.jacobian(no_handle, x, mode="forward")),
        ("jacobian", lambda: tm.jacobian(no_handle, x)),
    ]:
        with pytest.raises(tm.NotAHandle, match=f"^{who} .*'no_handle' returned float"):
            call()
