"""Data-parallel gradients (``tapem.distributed``): two local worker processes against one.

1. A compute-bound per-sample loss: a per-sample MLP (32-512-512-1, tanh, squared error) over
   20,000 samples, run with ``batched=True`` inside each shard. One process
   (``tm.value_and_grad``) against 2 Dask workers (``LocalCluster``, one thread each) and a
   2-process ``ProcessPoolExecutor``, one shard per worker. Each step ships the parameters and
   each shard's samples (the loss once, as ``fit`` does). Target: 2 workers >= 1.6x faster.
2. The per-step overhead of each executor on a batch of 2 samples (its step against the same
   step in this process), and the floor: submitting two no-op tasks and gathering them.
3. Where sharding starts to pay: the same loss at growing batch sizes.

Every figure comes from this run, the executors taking turns (interleaved rounds): min /
median / max, ratios by best and by median time. This machine has 2 cores and may be shared:
the medians say more than the best times when it is busy.

BLAS threads: OPENBLAS_NUM_THREADS, OMP_NUM_THREADS and MKL_NUM_THREADS are set to 1 before
numpy loads, in this process and so in every worker it starts (Dask's nanny sets the same for
its workers). One process then computes on one core as each worker does, so the comparison is
two cores against one, not two workers against one process with a two-thread BLAS.

Run: python benchmarks/bench_distributed.py [--quick]
"""

from __future__ import annotations

import os

for _variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_variable] = "1"  # before numpy loads its BLAS (see the docstring)

import argparse  # noqa: E402
import itertools  # noqa: E402
import logging  # noqa: E402
import multiprocessing  # noqa: E402
from collections.abc import Callable  # noqa: E402
from concurrent.futures import ProcessPoolExecutor, wait  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
from timing import Spread, spread  # noqa: E402

import tapem as tm  # noqa: E402
from tapem.arrays import readonly  # noqa: E402
from tapem.distributed import DataParallel  # noqa: E402

Array = np.ndarray[Any, Any]
HEADER = "                                   min /  median /     max"
SIZES = (32, 512, 512, 1)


@tm.tapem
def mlp_loss(params: dict[str, Array], batch: tuple[Array, Array]) -> tm.Gen[tm.Handle]:
    """The mean over the batch of a per-sample MLP's squared error, run batched."""
    p = {}
    for name, value in params.items():
        p[name] = yield from tm.param(value, name=name)

    def per_sample(sample: tuple[Array, Array]) -> tm.Gen[tm.Handle]:
        x, y = sample
        X, Y = (yield from tm.const(x)), (yield from tm.const(y))
        h1 = yield np.tanh((yield tm.ops.linear(p["W1"], p["b1"], X)))
        h2 = yield np.tanh((yield tm.ops.linear(p["W2"], p["b2"], h1)))
        out = yield tm.ops.linear(p["W3"], p["b3"], h2)
        return (yield np.sum((yield (yield out - Y) ** 2)))

    return (yield from tm.mean_scalar_over(tm.Collated(batch), per_sample, batched=True))


def make_params(seed: int = 0) -> dict[str, Array]:
    rng = np.random.default_rng(seed)
    params = {}
    for i, (fan_in, fan_out) in enumerate(itertools.pairwise(SIZES), start=1):
        params[f"W{i}"] = readonly(rng.standard_normal((fan_out, fan_in)) / np.sqrt(fan_in))
        params[f"b{i}"] = readonly(np.zeros(fan_out))
    return params


def make_batch(n: int, seed: int = 1) -> tuple[Array, Array]:
    rng = np.random.default_rng(seed)
    xs = rng.standard_normal((n, SIZES[0]))
    return readonly(xs), readonly(np.sin(xs.sum(axis=1, keepdims=True)))


def noop() -> None:
    return None


def start_executors() -> tuple[Any, Any, ProcessPoolExecutor]:
    from dask.distributed import Client, LocalCluster

    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                           dashboard_address=None, silence_logs=logging.ERROR)  # fmt: skip
    pool = ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn"))
    return cluster, Client(cluster), pool


def steps(
    parallels: dict[str, DataParallel], params: dict[str, Array], batch: tuple[Array, Array]
) -> dict[str, Callable[[], Any]]:
    fns: dict[str, Callable[[], Any]] = {
        "1 process": lambda: tm.value_and_grad(mlp_loss(params, batch))
    }
    for name, parallel in parallels.items():
        fns[name] = lambda parallel=parallel: parallel.value_and_grad(params, batch)
    return fns


