"""``python -m tapem demo``: an MLP trained on the UCI digits that ship with tapem.

It shows the whole path: a loss written as a generator program, compiled with
:func:`tapem.compile` (traced once per batch shape, then replayed) and trained with
:func:`tapem.fit` with a progress bar, the test accuracy, a few lines of the loss's trace (what
the tape recorded, with the user's source lines and gradient norms), and the saved loss curve.

This module is written as user code would be, and says so (``__tapem_user_code__``): traces and
errors report its lines as the user's, although it lives inside the package.
"""

from __future__ import annotations

import argparse
import os
from typing import Any

import numpy as np

import tapem as tm
from tapem import ops
from tapem.cli.common import Command
from tapem.datasets import load_digits, train_test_split
from tapem.interpreters import Eager, Tracing
from tapem.optim import Adam

__all__ = ["COMMAND", "loss", "main", "predict"]

__tapem_user_code__ = True

Params = dict[str, np.ndarray[Any, Any]]


def init_params(hidden: int, seed: int = 0) -> Params:
    rng = np.random.default_rng(seed)
    return {
        "W1": rng.standard_normal((hidden, 64)) * np.sqrt(2 / 64),
        "b1": np.zeros(hidden),
        "W2": rng.standard_normal((10, hidden)) * np.sqrt(1 / hidden),
        "b2": np.zeros(10),
    }


@tm.tapem
def predict(params: Params, images: np.ndarray[Any, Any]) -> tm.Gen[tm.Handle]:
    """Logits [N, 10] of a 64-hidden-10 ReLU network for images [N, 64]."""
    W1 = yield from tm.param(params["W1"], name="W1")
    b1 = yield from tm.param(params["b1"], name="b1")
    W2 = yield from tm.param(params["W2"], name="W2")
    b2 = yield from tm.param(params["b2"], name="b2")
    x = yield from tm.const(images, name="images")
    hidden = yield ops.relu((yield ops.linear(W1, b1, x)))
    return (yield ops.linear(W2, b2, hidden))


@tm.tapem
def loss(params: Params, batch: tuple[Any, Any]) -> tm.Gen[tm.Handle]:
    """Mean softmax cross-entropy of the batch."""
    images, labels = batch
    logits = yield from predict(params, images)
    y = yield from tm.const(labels, name="labels")
    return (yield ops.cross_entropy(logits, y))


def accuracy_of(logits: tm.Compiled[Any]) -> Any:
    """The accuracy metric, from the compiled ``predict``."""

    def accuracy(params: Params, batch: tuple[Any, Any]) -> float:
        images, labels = batch
        guesses = np.argmax(logits.value(params, images), axis=-1)
        return float(np.mean(guesses == labels))

    return accuracy


def main(
    epochs: int = 20, hidden: int = 128, plot: str | None = "tapem-demo-loss.png"
) -> tm.History:
    x, y, *_ = load_digits()
    x_train, x_test, y_train, y_test = train_test_split(
        x / 16.0, y, test_size=0.25, seed=0, stratify=True
    )
    print(
        f"tapem demo: a 64-{hidden}-10 MLP on the UCI handwritten digits "
        f"({len(x_train)} training and {len(x_test)} test images, 8x8), Adam, {epochs} epochs"
    )
    train = tm.DataLoader(list(zip(x_train, y_train, strict=True)), 32, shuffle=True, seed=0)
    compiled = tm.compile(loss)  # what fit does by default; kept here to show what it did
    history = tm.fit(
        compiled,
        init_params(hidden),
        train,
        Adam(lr=3e-3),
        epochs,
        eval_data=[(x_test, y_test)],
        metrics={"accuracy": accuracy_of(tm.compile(predict))},
    )
    print(f"\ntest accuracy: {100 * history.metrics['accuracy'][-1]:.1f}%")
    print(
        f"compiled loss: {compiled.traces} traces (the full batches, the last, shorter one and "
        f"the test set), {compiled.replays} replays"
    )

    tracer = Tracing(Eager())
    tm.value_and_grad(loss(history.params, (x_test[:4], y_test[:4])), interpreter=tracer)
    lines = tracer.listing(grads=True).splitlines()
    print(f"\nthe loss of a batch of 4 test images, as the tape recorded it ({len(lines)} nodes):")
    print("\n".join("  " + line for line in lines))
    if plot:
        try:
            path = history.plot(plot, title="tapem demo: digits MLP")
        except ImportError as error:
            print(f"\n(no loss curve: {error})")
        else:
            print(f"\nloss curve saved to {os.path.abspath(path)}")
    return history


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--epochs", type=int, default=20, help="training epochs (default 20)")
    parser.add_argument(
        "--plot",
        default="tapem-demo-loss.png",
        metavar="PNG",
        help="where to save the loss curve (needs matplotlib; '' to skip)",
    )


def run(args: argparse.Namespace) -> int:
    main(epochs=args.epochs, plot=args.plot or None)
    return 0


COMMAND = Command("demo", "train an MLP on the bundled digits and show its trace", configure, run)
