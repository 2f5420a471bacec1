"""Core performance: op-chain overhead, an MLP step, and a per-sample mean.

Prints each figure beside a hand-written numpy baseline measured in the same run (timings are
the best of several repeats). Targets (issue 2): op chain <= 2 us per primitive op
forward+backward; MLP step <= 1.2x numpy; per-sample mean <= 10 us per sample.

Run: python benchmarks/bench_core.py [--quick]
"""

from __future__ import annotations

import argparse
import gc
import tracemalloc
from collections.abc import Callable
from typing import Any

from timing import best_time, interleaved
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
from tapem.arrays import readonly


def bytes_per_node(steps: int) -> float:
    """Memory held by a recorded chain tape, per node (tracemalloc, after the run)."""
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    _, tape = tm.run(chain(0.3, steps)).unwrap()
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    return (after - before) / len(tape)


def op_chain(repeats: int) -> None:
    k = 1000
    ops_count = k * CHAIN_OPS_PER_STEP
    program = chain(0.3, k)
    t_tapem = best_time(lambda: tm.value_and_grad(program), repeats)
    t_numpy = best_time(lambda: chain_numpy(0.3, k), repeats)
    per_op = t_tapem / ops_count * 1e6
    print(f"op chain (K={k}, {ops_count} ops, value and gradient)")
    print(f"  tapem      {per_op:6.2f} us/op   (target <= 2)")
    print(f"  numpy      {t_numpy / ops_count * 1e6:6.2f} us/op   (hand-written forward+backward)")
    print(f"  ratio      {t_tapem / t_numpy:6.1f}x numpy")
    # linearity: a 10x longer tape should cost ~10x
    long_program = chain(0.3, 10 * k)
    t_long = best_time(lambda: tm.value_and_grad(long_program), max(2, repeats // 3))
    t_long_numpy = best_time(lambda: chain_numpy(0.3, 10 * k), max(2, repeats // 3))
    growth, growth_numpy = t_long / (10 * t_tapem), t_long_numpy / (10 * t_numpy)
    print(
        f"  10x longer {t_long / (10 * ops_count) * 1e6:6.2f} us/op   (per-op cost x{growth:.2f}; "
        f"the numpy loop's x{growth_numpy:.2f}: both feel the memory hierarchy)"
    )
    print(f"  memory     {bytes_per_node(k * 10):6.0f} bytes per recorded node")


def mlp(repeats: int) -> None:
    params, x, y = mlp_data()
    t_numpy = best_time(lambda: mlp_numpy(params, x, y), repeats, number=3)
    # A caller's writable arrays are copied into the tape; in a training loop the parameters come
    # from the optimizer and the batch from a DataLoader, both read-only, and are not copied.
    t_copied = best_time(lambda: tm.value_and_grad(mlp_loss(params, x, y)), repeats, number=3)
    params = {name: readonly(array) for name, array in params.items()}
    x, y = readonly(x), readonly(y)  # as a DataLoader's batches and an optimizer's results are
    t_tapem = best_time(lambda: tm.value_and_grad(mlp_loss(params, x, y)), repeats, number=3)
    print("MLP step (float32, batch 128, 784-256-256-10 tanh, cross-entropy)")
    print(f"  tapem      {t_tapem * 1e3:6.2f} ms   (read-only inputs, as in a training loop)")
    print(f"  numpy      {t_numpy * 1e3:6.2f} ms")
    print(f"  ratio      {t_tapem / t_numpy:6.2f}x numpy   (target <= 1.2)")
    print(f"  writable   {t_copied / t_numpy:6.2f}x numpy   (caller-owned writable inputs, copied)")


def per_sample(repeats: int) -> None:
    n = 1000
    w, b, xs, ys = regression_data(n)
    # The caller's rows are writable, so each const leaf copies its row (16 + 1 numbers); rows
    # of a DataLoader batch are read-only and recorded as they are.
    frozen_xs, frozen_ys = readonly(xs.copy()), readonly(ys.copy())
    runs: dict[str, Callable[[], Any]] = {
        "tapem": lambda: tm.value_and_grad(per_sample_loss(w, b, xs, ys)),
        "read-only": lambda: tm.value_and_grad(per_sample_loss(w, b, frozen_xs, frozen_ys)),
        "numpy": lambda: per_sample_numpy(w, b, xs, ys),
    }
    best = interleaved(runs, 3 * repeats)
    t_tapem, t_frozen, t_numpy = best["tapem"], best["read-only"], best["numpy"]
    print(f"per-sample mean (linear regression, d=16, N={n}, mean_scalar_over)")
    print(f"  tapem      {t_tapem / n * 1e6:6.2f} us/sample   (target <= 10)")
    print(
        f"  read-only  {t_frozen / n * 1e6:6.2f} us/sample   (rows of a read-only batch: no copies)"
    )
    print(f"  numpy      {t_numpy / n * 1e6:6.2f} us/sample   (hand-written per-sample loop)")
    print(f"  ratio      {t_tapem / t_numpy:6.2f}x numpy")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    repeats = 3 if parser.parse_args().quick else 7
    op_chain(repeats)
    mlp(repeats)
    per_sample(repeats)


if __name__ == "__main__":
    main()
