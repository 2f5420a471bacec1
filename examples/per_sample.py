"""A loss written one sample at a time, averaged with ``mean_scalar_over_dataset``.

Binary logistic regression on Iris (versicolor vs virginica). Each batch from the loader is a
``tm.Dataset`` of samples; the loss of one sample is ``softplus(-s * (w.x + b))`` with
``s = ±1``, and ``mean_scalar_over_dataset`` records TorchLean's sum-then-scale mean over them.

Run: python examples/per_sample.py
"""

from __future__ import annotations

import numpy as np

import tapem as tm
from tapem import ops
from tapem.datasets import load_iris, train_test_split
from tapem.optim import SGD


@tm.tapem
def loss(params, batch: tm.Dataset):
    W = yield from tm.param(params["w"], name="w")
    b = yield from tm.param(params["b"], name="b")

    def per_sample(sample):
        x, sign = sample
        X = yield from tm.const(x)
        score = yield ops.linear(W, b, X)  # [1]
        margin = yield score * -sign
        return (yield ops.sum((yield ops.softplus(margin))))

    return (yield from tm.mean_scalar_over_dataset(batch, per_sample, tag="iris"))


def accuracy(params, batch: tm.Dataset) -> float:
    correct = [np.sign(params["w"] @ x + params["b"])[0] == s for x, s in batch]
    return float(np.mean(correct))


def main(epochs: int = 30, progress: bool = True) -> float:
    x, y, *_ = load_iris()
    keep = y > 0
    x, sign = x[keep], np.where(y[keep] == 2, 1.0, -1.0)
    x = (x - x.mean(axis=0)) / x.std(axis=0)
    x_train, x_test, s_train, s_test = train_test_split(x, sign, test_size=0.3, stratify=True)
    samples = list(zip(x_train, s_train, strict=True))
    loader = tm.DataLoader(samples, 10, shuffle=True, seed=1, collate=tm.Dataset.from_list)
    history = tm.fit(
        loss,
        {"w": np.zeros((1, 4)), "b": np.zeros(1)},
        loader,
        SGD(lr=0.1, momentum=0.9),
        epochs,
        eval_data=[tm.Dataset.from_list(list(zip(x_test, s_test, strict=True)))],
        metrics={"accuracy": accuracy},
        progress=progress,
    )
    test_accuracy = history.metrics["accuracy"][-1]
    print(f"per-sample logistic regression: test accuracy {test_accuracy:.3f}")
    return test_accuracy


if __name__ == "__main__":
    main()
