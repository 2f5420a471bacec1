"""Replay (``tm.compile``) beside eager tapem, hand-written numpy and PyTorch eager.

Every figure is measured beside its baselines in the same run, the contenders taking turns
(interleaved), and printed as min / median / max over the rounds; ratios are given by best and
by median time. Workloads (benchmarks/workloads.py): the op chain (K=1000 steps of
``sin(x)*0.9 + 0.1*x*x``, value and gradient), the per-sample mean (``mean_scalar_over``,
N=1000, d=16, unbatched) and the MLP step (784-256-256-10, batch 128, float32 and float64;
PyTorch eager beside it when torch is installed). Last, what the first call of a compiled loss
costs (trace, plan and compilation), in eager calls, and after how many calls compiling has
paid for itself.

BLAS runs one thread by default (``--threads`` to change), for numpy and PyTorch alike: on a
small shared machine more threads make the timings erratic, not faster.

Run: python benchmarks/bench_replay.py [--quick] [--threads N]
"""

from __future__ import annotations

import argparse
import os
import sys

PARSER = argparse.ArgumentParser(description=__doc__.splitlines()[0])
PARSER.add_argument("--quick", action="store_true", help="fewer rounds")
PARSER.add_argument("--threads", type=int, default=1, help="BLAS threads (default 1)")
ARGS = PARSER.parse_args()
for variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[variable] = str(ARGS.threads)  # before numpy loads its BLAS

from collections.abc import Callable  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
from timing import Spread, spread  # noqa: E402
from workloads import (  # noqa: E402
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

import tapem as tm  # noqa: E402
from tapem import ops  # noqa: E402
from tapem.arrays import readonly  # noqa: E402
from tapem.backward import unbroadcast  # noqa: E402

try:
    import torch
    import torch.nn.functional as F  # noqa: N812

    torch.set_num_threads(ARGS.threads)
except ImportError:
    torch = None

HEADER = "                      min /  median /     max"


def op_chain(rounds: int) -> dict[str, Spread]:
    k = 1000
    ops_count = k * CHAIN_OPS_PER_STEP
    program, compiled = chain(0.3, k), tm.compile(chain)
    compiled.value_and_grad(0.3, k)
    t = spread(
        {
            "eager": lambda: tm.value_and_grad(program),
            "replay": lambda: compiled.value_and_grad(0.3, k),
            "numpy": lambda: chain_numpy(0.3, k),
        },
        rounds,
    )
    print(f"op chain (K={k}, {ops_count} primitive ops, value and gradient), us per op")
    print(HEADER)
    print(f"  eager       {t['eager'].per(ops_count)}")
    print(f"  replay      {t['replay'].per(ops_count)}   (target <= 0.3)")
    print(f"  numpy       {t['numpy'].per(ops_count)}   (hand-written forward+backward)")
    print(f"  replay / eager  {t['replay'].ratio(t['eager'])}")
    print(f"  replay / numpy  {t['replay'].ratio(t['numpy'])}")
    return t


def per_sample(rounds: int) -> dict[str, Spread]:
    n = 1000
    w, b, xs, ys = regression_data(n)
    compiled = tm.compile(per_sample_loss)
    compiled.value_and_grad(w, b, xs, ys)
    t = spread(
        {
            "eager": lambda: tm.value_and_grad(per_sample_loss(w, b, xs, ys)),
            "replay": lambda: compiled.value_and_grad(w, b, xs, ys),
            "numpy": lambda: per_sample_numpy(w, b, xs, ys),
        },
        rounds,
    )
    print(f"per-sample mean (linear regression, d=16, N={n}, mean_scalar_over), us per sample")
    print(HEADER)
    print(f"  eager       {t['eager'].per(n)}")
    print(f"  replay      {t['replay'].per(n)}")
    print(f"  numpy       {t['numpy'].per(n)}   (hand-written per-sample loop)")
    print(f"  replay / numpy  {t['replay'].ratio(t['numpy'])}   (target <= 0.5)")
    return t


def torch_step(params: dict[str, Any], x: Any, y: Any) -> Callable[[], Any] | None:
    """PyTorch eager: the same network, forward and ``autograd.grad``."""
    if torch is None:
        return None
    tensors = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}
    names = list(tensors)
    inputs, labels = torch.tensor(x), torch.tensor(y)

    def step() -> Any:
        h1 = torch.tanh(F.linear(inputs, tensors["W1"], tensors["b1"]))
        h2 = torch.tanh(F.linear(h1, tensors["W2"], tensors["b2"]))
        loss = F.cross_entropy(F.linear(h2, tensors["W3"], tensors["b3"]), labels)
        grads = torch.autograd.grad(loss, [tensors[k] for k in names])
        return loss.item(), dict(zip(names, grads, strict=True))

    return step


