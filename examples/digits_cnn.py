"""A small convolutional network on the UCI handwritten digits (8x8 images, shipped with tapem).

conv 3x3 (16 channels) -> relu -> max-pool 2 -> conv 3x3 (32) -> relu -> max-pool 2 -> linear.

Run: python examples/digits_cnn.py
"""

from __future__ import annotations

import numpy as np

import tapem as tm
from tapem import ops
from tapem.datasets import load_digits, train_test_split
from tapem.optim import Adam


def init_params(seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)

    def he(*shape: int) -> np.ndarray:
        fan_in = int(np.prod(shape[1:]))
        return (rng.standard_normal(shape) * np.sqrt(2 / fan_in)).astype(np.float32)

    return {
        "k1": he(16, 1, 3, 3),
        "c1": np.zeros(16, np.float32),
        "k2": he(32, 16, 3, 3),
        "c2": np.zeros(32, np.float32),
        "W": he(10, 128),
        "b": np.zeros(10, np.float32),
    }


@tm.tapem
def logits(params, images):
    """images [N, 1, 8, 8] -> logits [N, 10]."""
    p = {}
    for name in ("k1", "c1", "k2", "c2", "W", "b"):
        p[name] = yield from tm.param(params[name], name=name)
    x = yield from tm.const(images, name="images")
    h = yield ops.relu(ops.conv(p["k1"], p["c1"], x, 1, 1))  # [N, 16, 8, 8]
    h = yield ops.max_pool(h, (2, 2))  # [N, 16, 4, 4]
    h = yield ops.relu(ops.conv(p["k2"], p["c2"], h, 1, 1))  # [N, 32, 4, 4]
    h = yield ops.max_pool(h, (2, 2))  # [N, 32, 2, 2]
    h = yield ops.flatten(h, 1)  # [N, 128]
    return (yield ops.linear(p["W"], p["b"], h))


@tm.tapem
def loss(params, batch):
    images, labels = batch
    z = yield from logits(params, images)
    y = yield from tm.const(labels, name="labels")
    return (yield ops.cross_entropy(z, y))


def accuracy(params, batch):
    images, labels = batch
    return float(np.mean(np.argmax(tm.value_of(logits(params, images)), axis=-1) == labels))


def data(seed: int = 0):
    x, y, *_ = load_digits()
    images = (x / 16.0).astype(np.float32).reshape(-1, 1, 8, 8)
    return train_test_split(images, y, test_size=0.25, seed=seed, stratify=True)


def main(epochs: int = 20, progress: bool = True) -> tm.History:
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
    print(f"digits CNN: test accuracy {history.metrics['accuracy'][-1]:.4f} after {epochs} epochs")
    return history


if __name__ == "__main__":
    main()
