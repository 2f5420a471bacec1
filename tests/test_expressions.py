"""Losses that read like numpy: numpy's functions and array methods on handles build the
matching requests, a request may be an expression of requests (one yield per statement), and
what has no op is refused naming the closest one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

import tapem as tm
from tapem import ops
from tapem.interpreters import Eager, ShapeOnly, Tracing

THIS_FILE = Path(__file__).read_text().splitlines()

RNG = np.random.default_rng(3)
W0, B0 = RNG.normal(size=(2, 3)), RNG.normal(size=2)
X0, Y0 = RNG.normal(size=(5, 3)), RNG.normal(size=(5, 2))


def line_of(marker: str) -> int:
    hits = [i for i, line in enumerate(THIS_FILE, start=1) if line.endswith(f"# {marker}")]
    assert len(hits) == 1, marker
    return hits[0]


@tm.tapem
def one_statement() -> tm.Gen[tm.Handle]:
    W = yield from tm.param(W0, name="W")
    b = yield from tm.param(B0, name="b")
    X = yield from tm.const(X0)
    Y = yield from tm.const(Y0)
    return (yield np.mean((X @ W.T + b - Y) ** 2))  # <- one yield


@tm.tapem
def one_yield_per_op() -> tm.Gen[tm.Handle]:
    W = yield from tm.param(W0, name="W")
    b = yield from tm.param(B0, name="b")
    X = yield from tm.const(X0)
    Y = yield from tm.const(Y0)
    Wt = yield ops.transpose(W)
    z = yield ops.matmul(X, Wt)
    zb = yield ops.add(z, b)
    r = yield ops.sub(zb, Y)
    sq = yield ops.pow(r, 2.0)
    return (yield ops.mean(sq))


def test_an_expression_records_the_same_ops_and_gives_the_same_gradients() -> None:
    v1, g1 = tm.value_and_grad(one_statement())
    v2, g2 = tm.value_and_grad(one_yield_per_op())
    assert np.array_equal(v1, v2)  # the same rules in the same order: bit for bit
    assert all(np.array_equal(g1[k], g2[k]) for k in ("W", "b"))
    _, t1 = tm.run(one_statement()).unwrap()
    _, t2 = tm.run(one_yield_per_op()).unwrap()
    assert [(n.op, n.parents, n.args) for n in t1] == [(n.op, n.parents, n.args) for n in t2]


def test_each_op_of_an_expression_is_traced_at_the_line_of_its_yield() -> None:
    tracer = Tracing(Eager())
    tm.run(one_statement(), interpreter=tracer)
    ops_traced = [e for e in tracer.entries if e.op != "leaf"]
    assert [e.op for e in ops_traced] == ["transpose", "matmul", "add", "sub", "pow", "mean"]
    assert {e.location.line for e in ops_traced} == {line_of("<- one yield")}  # type: ignore[union-attr]


def test_a_shared_sub_expression_is_recorded_once() -> None:
    @tm.tapem
    def program() -> tm.Gen[tm.Handle]:
        x = yield from tm.param(np.array([0.5, 2.0]), name="x")
        e = np.exp(x)
        return (yield ops.sum(e * e + e))

    value, grads = tm.value_and_grad(program())
    _, tape = tm.run(program()).unwrap()
    assert [n.op for n in tape].count("exp") == 1
    ex = np.exp([0.5, 2.0])
    assert np.allclose(value, np.sum(ex * ex + ex)) and np.allclose(grads["x"], 2 * ex**2 + ex)


def test_ops_calls_and_operators_mix_in_an_expression() -> None:
    @tm.tapem
    def logistic() -> tm.Gen[tm.Handle]:
        z = yield from tm.param(np.array([0.3, -1.0]), name="z")
        Y = yield from tm.const(np.array([1.0, 0.0]))
        return (yield ops.sum(ops.softplus(z) - Y * z))

    value, grads = tm.value_and_grad(logistic())
    z, y = np.array([0.3, -1.0]), np.array([1.0, 0.0])
    assert np.allclose(value, np.sum(np.logaddexp(0, z) - y * z))
    assert np.allclose(grads["z"], 1 / (1 + np.exp(-z)) - y)


NUMPY_CASES: list[tuple[str, Any, Any]] = [
    ("np.exp", lambda h: np.exp(h), lambda x: np.exp(x)),
    ("np.tanh of W @ x", lambda h: np.tanh(h @ h.T), lambda x: np.tanh(x @ x.T)),
    ("np.sum axis", lambda h: np.sum(h, axis=0), lambda x: np.sum(x, axis=0)),
    ("np.mean keepdims", lambda h: np.mean(h, axis=1, keepdims=True),
     lambda x: np.mean(x, axis=1, keepdims=True)),
    ("np.matmul", lambda h: np.matmul(h, h.T), lambda x: x @ x.T),
    ("np.dot", lambda h: np.dot(h, h.T), lambda x: np.dot(x, x.T)),
    ("np.maximum", lambda h: np.maximum(h, 0.5), lambda x: np.maximum(x, 0.5)),
    ("np.minimum", lambda h: np.minimum(h, h * 2.0), lambda x: np.minimum(x, x * 2.0)),
    ("np.concatenate", lambda h: np.concatenate([h, h * 2.0], axis=1),
     lambda x: np.concatenate([x, x * 2.0], axis=1)),
    ("np.stack", lambda h: np.stack([h, -h]), lambda x: np.stack([x, -x])),
    ("np.reshape", lambda h: np.reshape(h, (3, 2)), lambda x: np.reshape(x, (3, 2))),
    ("np.transpose", lambda h: np.transpose(h), lambda x: np.transpose(x)),
    ("np.clip", lambda h: np.clip(h, -0.5, 0.5), lambda x: np.clip(x, -0.5, 0.5)),
    ("h.sum()", lambda h: h.sum(), lambda x: x.sum()),
    ("h.mean(axis=0)", lambda h: h.mean(axis=0), lambda x: x.mean(axis=0)),
    ("h.reshape(3, 2)", lambda h: h.reshape(3, 2), lambda x: x.reshape(3, 2)),
    ("h.reshape((6,))", lambda h: h.reshape((6,)), lambda x: x.reshape((6,))),
    ("h.transpose(1, 0)", lambda h: h.transpose(1, 0), lambda x: x.transpose(1, 0)),
    ("h.T", lambda h: h.T, lambda x: x.T),
    ("h.clip(lo, hi)", lambda h: h.clip(-0.5, 0.5), lambda x: x.clip(-0.5, 0.5)),
    ("np.float64 * h", lambda h: np.float64(2.0) * h, lambda x: 2.0 * x),
    ("2 - h / 3", lambda h: 2 - h / 3, lambda x: 2 - x / 3),
    ("h[1:, ::2]", lambda h: h[1:, ::2], lambda x: x[1:, ::2]),
    ("np.abs, np.sqrt", lambda h: np.sqrt(np.abs(h)), lambda x: np.sqrt(np.abs(x))),
]  # fmt: skip


@pytest.mark.parametrize(("name", "build", "expect"), NUMPY_CASES, ids=[c[0] for c in NUMPY_CASES])
def test_numpy_on_handles_builds_the_matching_ops(name: str, build: Any, expect: Any) -> None:
    x0 = np.array([[0.2, -0.7, 1.1], [0.4, 0.9, -0.3]])

    @tm.tapem
    def program() -> tm.Gen[tm.Handle]:
        x = yield from tm.param(x0, name="x")
        return (yield build(x))

    assert np.allclose(tm.value_of(program()), expect(x0))
    out, tape = tm.run(program(), interpreter=ShapeOnly()).unwrap()  # shapes alone, too
    assert out.shape == np.shape(expect(x0))


def test_np_where_takes_a_handle_condition_and_numbers() -> None:
    @tm.tapem
    def program() -> tm.Gen[tm.Handle]:
        x = yield from tm.param(np.array([-1.0, 2.0, -3.0]), name="x")
        positive = yield from tm.const(np.array([False, True, False]))
        return (yield ops.sum(np.where(positive, x, 0.0)))

    value, grads = tm.value_and_grad(program())
    assert value == 2.0 and np.array_equal(grads["x"], [0.0, 1.0, 0.0])


@pytest.mark.parametrize(
    ("use", "closest"),
    [
        (lambda h: np.log1p(h), "ops.log"),
        (lambda h: np.var(h), "np.mean((x - np.mean(x)) ** 2)"),
        (lambda h: np.max(h), "ops.max (elementwise)"),
        (lambda h: np.cumsum(h), "none yet"),
        (lambda h: np.add.reduce(h), ""),
    ],
)
def test_numpy_without_an_op_is_refused_naming_the_closest(use: Any, closest: str) -> None:
    h = tm.Handle(0, np.zeros(3))
    with pytest.raises(tm.UnsupportedOperation, match="has no tapem op") as info:
        use(h)
    assert closest in str(info.value) and "tm.OpDef" in str(info.value)
    assert isinstance(info.value, TypeError)  # as numpy's own refusals are


def test_numpy_names_are_kept_and_a_pytorch_name_gets_a_hint() -> None:
    h = tm.Handle(0, np.zeros((2, 3)))
    with pytest.raises(tm.UnsupportedOperation, match="numpy's name for the axis is `axis=`"):
        h.sum(dim=1)
    with pytest.raises(tm.UnsupportedOperation, match="`keepdims=`, not `keepdim=`"):
        h.mean(keepdim=True)  # (numpy itself refuses np.mean(h, keepdim=True))
    with pytest.raises(TypeError, match="unexpected parameter 'dim'.*`axis=`"):
        ops.sum(h, dim=1)


def test_np_dot_of_two_handles_is_a_matmul_not_an_elementwise_product() -> None:
    a, b = tm.Handle(0, np.zeros((2, 3))), tm.Handle(1, np.zeros((3, 4)))
    assert np.dot(a, b).op == "matmul"


def test_an_array_of_handles_is_refused() -> None:
    a, b = tm.Handle(0, np.zeros(2)), tm.Handle(1, np.zeros(2))
    with pytest.raises(tm.UnsupportedOperation, match="np.stack"):
        np.array([a, b])
    with pytest.raises(tm.UnsupportedOperation, match="holds no values"):
        np.asarray(a)


def test_a_plain_array_in_an_expression_says_to_put_it_on_the_tape() -> None:
    h = tm.Handle(0, np.zeros(2))
    with pytest.raises(tm.UnsupportedOperation, match="tm.const"):
        h * np.ones(2)
    with pytest.raises(tm.UnsupportedOperation, match="tm.const"):
        np.ones(2) + h