def mlp_rules(params: dict[str, Any], x: Any, y: Any) -> tuple[Any, dict[str, Any]]:
    """The MLP step as its replay runs it, written out by hand: the same forward and VJP rules
    on the same values in the same order, and nothing else (the floor of any replay)."""
    linear, tanh, ce = ops.linear, ops.tanh, ops.cross_entropy
    W1, b1, W2, b2, W3, b3 = (params[k] for k in ("W1", "b1", "W2", "b2", "W3", "b3"))
    z1 = linear.forward(W1, b1, x)
    h1 = tanh.forward(z1)
    z2 = linear.forward(W2, b2, h1)
    h2 = tanh.forward(z2)
    z3 = linear.forward(W3, b3, h2)
    loss = ce.forward(z3, y)
    g3 = ce.vjp[0](np.ones((), loss.dtype), loss, z3, y)
    grads = {"W3": linear.vjp[0](g3, z3, W3, b3, h2), "b3": unbroadcast(g3, b3)}
    g2 = tanh.vjp[0](linear.vjp[2](g3, z3, W3, b3, h2), h2, z2)
    grads["W2"], grads["b2"] = linear.vjp[0](g2, z2, W2, b2, h1), unbroadcast(g2, b2)
    g1 = tanh.vjp[0](linear.vjp[2](g2, z2, W2, b2, h1), h1, z1)
    grads["W1"], grads["b1"] = linear.vjp[0](g1, z1, W1, b1, x), unbroadcast(g1, b1)
    return loss, grads


def mlp(rounds: int, dtype: Any) -> dict[str, Spread]:
    params, x, y = mlp_data(dtype=dtype)
    # immutable, as an optimizer's results and a DataLoader's batches are in a training loop
    frozen = {name: readonly(array.copy()) for name, array in params.items()}
    fx, fy = readonly(x.copy()), readonly(y.copy())
    compiled = tm.compile(mlp_loss)
    compiled.value_and_grad(frozen, fx, fy)
    runs: dict[str, Callable[[], Any]] = {
        "eager": lambda: tm.value_and_grad(mlp_loss(frozen, fx, fy)),
        "replay": lambda: compiled.value_and_grad(frozen, fx, fy),
        "rules": lambda: mlp_rules(frozen, fx, fy),
        "numpy": lambda: mlp_numpy(params, x, y),
    }
    step = torch_step(params, x, y)
    if step is not None:
        runs["torch"] = step
    t = spread(runs, rounds, number=3)
    name = np.dtype(dtype).name
    print(f"MLP step ({name}, batch 128, 784-256-256-10 tanh, cross-entropy), ms per step")
    print(HEADER)
    print(f"  eager       {t['eager'].per(1, 1e3)}")
    print(f"  replay      {t['replay'].per(1, 1e3)}")
    print(f"  rules       {t['rules'].per(1, 1e3)}   (the replay's rule calls by hand: its floor)")
    print(f"  numpy       {t['numpy'].per(1, 1e3)}   (hand-written forward+backward)")
    if "torch" in t:
        print(f"  torch       {t['torch'].per(1, 1e3)}   (PyTorch {torch.__version__} eager)")
    print(f"  replay / numpy  {t['replay'].ratio(t['numpy'])}   (target <= 1.05)")
    print(f"  replay / rules  {t['replay'].ratio(t['rules'])}   (what replaying adds)")
    print(f"  rules / numpy   {t['rules'].ratio(t['numpy'])}   (what the op rules add)")
    if "torch" in t:
        print(f"  replay / torch  {t['replay'].ratio(t['torch'])}   (target <= 1.0)")
    else:
        print("  (PyTorch not installed: pip install torch to compare)")
    return t


def first_call(rounds: int) -> None:
    """The first call of a fresh compiled loss (trace, plan, compilation) beside an eager call
    and a replay, each workload in turn."""
    w, b, xs, ys = regression_data(1000)
    workloads: list[tuple[str, Any, tuple[Any, ...]]] = [
        ("op chain", chain, (0.3, 1000)),
        ("per-sample mean", per_sample_loss, (w, b, xs, ys)),
    ]
    for dtype in (np.float32, np.float64):
        params, x, y = mlp_data(dtype=dtype)
        frozen = {k: readonly(v.copy()) for k, v in params.items()}
        name = f"MLP {np.dtype(dtype).name}"
        workloads.append((name, mlp_loss, (frozen, readonly(x.copy()), readonly(y.copy()))))
    print("first call of a compiled loss (trace + plan + compile), ms")
    print(HEADER)
    for name, loss, args in workloads:
        warm = tm.compile(loss)
        warm.value_and_grad(*args)
        t = spread(
            {
                "first": lambda loss=loss, args=args: tm.compile(loss).value_and_grad(*args),
                "eager": lambda loss=loss, args=args: tm.value_and_grad(loss(*args)),
                "replay": lambda warm=warm, args=args: warm.value_and_grad(*args),
            },
            rounds,
        )
        first, eager, replay = (t[k].median for k in ("first", "eager", "replay"))
        calls = max(1, int(np.ceil((first - replay) / (eager - replay))))  # first + (n-1) replays
        print(f"  {name:16s}{t['first'].per(1, 1e3)}   = {first / eager:4.1f} eager calls "
              f"(median); paid for after {calls} call(s) (target <= 10)")  # fmt: skip


def main() -> None:
    rounds = 5 if ARGS.quick else 21
    print(f"tapem replay benchmarks ({ARGS.threads} BLAS thread(s), {rounds} rounds)\n")
    op_chain(rounds)
    print()
    per_sample(rounds)
    print()
    mlp(rounds, np.float32)
    print()
    mlp(rounds, np.float64)
    print()
    first_call(max(5, rounds // 2))


if __name__ == "__main__":
    sys.exit(main())
