"""A two-layer MLP on the UCI handwritten digits (8x8 images, shipped with tapem).

Run: python examples/digits_mlp.py
"""

from __future__ import annotations

import numpy as np

import tapem as tm
from tapem import ops
from tapem.datasets import load_digits, train_test_split
from tapem.optim import Adam


def init_params(seed: int = 0, hidden: int = 128) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "W1": rng.standard_normal((hidden, 64)) * np.sqrt(2 / 64),
        "b1": np.zeros(hidden),
        "W2": rng.standard_normal((10, hidden)) * np.sqrt(1 / hidden),
        "b2": np.zeros(10),
    }


@tm.tapem
def logits(params, x):
    W1 = yield from tm.param(params["W1"], name="W1")
    b1 = yield from tm.param(params["b1"], name="b1")
    W2 = yield from tm.param(params["W2"], name="W2")
    b2 = yield from tm.param(params["b2"], name="b2")
    X = yield from tm.const(x, name="x")
    hidden = yield ops.relu(ops.linear(W1, b1, X))  # one yield: the two ops in turn
    return (yield ops.linear(W2, b2, hidden))


@tm.tapem
def loss(params, batch):
    x, y = batch
    z = yield from logits(params, x)
    Y = yield from tm.const(y, name="labels")
    return (yield ops.cross_entropy(z, Y))


def accuracy(params, batch):
    x, y = batch
    return float(np.mean(np.argmax(tm.value_of(logits(params, x)), axis=-1) == y))


def data(seed: int = 0):
    x, y, *_ = load_digits()
    x = x / 16.0  # pixel counts 0..16 -> [0, 1]
    return train_test_split(x, y, test_size=0.25, seed=seed, stratify=True)


def main(epochs: int = 20, progress: bool = True, plot: str | None = None) -> tm.History:
    x_train, x_test, y_train, y_test = data()
    loader = tm.DataLoader(list(zip(x_train, y_train, strict=True)), 32, shuffle=True, seed=0)
    history = tm.fit(
        loss,
        init_params(),
        loader,
        Adam(lr=3e-3),
        epochs,
        eval_data=[(x_test, y_test)],
        metrics={"accuracy": accuracy},
        progress=progress,
    )
    print(f"digits MLP: test accuracy {history.metrics['accuracy'][-1]:.4f} after {epochs} epochs")
    if plot:
        print(f"loss curve saved to {history.plot(plot, title='digits MLP')}")
    return history


if __name__ == "__main__":
    main()
