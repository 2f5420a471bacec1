"""Data-parallel training on Dask: each batch's gradient computed shard by shard on workers.

The loss is the digits MLP's, written for one sample and averaged over the batch with
``tm.mean_scalar_over(..., batched=True)``, so each worker runs its shard's samples at once.
``tm.fit(..., executor=client)`` splits every batch into one shard per worker and combines the
shards' gradients, weighted by their sizes: the same training as without the executor, up to
rounding. The example first checks one step against the single-process gradient.

By default it starts a ``LocalCluster`` of 2 worker processes on this machine. To use a real
cluster, start a scheduler and workers with tapem installed (``dask scheduler`` on one host,
``dask worker tcp://host:8786`` on each of the others) and pass the scheduler's address, which
is all that changes in the code (``Client("tcp://host:8786")``):

    python examples/distributed.py --scheduler tcp://host:8786

The loss travels to the workers by value (cloudpickle ships a script's functions so): they need
tapem and numpy, not this file.

Run: python examples/distributed.py [--scheduler tcp://host:8786] [--epochs N]
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script, this file (distributed.py) would shadow Dask's own `distributed` package:
# take its folder off the import path before anything imports Dask.
sys.path = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import argparse  # noqa: E402
import logging  # noqa: E402

import numpy as np  # noqa: E402

import tapem as tm  # noqa: E402
import tapem.distributed  # noqa: E402
from tapem import ops  # noqa: E402
from tapem.datasets import load_digits, train_test_split  # noqa: E402
from tapem.optim import Adam  # noqa: E402


def init_params(seed: int = 0, hidden: int = 64) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "W1": rng.standard_normal((hidden, 64)) * np.sqrt(2 / 64),
        "b1": np.zeros(hidden),
        "W2": rng.standard_normal((10, hidden)) * np.sqrt(1 / hidden),
        "b2": np.zeros(10),
    }


@tm.tapem
def loss(params, batch: tm.Collated):
    """The mean over the batch of one image's cross-entropy (a shard's batch on a worker)."""
    W1 = yield from tm.param(params["W1"], name="W1")
    b1 = yield from tm.param(params["b1"], name="b1")
    W2 = yield from tm.param(params["W2"], name="W2")
    b2 = yield from tm.param(params["b2"], name="b2")

    def per_sample(sample):
        x, label = sample
        X, Y = (yield from tm.const(x)), (yield from tm.const(label))
        hidden = yield ops.relu((yield ops.linear(W1, b1, X)))
        return (yield ops.cross_entropy((yield ops.linear(W2, b2, hidden)), Y))

    return (yield from tm.mean_scalar_over(batch, per_sample, batched=True))


def accuracy(params, batch: tm.Collated) -> float:
    x, y = batch.fields
    hidden = np.maximum(x @ params["W1"].T + params["b1"], 0.0)
    return float(np.mean(np.argmax(hidden @ params["W2"].T + params["b2"], axis=-1) == y))


def connect(scheduler: str | None, workers: int):
    """A client of the scheduler at ``scheduler``, or of a new local cluster (and that cluster,
    to close after)."""
    from dask.distributed import Client, LocalCluster

    if scheduler is not None:
        return Client(scheduler), None
    cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                           dashboard_address=None, silence_logs=logging.ERROR)  # fmt: skip
    return Client(cluster), cluster


def main(epochs: int = 10, scheduler: str | None = None, workers: int = 2,
         progress: bool = True) -> float:  # fmt: skip
    x, y, *_ = load_digits()
    x_train, x_test, y_train, y_test = train_test_split(x / 16.0, y, test_size=0.25, seed=0)
    samples = list(zip(x_train, y_train, strict=True))
    loader = tm.DataLoader(samples, 128, shuffle=True, seed=0, collate=tm.Collated.from_samples)
    test = tm.Collated((x_test, y_test))
    params = init_params()
    client, cluster = connect(scheduler, workers)
    try:
        n = len(client.nthreads())
        first = next(iter(tm.DataLoader(samples, 128, collate=tm.Collated.from_samples)))
        value, grads = tapem.distributed.value_and_grad(loss, params, first, client)
        one_value, one_grads = tm.value_and_grad(loss(params, first))
        gap = max(float(np.max(np.abs(grads[k] - one_grads[k]))) for k in grads)
        assert np.isclose(value, one_value, rtol=1e-12), (value, one_value)
        assert gap < 1e-12, gap
        print(f"one step over {len(first)} samples on {n} workers: the single-process value "
              f"and gradients (largest difference {gap:.1e})")  # fmt: skip
        metrics = {"accuracy": accuracy}
        history = tm.fit(loss, params, loader, Adam(lr=3e-3), epochs, eval_data=[test],
                         metrics=metrics, progress=progress, executor=client)  # fmt: skip
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    test_accuracy = history.metrics["accuracy"][-1]
    print(f"data-parallel digits MLP: test accuracy {test_accuracy:.4f} after {epochs} epochs")
    return test_accuracy


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scheduler", help="a Dask scheduler's address, e.g. tcp://host:8786")
    parser.add_argument("--workers", type=int, default=2, help="local worker processes")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    args = parser.parse_args()
    main(args.epochs, args.scheduler, args.workers, progress=not args.no_progress)
