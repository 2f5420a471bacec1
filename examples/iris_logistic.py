"""Multinomial logistic regression on Fisher's Iris (shipped with tapem).

Run: python examples/iris_logistic.py
"""

from __future__ import annotations

import numpy as np

import tapem as tm
from tapem import ops
from tapem.datasets import load_iris, train_test_split
from tapem.optim import Adam


@tm.tapem
def logits(params, x):
    W = yield from tm.param(params["W"], name="W")
    b = yield from tm.param(params["b"], name="b")
    X = yield from tm.const(x)
    return (yield ops.linear(W, b, X))


@tm.tapem
def loss(params, batch):
    x, y = batch
    z = yield from logits(params, x)
    Y = yield from tm.const(y)
    return (yield ops.cross_entropy(z, Y))


def accuracy(params, batch):
    x, y = batch
    return float(np.mean(np.argmax(tm.value_of(logits(params, x)), axis=-1) == y))


def main(epochs: int = 60, progress: bool = True) -> float:
    x, y, *_ = load_iris()
    x = (x - x.mean(axis=0)) / x.std(axis=0)  # standardized features
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.3, stratify=True)
    loader = tm.DataLoader(list(zip(x_train, y_train, strict=True)), 16, shuffle=True, seed=0)
    test_batches = [(x_test, y_test)]
    params = {"W": np.zeros((3, 4)), "b": np.zeros(3)}
    history = tm.fit(
        loss,
        params,
        loader,
        Adam(lr=0.05),
        epochs,
        eval_data=test_batches,
        metrics={"accuracy": accuracy},
        progress=progress,
    )
    test_accuracy = history.metrics["accuracy"][-1]
    print(f"Iris: test accuracy {test_accuracy:.3f} after {epochs} epochs")
    return test_accuracy


if __name__ == "__main__":
    main()
