"""Linear regression written as a generator loss, trained with a few gradient steps.

Run: python examples/quickstart.py
"""

from __future__ import annotations

import numpy as np

import tapem as tm
from tapem import ops


@tm.tapem
def loss(w, b, xs, ys, batched=False):
    """Mean squared error of y = W x + b, written for one sample and averaged over all of them:
    one at a time (TorchLean's tape), or with ``batched=True`` once, on the samples stacked."""
    W = yield from tm.param(w, name="W")
    B = yield from tm.param(b, name="b")

    def per_sample(sample):
        x, y = sample
        X = yield from tm.const(x)
        Y = yield from tm.const(y)
        yhat = yield ops.linear(W, B, X)
        return (yield ops.mse_loss(yhat, Y))

    samples = list(zip(xs, ys, strict=True))
    return (yield from tm.mean_scalar_over(samples, per_sample, batched=batched))


def main(steps: int = 60, lr: float = 0.1) -> list[float]:
    rng = np.random.default_rng(0)
    xs = rng.uniform(-1, 1, size=(32, 2))
    ys = xs @ np.array([[2.0], [-3.0]]) + 0.5 + 0.01 * rng.standard_normal((32, 1))
    w, b = np.zeros((1, 2)), np.zeros(1)
    history = []
    # the first step runs the loss through the engine and records a plan; the others replay it
    # on the new parameters, with the same results as tm.value_and_grad(loss(...)), bit for bit
    compiled = tm.compile(loss)
    for step in range(steps):
        value, grads = compiled.value_and_grad(w, b, xs, ys, True)
        w, b = w - lr * grads["W"], b - lr * grads["b"]
        history.append(float(value))
        if step % 10 == 0 or step == steps - 1:
            print(f"step {step:3d}  loss {float(value):.6f}")
    print(f"learned W = {np.round(w, 3).tolist()}, b = {np.round(b, 3).tolist()}")
    return history


if __name__ == "__main__":
    main()