def show(title: str, times: dict[str, Spread]) -> None:
    print(title)
    print(HEADER)
    for name, s in times.items():
        print(f"  {name:20s} {s.per(1, 1e3)}")


# --- 1. the compute-bound loss ------------------------------------------------------------------


def compute_bound(parallels: dict[str, DataParallel], rounds: int) -> None:
    params, batch = make_params(), make_batch(20_000)
    expected = tm.value_and_grad(mlp_loss(params, batch))
    for parallel in parallels.values():  # the same numbers, before timing them
        value, grads = parallel.value_and_grad(params, batch)
        assert np.isclose(value, expected[0], rtol=1e-12)
        for key, grad in grads.items():  # elements summed from 20,000 terms may cancel
            assert np.linalg.norm(grad - expected[1][key]) <= 1e-12 * np.linalg.norm(grad)
    xs, ys = batch
    halves = [(xs[:10_000], ys[:10_000]), (xs[10_000:], ys[10_000:])]
    fns = steps(parallels, params, batch)
    fns["1 process, 2 halves"] = lambda: [tm.value_and_grad(mlp_loss(params, h)) for h in halves]
    times = spread(fns, rounds)
    show("1. per-sample MLP 32-512-512-1 over 20,000 samples, value and gradients, ms per step",
         times)  # fmt: skip
    one, halves_in_turn = times["1 process"], times["1 process, 2 halves"]
    for name in parallels:
        verdict = "meets" if one.min / times[name].min >= 1.6 else "misses"
        print(f"  {name} over 1 process: {one.ratio(times[name])}; {verdict} the 1.6x target")
        print(f"  {name} over the 2 halves in turn: {halves_in_turn.ratio(times[name])} "
              "(the shards' work in parallel: 2x at best on 2 cores)")  # fmt: skip
    print()


# --- 2. per-step overhead -----------------------------------------------------------------------


def overhead(
    parallels: dict[str, DataParallel], client: Any, pool: ProcessPoolExecutor, rounds: int
) -> None:
    params, batch = make_params(), make_batch(2)
    times = spread(steps(parallels, params, batch), rounds)
    floors = spread(
        {
            "dask": lambda: client.gather([client.submit(noop, pure=False) for _ in range(2)]),
            "pool": lambda: wait([pool.submit(noop) for _ in range(2)]),
        },
        rounds,
    )
    show("2. a step over 2 samples (2 shards of 1), ms per step", times)
    for name in parallels:
        extra = [a - b for a, b in zip(times[name], times["1 process"], strict=True)]
        print(f"  {name} overhead over 1 process: {Spread(*extra).per(1, 1e3)} ms")
    show("   the floor: submit 2 no-op tasks and gather them, ms", floors)
    print()


# --- 3. where sharding pays ---------------------------------------------------------------------


def break_even(parallels: dict[str, DataParallel], sizes: tuple[int, ...], rounds: int) -> None:
    params = make_params()
    print("3. the same step at growing batch sizes, median ms (and 1 process / executor)")
    print(f"  {'N':>7s} {'1 process':>10s}" + "".join(f" {name:>18s}" for name in parallels))
    pays: dict[str, int | None] = dict.fromkeys(parallels)
    for n in sizes:
        times = spread(steps(parallels, params, make_batch(n)), rounds)
        one = times["1 process"].median
        row = f"  {n:7d} {one * 1e3:10.2f}"
        for name in parallels:
            mine = times[name].median
            row += f" {mine * 1e3:9.2f} ({one / mine:4.2f}x)"
            if one > mine and pays[name] is None:
                pays[name] = n
        print(row)
    for name, n in pays.items():
        where = f"from about N = {n}" if n is not None else "at none of these sizes"
        print(f"  {name}: sharding pays {where}")
    print()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds and sizes")
    quick = parser.parse_args().quick
    print(__doc__.split("BLAS threads:", 1)[1].split("Run:", 1)[0].strip().replace("\n", " "))
    print()
    cluster, client, pool = start_executors()
    try:
        parallels = {
            "2 dask": DataParallel(mlp_loss, client),
            "2 processes": DataParallel(mlp_loss, pool),
        }
        compute_bound(parallels, 3 if quick else 9)
        overhead(parallels, client, pool, 10 if quick else 40)
        sizes = (1_000, 5_000, 20_000) if quick else (250, 500, 1_000, 2_000, 5_000, 10_000, 20_000)
        break_even(parallels, sizes, 3 if quick else 7)
        for parallel in parallels.values():
            parallel.close()
    finally:
        client.close()
        cluster.close()
        pool.shutdown()


if __name__ == "__main__":
    main()
