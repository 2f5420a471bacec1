"""fit compiles its loss by default: the same history, bit for bit, as eager training."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import tapem as tm
from tapem import ops
from tapem.optim import SGD, Adam

pytestmark = pytest.mark.filterwarnings("error::tapem.ReplayWarning")  # no bug hides


@tm.tapem
def mlp(params: dict[str, Any], batch: Any) -> tm.Gen[tm.Handle]:
    x, y = batch
    W1 = yield from tm.param(params["W1"], name="W1")
    b1 = yield from tm.param(params["b1"], name="b1")
    W2 = yield from tm.param(params["W2"], name="W2")
    b2 = yield from tm.param(params["b2"], name="b2")
    hidden = yield ops.tanh((yield ops.linear(W1, b1, (yield from tm.const(x)))))
    return (yield ops.cross_entropy((yield ops.linear(W2, b2, hidden)), (yield from tm.const(y))))


@tm.tapem
def per_sample(params: dict[str, Any], batch: Any) -> tm.Gen[tm.Handle]:
    W = yield from tm.param(params["W"], name="W")
    b = yield from tm.param(params["b"], name="b")

    def one(sample: Any) -> tm.Gen[tm.Handle]:
        x, y = sample
        logits = yield ops.linear(W, b, (yield from tm.const(x)))
        return (yield ops.cross_entropy(logits, (yield from tm.const(y))))

    return (yield from tm.mean_scalar_over(batch, one))


def data(n: int = 70) -> tuple[Any, Any]:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, 4))
    return x, (x[:, 0] > 0).astype(np.int64) + (x[:, 1] > 0)


def train(loss: Any, params: dict[str, Any], collate: Any, compile: bool) -> tm.History:
    x, y = data()
    loader = tm.DataLoader(list(zip(x, y, strict=True)), 16, shuffle=True, seed=3, collate=collate)
    stacked = collate is tm.data.default_collate  # evaluate on arrays (a per-sample loss: no)
    evaluation = [(x[:20], y[:20])] if stacked else None
    return tm.fit(loss, params, loader, Adam(lr=0.05), 4, eval_data=evaluation, progress=False,
                  compile=compile)  # fmt: skip


MLP = {"W1": np.full((5, 4), 0.1), "b1": np.zeros(5), "W2": np.full((3, 5), -0.2),
       "b2": np.zeros(3)}  # fmt: skip


@pytest.mark.parametrize(
    ("loss", "params", "collate"),
    [(mlp, MLP, tm.data.default_collate),
     (per_sample, {"W": np.full((3, 4), 0.1), "b": np.zeros(3)}, list)],
)  # fmt: skip
def test_fit_trains_the_same_compiled_or_not(loss: Any, params: Any, collate: Any) -> None:
    eager = train(loss, params, collate, compile=False)
    compiled = train(loss, params, collate, compile=True)
    assert compiled.train_loss == eager.train_loss and compiled.eval_loss == eager.eval_loss
    assert list(compiled.params) == list(eager.params)
    for key in eager.params:
        assert compiled.params[key].tobytes() == eager.params[key].tobytes()


def test_fit_replays_the_batches_of_one_signature() -> None:
    traced = []

    @tm.tapem
    def counted(params: dict[str, Any], batch: Any) -> tm.Gen[tm.Handle]:
        traced.append(1)  # runs once per trace (and per eager call), not per replay
        return (yield from mlp(params, batch))

    params = dict(MLP)
    x, y = data(64)
    loader = tm.DataLoader(list(zip(x, y, strict=True)), 16, shuffle=True, seed=1)
    tm.fit(counted, params, loader, SGD(lr=0.1), 3, eval_data=[(x, y)], progress=False)
    assert len(traced) == 2  # one plan for the training batches, one for the evaluation
    traced.clear()
    tm.fit(counted, params, loader, SGD(lr=0.1), 3, progress=False, compile=False)
    assert len(traced) == 3 * 4


def test_a_compiled_loss_can_be_given_to_fit() -> None:
    c = tm.compile(mlp)
    params = dict(MLP)
    x, y = data(48)
    loader = tm.DataLoader(list(zip(x, y, strict=True)), 16)
    history = tm.fit(c, params, loader, SGD(lr=0.1), 2, progress=False)
    assert (c.traces, c.replays) == (1, 5) and history.epochs == 2
