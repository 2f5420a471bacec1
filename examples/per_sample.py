"""A loss written one sample at a time, run once over the whole batch (``batched=True``).

Binary logistic regression on Iris (versicolor vs virginica). The loss of one sample is
``softplus(-s * (w.x + b))`` with ``s = ±1``; ``mean_scalar_over`` averages it over a batch.
With ``batched=False`` it runs the per-sample program once per sample and records TorchLean's
sum-then-scale tape; with ``batched=True`` it runs it once on the samples stacked (each op by
its batching rule), for the same value and gradients up to the order of summation. The example
trains with the batched form, checks that both forms agree, and prints their timings.

Run: python examples/per_sample.py
"""

from __future__ import annotations

import time

import numpy as np

import tapem as tm
from tapem import ops
from tapem.datasets import load_iris, train_test_split
from tapem.optim import SGD


@tm.tapem
def loss(params, batch: tm.Collated, batched: bool = True):
    W = yield from tm.param(params["w"], name="w")
    b = yield from tm.param(params["b"], name="b")

    def per_sample(sample):
        x, sign = sample
        X, S = (yield from tm.const(x)), (yield from tm.const(sign))
        margin = yield -(ops.linear(W, b, X) * S)  # [1]
        return (yield np.sum(ops.softplus(margin)))

    return (yield from tm.mean_scalar_over(batch, per_sample, tag="iris", batched=batched))


def accuracy(params, batch: tm.Collated) -> float:
    x, sign = batch.fields
    return float(np.mean(np.sign(x @ params["w"][0] + params["b"][0]) == sign))


def timings(params, batch: tm.Collated, rounds: int = 20) -> dict[bool, float]:
    """The best time of value_and_grad over the batch, in each form (taking turns)."""
    best = {False: float("inf"), True: float("inf")}
    for _ in range(rounds):
        for batched in best:
            start = time.perf_counter()
            tm.value_and_grad(loss(params, batch, batched))
            best[batched] = min(best[batched], time.perf_counter() - start)
    return best


def main(epochs: int = 30, progress: bool = True) -> float:
    x, y, *_ = load_iris()
    keep = y > 0
    x, sign = x[keep], np.where(y[keep] == 2, 1.0, -1.0)
    x = (x - x.mean(axis=0)) / x.std(axis=0)
    x_train, x_test, s_train, s_test = train_test_split(x, sign, test_size=0.3, stratify=True)
    samples = list(zip(x_train, s_train, strict=True))
    loader = tm.DataLoader(samples, 10, shuffle=True, seed=1, collate=tm.Collated.from_samples)
    params = {"w": np.zeros((1, 4)), "b": np.zeros(1)}
    test = tm.Collated.from_samples(list(zip(x_test, s_test, strict=True)))
    history = tm.fit(loss, params, loader, SGD(lr=0.1, momentum=0.9), epochs, eval_data=[test],
                     metrics={"accuracy": accuracy}, progress=progress)  # fmt: skip
    test_accuracy = history.metrics["accuracy"][-1]
    print(f"per-sample logistic regression: test accuracy {test_accuracy:.3f}")

    train = tm.Collated.from_samples(samples)
    looped, batched = (tm.value_and_grad(loss(history.params, train, b)) for b in (False, True))
    assert np.isclose(looped[0], batched[0], rtol=1e-12)
    assert all(np.allclose(looped[1][k], batched[1][k], rtol=1e-12) for k in looped[1])
    best = timings(history.params, train)
    looped_ms, batched_ms = best[False] * 1e3, best[True] * 1e3
    print(f"value and gradients over {len(train)} samples: looped {looped_ms:.2f} ms, "
          f"batched {batched_ms:.2f} ms ({looped_ms / batched_ms:.0f}x faster)")  # fmt: skip
    return test_accuracy


if __name__ == "__main__":
    main()
