"""Batched per-sample losses: one run over the whole batch, beside the loop and the baselines.

1. Per-sample linear regression (d = 16, value and gradients of W and b) at N = 1,000 and
   10,000: ``mean_scalar_over(..., batched=True)`` against a hand-vectorised numpy forward and
   backward (target: at most 3x), the looped form, and PyTorch on the stacked batch and JAX
   ``jit(vmap(...))`` where they are installed.
2. A per-sample MLP (64-128-10, tanh, cross-entropy) over 256 digits: ``batched=True`` against
   the same model written as an ordinary batched loss (target: at most 1.3x).
3. ``tm.per_sample_grads`` of that MLP over 256 samples: against looping ``value_and_grad``,
   ``torch.func.vmap(grad(...))`` and JAX ``jit(vmap(grad(...)))`` where installed.
4. Memory: what the batched tape of the regression holds at N = 100,000.

Every figure is measured beside its baselines in the same run (interleaved rounds), printed as
min / median / max; ratios by best and by median time. The data is frozen once, as a
``DataLoader``'s batches are (``tapem.arrays.readonly``): a leaf of it needs no copy.
"compiled" is the same batched loss through ``tm.compile`` (recorded once, replayed). BLAS runs
on one thread (set before numpy loads), as the peers' do here: the machine has two cores.

Run: python benchmarks/bench_batched.py [--quick]
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # before numpy loads: one BLAS thread
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse
import gc
import tracemalloc
from collections.abc import Callable
from typing import Any

import numpy as np
from timing import spread
from workloads import per_sample_loss, regression_data

import tapem as tm
from tapem import ops
from tapem.arrays import readonly

Array = np.ndarray[Any, Any]
HEADER = "                         min /  median /     max"

try:  # optional peers
    import torch
except ImportError:
    torch = None
try:
    import jax
    import jax.numpy as jnp

    jax.config.update("jax_enable_x64", True)
except ImportError:
    jax = None


# --- 1. per-sample linear regression ------------------------------------------------------------


def regression_numpy(w: Array, b: Array, xs: Array, ys: Array) -> tuple[Any, Array, Array]:
    """The per-sample losses' mean and its gradients, vectorised by hand."""
    r = xs @ w.T + b - ys
    loss = np.mean(r * r)
    d = r * (2 / r.size)
    return loss, d.T @ xs, d.sum(axis=0)


def regression_peers(w: Array, b: Array, xs: Array, ys: Array) -> dict[str, Callable[[], Any]]:
    peers: dict[str, Callable[[], Any]] = {}
    if torch is not None:
        tx, ty = torch.from_numpy(np.array(xs)), torch.from_numpy(np.array(ys))

        def torch_step() -> Any:
            tw = torch.tensor(w, requires_grad=True)
            tb = torch.tensor(b, requires_grad=True)
            loss = torch.mean((tx @ tw.T + tb - ty) ** 2)
            loss.backward()
            return loss.item(), tw.grad, tb.grad

        peers["pytorch"] = torch_step
    if jax is not None:

        def per_sample(params: Any, x: Any, y: Any) -> Any:
            r = params[0] @ x + params[1] - y
            return jnp.mean(r * r)

        def mean_loss(params: Any, x: Any, y: Any) -> Any:
            return jnp.mean(jax.vmap(per_sample, in_axes=(None, 0, 0))(params, x, y))

        step = jax.jit(jax.value_and_grad(mean_loss))
        jx, jy = jnp.asarray(xs), jnp.asarray(ys)

        def jax_step() -> Any:
            value, grads = step((w, b), jx, jy)
            return jax.block_until_ready((value, grads))

        peers["jax"] = jax_step
    return peers


def regression_runs(w: Array, b: Array, xs: Array, ys: Array) -> dict[str, Callable[[], Any]]:
    compiled = tm.compile(per_sample_loss)
    runs: dict[str, Callable[[], Any]] = {
        "batched": lambda: tm.value_and_grad(per_sample_loss(w, b, xs, ys, True)),
        "compiled": lambda: compiled.value_and_grad(w, b, xs, ys, True),
        "numpy": lambda: regression_numpy(w, b, xs, ys),
        **regression_peers(w, b, xs, ys),
    }
    return runs


def looped_regression(w: Array, b: Array, xs: Array, ys: Array) -> Callable[[], Any]:
    return lambda: tm.value_and_grad(per_sample_loss(w, b, xs, ys))


