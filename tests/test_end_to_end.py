"""The pieces together: bundled data -> split -> DataLoader -> value_and_grad -> Adam + schedule."""

from __future__ import annotations

import numpy as np

import tapem as tm
from tapem import ops


@tm.tapem
def softmax_regression(
    w: np.ndarray, b: np.ndarray, x: np.ndarray, y: np.ndarray
) -> tm.Gen[tm.Handle]:
    W = yield from tm.param(w, name="W")
    B = yield from tm.param(b, name="b")
    X = yield from tm.const(x)
    Y = yield from tm.const(y)
    logits = yield ops.linear(W, B, X)
    return (yield ops.cross_entropy(logits, Y))


def test_softmax_regression_learns_iris() -> None:
    x, y, *_ = tm.datasets.load_iris()
    x = (x - x.mean(axis=0)) / x.std(axis=0)
    x_train, x_test, y_train, y_test = tm.datasets.train_test_split(x, y, stratify=True, seed=1)
    loader = tm.DataLoader(
        tm.Dataset.from_list(zip(x_train, y_train, strict=True)), batch_size=16, shuffle=True
    )
    opt = tm.optim.Adam(lr=0.05)
    schedule = tm.optim.CosineAnnealingLR(opt, T_max=30)
    params = {"W": np.zeros((3, 4)), "b": np.zeros(3)}
    first_epoch_loss = None
    for _ in range(30):
        losses = []
        for xb, yb in loader:
            value, grads = tm.value_and_grad(softmax_regression(params["W"], params["b"], xb, yb))
            params = opt.step(params, grads)
            losses.append(float(value))
        first_epoch_loss = first_epoch_loss or float(np.mean(losses))
        schedule.step()
    assert loader.epoch == 30 and opt.lr == 0.0  # the cosine reached eta_min
    assert float(np.mean(losses)) < 0.5 * first_epoch_loss
    predictions = (x_test @ params["W"].T + params["b"]).argmax(axis=1)
    assert (predictions == y_test).mean() > 0.9
