"""Core performance: op-chain overhead, an MLP step, and a per-sample mean.

Every figure is measured beside its baseline in the same run, the contenders taking turns
(interleaved), and printed as min / median / max over the rounds; ratios are given by best and
by median time. Baselines: hand-written numpy (forward and backward by hand) and, for the op
chain, the same program written with ``ops.*`` calls instead of operators.

Run: python benchmarks/bench_core.py [--quick]
"""

from __future__ import annotations

import argparse
import gc
import tracemalloc
from collections.abc import Callable
from typing import Any

import numpy as np
from timing import spread
from workloads import (
    CHAIN_OPS_PER_STEP,
    chain,
    chain_numpy,
    mlp_data,
    mlp_loss,
    mlp_numpy,
    per_sample_loss,
    per_sample_numpy,
    regression_data,
)

import tapem as tm

try:
    from tapem.arrays import readonly
except ImportError:  # a tapem from before tapem.arrays, run beside this one for comparison

    def readonly(array: Any) -> Any:
        array.flags.writeable = False
        return array


HEADER = "                      min /  median /     max"


def bytes_per_node(steps: int) -> float:
    """Memory held by a recorded chain tape, per node (tracemalloc, after the run)."""
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    _, tape = tm.run(chain(0.3, steps)).unwrap()
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    return (after - before) / len(tape)


def op_chain(rounds: int) -> None:
    k = 1000
    ops_count = k * CHAIN_OPS_PER_STEP
    operators, ops_form = chain(0.3, k), chain(0.3, k, form="ops")
    runs: dict[str, Callable[[], Any]] = {
        "tapem": lambda: tm.value_and_grad(operators),
        "ops form": lambda: tm.value_and_grad(ops_form),
        "numpy": lambda: chain_numpy(0.3, k),
    }
    t = spread(runs, rounds)
    print(f"op chain (K={k}, {ops_count} primitive ops, value and gradient), us per op")
    print(HEADER)
    print(f"  tapem       {t['tapem'].per(ops_count)}   (operators: s * 0.9)")
    print(f"  ops form    {t['ops form'].per(ops_count)}   (ops.scale(s, 0.9), ops.sum)")
    print(f"  numpy       {t['numpy'].per(ops_count)}   (hand-written forward+backward)")
    print(f"  ops form / operators  {t['ops form'].ratio(t['tapem'])}   (target <= 1.1)")
    print(f"  tapem / numpy         {t['tapem'].ratio(t['numpy'])}")
    # linearity: a 10x longer tape should cost ~10x
    long_program = chain(0.3, 10 * k)
    long = spread(
        {
            "tapem": lambda: tm.value_and_grad(long_program),
            "numpy": lambda: chain_numpy(0.3, 10 * k),
        },
        max(2, rounds // 3),
    )
    growth = long["tapem"].min / (10 * t["tapem"].min)
    growth_numpy = long["numpy"].min / (10 * t["numpy"].min)
    print(
        f"  10x longer  {long['tapem'].per(10 * ops_count)}   (per-op cost x{growth:.2f}; the "
        f"numpy loop's x{growth_numpy:.2f}: both feel the memory hierarchy)"
    )
    print(f"  memory      {bytes_per_node(k * 10):7.0f} bytes per recorded node")


def mlp(rounds: int, dtype: Any) -> None:
    params, x, y = mlp_data(dtype=dtype)
    frozen = {name: readonly(array.copy()) for name, array in params.items()}
    fx, fy = readonly(x.copy()), readonly(y.copy())  # as a DataLoader's batches and an
    # optimizer's results are: recorded without a copy
    runs: dict[str, Callable[[], Any]] = {
        "tapem": lambda: tm.value_and_grad(mlp_loss(frozen, fx, fy)),
        "writable": lambda: tm.value_and_grad(mlp_loss(params, x, y)),
        "numpy": lambda: mlp_numpy(params, x, y),
    }
    t = spread(runs, rounds, number=3)
    name = np.dtype(dtype).name
    print(f"MLP step ({name}, batch 128, 784-256-256-10 tanh, cross-entropy), ms per step")
    print(HEADER)
    print(f"  tapem       {t['tapem'].per(1, 1e3)}   (immutable inputs, as in a training loop)")
    print(f"  writable    {t['writable'].per(1, 1e3)}   (caller-owned writable inputs: copied)")
    print(f"  numpy       {t['numpy'].per(1, 1e3)}")
    print(f"  tapem / numpy  {t['tapem'].ratio(t['numpy'])}")


def per_sample(rounds: int) -> None:
    n = 1000
    w, b, xs, ys = regression_data(n)
    # The caller's rows are writable, so each const leaf copies its row (16 + 1 numbers); rows
    # of a DataLoader batch are immutable and recorded as they are.
    frozen_xs, frozen_ys = readonly(xs.copy()), readonly(ys.copy())
    runs: dict[str, Callable[[], Any]] = {
        "tapem": lambda: tm.value_and_grad(per_sample_loss(w, b, xs, ys)),
        "immutable": lambda: tm.value_and_grad(per_sample_loss(w, b, frozen_xs, frozen_ys)),
        "numpy": lambda: per_sample_numpy(w, b, xs, ys),
    }
    t = spread(runs, rounds)
    print(f"per-sample mean (linear regression, d=16, N={n}, mean_scalar_over), us per sample")
    print(HEADER)
    print(f"  tapem       {t['tapem'].per(n)}")
    print(f"  immutable   {t['immutable'].per(n)}   (rows of an immutable batch: no copies)")
    print(f"  numpy       {t['numpy'].per(n)}   (hand-written per-sample loop)")
    print(f"  tapem / numpy  {t['tapem'].ratio(t['numpy'])}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds")
    rounds = 5 if parser.parse_args().quick else 21
    op_chain(rounds)
    mlp(rounds, np.float32)
    mlp(rounds, np.float64)
    per_sample(rounds)


if __name__ == "__main__":
    main()