def linear_regression(rounds: int) -> None:
    for n in (1000, 10_000):
        w, b, xs, ys = regression_data(n)
        xs, ys = readonly(xs), readonly(ys)
        value, grads = tm.value_and_grad(per_sample_loss(w, b, xs, ys, True))
        expected = regression_numpy(w, b, xs, ys)
        assert np.isclose(value, expected[0], rtol=1e-12)
        assert np.allclose(grads["W"], expected[1])
        assert np.allclose(grads["b"], expected[2])
        t = spread(regression_runs(w, b, xs, ys), rounds)
        if n == 1000:  # the loop, for scale (timed apart: its big tapes would disturb the rest)
            t.update(spread({"looped": looped_regression(w, b, xs, ys)}, max(3, rounds // 4)))
        print(f"per-sample linear regression, d=16, N={n}, value and gradients, us per call")
        print(HEADER)
        for name, s in t.items():
            print(f"  {name:10s} {s.per(1)}")
        print(f"  batched / numpy    {t['batched'].ratio(t['numpy'])}   (target <= 3x)")
        print(f"  compiled / numpy   {t['compiled'].ratio(t['numpy'])}   (batched, replayed)")
        for peer in ("pytorch", "jax"):
            if peer in t:
                print(f"  batched / {peer:8s} {t['batched'].ratio(t[peer])}")
                print(f"  compiled / {peer:7s} {t['compiled'].ratio(t[peer])}")
        if "looped" in t:
            print(f"  looped / batched   {t['looped'].ratio(t['batched'])}   (the loop's time)")
        print()


# --- 2 and 3. a per-sample MLP over digits --------------------------------------------------------


def mlp_params(seed: int = 0) -> dict[str, Array]:
    rng = np.random.default_rng(seed)
    sizes = {"1": (128, 64), "2": (10, 128)}
    params = {}
    for k, (n_out, n_in) in sizes.items():
        params[f"W{k}"] = readonly(rng.standard_normal((n_out, n_in)) / np.sqrt(n_in))
        params[f"b{k}"] = readonly(np.zeros(n_out))
    return params


def digits(n: int = 256) -> tuple[Array, Array]:
    data = tm.datasets.load_digits()
    return readonly(data.data[:n] / 16.0), readonly(np.array(data.target[:n]))


def mlp_layers(params: dict[str, Array]) -> tm.Gen[dict[str, tm.Handle]]:
    handles = {}
    for name, value in params.items():
        handles[name] = yield from tm.param(value, name=name)
    return handles


def mlp_logits(p: dict[str, tm.Handle], x: tm.Handle) -> tm.Gen[tm.Handle]:
    h = yield ops.tanh((yield ops.linear(p["W1"], p["b1"], x)))
    return (yield ops.linear(p["W2"], p["b2"], h))


@tm.tapem
def mlp_per_sample(params: dict[str, Array], batch: Any, batched: bool) -> tm.Gen[tm.Handle]:
    p = yield from mlp_layers(params)

    def one(sample: tuple[Array, Array]) -> tm.Gen[tm.Handle]:
        x, y = sample
        X = yield from tm.const(x)
        Y = yield from tm.const(y)
        return (yield ops.cross_entropy((yield from mlp_logits(p, X)), Y))

    return (yield from tm.mean_scalar_over(batch, one, batched=batched))


@tm.tapem
def mlp_batch(params: dict[str, Array], xs: Array, ys: Array) -> tm.Gen[tm.Handle]:
    """The same model as an ordinary batched loss: the batch axis written by hand."""
    p = yield from mlp_layers(params)
    X = yield from tm.const(xs)
    Y = yield from tm.const(ys)
    return (yield ops.cross_entropy((yield from mlp_logits(p, X)), Y))


@tm.tapem
def mlp_one(params: dict[str, Array], sample: tuple[Array, Array]) -> tm.Gen[tm.Handle]:
    """One sample's loss, for per-sample gradients."""
    p = yield from mlp_layers(params)
    x, y = sample
    X = yield from tm.const(x)
    Y = yield from tm.const(y)
    return (yield ops.cross_entropy((yield from mlp_logits(p, X)), Y))


def per_sample_mlp(rounds: int) -> None:
    params, (xs, ys) = mlp_params(), digits()
    batch = tm.Collated((xs, ys))
    by_hand = tm.value_and_grad(mlp_batch(params, xs, ys))
    batched = tm.value_and_grad(mlp_per_sample(params, batch, True))
    assert np.isclose(batched[0], by_hand[0], rtol=1e-12)
    assert all(np.allclose(batched[1][k], by_hand[1][k], rtol=1e-10) for k in params)
    compiled = tm.compile(mlp_per_sample)
    t = spread(
        {
            "batched": lambda: tm.value_and_grad(mlp_per_sample(params, batch, True)),
            "compiled": lambda: compiled.value_and_grad(params, batch, True),
            "by hand": lambda: tm.value_and_grad(mlp_batch(params, xs, ys)),
        },
        rounds,
    )
    looped = {"looped": lambda: tm.value_and_grad(mlp_per_sample(params, batch, False))}
    t.update(spread(looped, max(3, rounds // 4)))  # apart: its big tapes disturb the others
    print("per-sample MLP 64-128-10 over 256 digits, value and gradients, ms per call")
    print(HEADER)
    for name, s in t.items():
        print(f"  {name:10s} {s.per(1, 1e3)}")
    print(f"  batched / by hand  {t['batched'].ratio(t['by hand'])}   (target <= 1.3x)")
    print(f"  compiled / by hand {t['compiled'].ratio(t['by hand'])}")
    print(f"  looped / batched   {t['looped'].ratio(t['batched'])}")
    print()


def mlp_grads_peers(params: dict[str, Array], xs: Array, ys: Array) -> dict[str, Callable[[], Any]]:
    peers: dict[str, Callable[[], Any]] = {}
    if torch is not None:
        from torch.func import grad, vmap

        tp = {k: torch.from_numpy(np.array(v)) for k, v in params.items()}
        tx, ty = torch.from_numpy(np.array(xs)), torch.from_numpy(np.array(ys))

        def loss(p: Any, x: Any, y: Any) -> Any:
            h = torch.tanh(p["W1"] @ x + p["b1"])
            z = p["W2"] @ h + p["b2"]
            return torch.nn.functional.cross_entropy(z[None], y[None])

        per_sample = vmap(grad(loss), in_dims=(None, 0, 0))
        peers["pytorch"] = lambda: per_sample(tp, tx, ty)
    if jax is not None:

        def jloss(p: Any, x: Any, y: Any) -> Any:
            h = jnp.tanh(p["W1"] @ x + p["b1"])
            z = p["W2"] @ h + p["b2"]
            return -jax.nn.log_softmax(z)[y]

        jgrads = jax.jit(jax.vmap(jax.grad(jloss), in_axes=(None, 0, 0)))
        jp = {k: jnp.asarray(v) for k, v in params.items()}
        jx, jy = jnp.asarray(xs), jnp.asarray(ys)
        peers["jax"] = lambda: jax.block_until_ready(jgrads(jp, jx, jy))
    return peers


def per_sample_gradients(rounds: int) -> None:
    params, (xs, ys) = mlp_params(), digits()
    batch = tm.Collated((xs, ys))
    values, grads = tm.per_sample_grads(lambda s: mlp_one(params, s), batch)
    for i in (0, 255):
        value, g = tm.value_and_grad(mlp_one(params, batch[i]))
        assert np.isclose(values[i], value)
        assert all(np.allclose(grads[k][i], g[k]) for k in g)

    def looped() -> Any:
        return [tm.value_and_grad(mlp_one(params, batch[i])) for i in range(len(batch))]

    t = spread(
        {
            "tapem": lambda: tm.per_sample_grads(lambda s: mlp_one(params, s), batch),
            **mlp_grads_peers(params, xs, ys),
        },
        rounds,
    )
    t.update(spread({"looped": looped}, max(3, rounds // 4)))  # apart, as above
    print("per_sample_grads of the MLP over 256 samples, ms per call")
    print(HEADER)
    for name, s in t.items():
        print(f"  {name:10s} {s.per(1, 1e3)}")
    for peer in ("pytorch", "jax"):
        if peer in t:
            print(f"  tapem / {peer:10s} {t['tapem'].ratio(t[peer])}")
    print(f"  looped / tapem     {t['looped'].ratio(t['tapem'])}")
    print()


# --- 4. memory ----------------------------------------------------------------------------------


def memory() -> None:
    n, d = 100_000, 16
    w, b, xs, ys = regression_data(n, d)
    xs, ys = readonly(xs), readonly(ys)
    gc.collect()
    tracemalloc.start()
    _, tape = tm.run(per_sample_loss(w, b, xs, ys, True)).unwrap()
    held = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    numbers = held / 8
    print(f"memory: the batched regression's tape at N={n}, d={d}")
    print(f"  nodes {len(tape)}; new memory held {held / 1e6:.2f} MB = {numbers / n:.1f} numbers")
    print(f"  per sample (the data itself, frozen, is shared: {n * (d + 1)} numbers not counted)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds")
    rounds = 5 if parser.parse_args().quick else 21
    peers = [name for name, mod in (("pytorch", torch), ("jax", jax)) if mod is not None]
    print(f"peers: {', '.join(peers) or 'none installed'}\n")
    linear_regression(rounds)
    per_sample_mlp(rounds)
    per_sample_gradients(rounds)
    memory()


if __name__ == "__main__":
    main()
