"""Cost of a Hessian-vector product relative to a gradient, on the same program.

    .venv/bin/python benchmarks/bench_higher.py

For each workload (from ``workloads.py``) it times, best of several runs:

* ``value_and_grad(program)``: one eager run and one reverse pass;
* ``value_and_grad(program, interpreter=Forward(tangents))``: the same program run on dual
  numbers and the reverse pass over them (forward-over-reverse); the gradients come back as
  duals whose tangents are ``H v``;
* ``tm.vjp`` and ``tm.hvp`` on a functional twin of the program (the public API path).

The target is an HVP at most 4x a gradient. On a shared machine, multithreaded BLAS makes the
MLP timings erratic; ``OPENBLAS_NUM_THREADS=1`` gives stable figures.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from timing import best_time
from workloads import CHAIN_OPS_PER_STEP, chain, chain_steps, mlp_data, mlp_loss

import tapem as tm
from tapem import ops
from tapem.dual import Dual
from tapem.interpreters import Forward

Array = np.ndarray[Any, Any]
MLP_KEYS = ("W1", "b1", "W2", "b2", "W3", "b3")


@tm.tapem
def mlp_functional(*args: Any) -> tm.Gen[tm.Handle]:
    W1, b1, W2, b2, W3, b3, x, y = args
    X = yield from tm.const(x)
    Y = yield from tm.const(y)
    h1 = yield ops.tanh((yield ops.linear(W1, b1, X)))
    h2 = yield ops.tanh((yield ops.linear(W2, b2, h1)))
    logits = yield ops.linear(W3, b3, h2)
    return (yield ops.cross_entropy(logits, Y))


def row(name: str, program: Any, tangents: dict[str, Array], f: Any, xs: Any, repeat: int) -> None:
    vs = tuple(tangents.values())
    grad = best_time(lambda: tm.value_and_grad(program), repeat)
    fwd_rev = best_time(lambda: tm.value_and_grad(program, interpreter=Forward(tangents)), repeat)
    vjp = best_time(lambda: tm.vjp(f, xs, 1.0), repeat)
    hvp = best_time(lambda: tm.hvp(f, xs, vs), repeat)
    # the two HVPs agree (same program, same method)
    _, duals = tm.value_and_grad(program, interpreter=Forward(tangents))
    api = tm.hvp(f, xs, vs)
    for key, h in zip(tangents, api, strict=True):
        assert isinstance(duals[key], Dual)
        assert np.allclose(duals[key].tangent, h)
    print(
        f"{name:<34} {grad * 1e3:9.2f} {fwd_rev * 1e3:9.2f} {fwd_rev / grad:6.2f}x"
        f" {vjp * 1e3:9.2f} {hvp * 1e3:9.2f} {hvp / vjp:6.2f}x"
    )


def main() -> None:
    rng = np.random.default_rng(0)
    print(f"{'':34} {'same TapeM program':^26} {'functional API':^26}")
    columns = ("grad ms", "hvp ms", "ratio", "vjp ms", "hvp ms", "ratio")
    print(f"{'workload':<34} " + " ".join(f"{c:>9}" if "ms" in c else f"{c:>7}" for c in columns))
    params32, x32, y = mlp_data(batch=32)
    params = {k: v.astype(np.float64) for k, v in params32.items()}
    x = x32.astype(np.float64)
    tangents = {k: rng.standard_normal(v.shape) for k, v in params.items()}
    xs = tuple(params[k] for k in MLP_KEYS)
    row(
        "MLP 784-256-256-10, f64, batch 32",
        mlp_loss(params, x, y),
        tangents,
        lambda *ps: mlp_functional(*ps, x, y),
        xs,
        repeat=10,
    )
    steps = 2000
    row(
        f"op chain, {steps * CHAIN_OPS_PER_STEP} scalar ops",
        chain(0.3, steps),
        {"x": np.array(1.0)},
        lambda x: chain_steps(x, steps),
        (np.array(0.3),),
        repeat=5,
    )


if __name__ == "__main__":
    main()
