"""The programs the benchmarks time, each beside a hand-written numpy baseline.

Every benchmark script imports its workload from here, so "the op chain" or "the MLP step" means
the same computation everywhere.
"""

from __future__ import annotations

from typing import Any

import numpy as np

import tapem as tm
from tapem import ops

Array = np.ndarray[Any, Any]

# --- op chain: x = sin(x)*0.9 + 0.1*x*x, five primitive ops per step ---------------------------

CHAIN_OPS_PER_STEP = 5


@tm.tapem
def chain_steps(x: tm.Handle, steps: int) -> tm.Gen[tm.Handle]:
    """``steps`` steps of the chain from the handle ``x`` (also usable as a functional ``f``)."""
    for _ in range(steps):
        s = yield ops.sin(x)
        a = yield s * 0.9
        b = yield x * 0.1
        c = yield b * x
        x = yield a + c
    return x


@tm.tapem
def chain_ops_steps(x: tm.Handle, steps: int) -> tm.Gen[tm.Handle]:
    """The same steps written with ``ops.*`` calls instead of operators (``ops.scale(s, 0.9)``
    for ``s * 0.9``): the two forms must cost the same."""
    for _ in range(steps):
        s = yield ops.sin(x)
        a = yield ops.scale(s, 0.9)
        b = yield ops.scale(x, 0.1)
        c = yield ops.mul(b, x)
        x = yield ops.add(a, c)
    return x


@tm.tapem
def chain_expression_steps(x: tm.Handle, steps: int) -> tm.Gen[tm.Handle]:
    """The same steps as one expression each: one ``yield`` records the step's five ops."""
    for _ in range(steps):
        x = yield np.sin(x) * 0.9 + x * 0.1 * x
    return x


@tm.tapem
def chain(x0: float, steps: int, *, form: str = "operators") -> tm.Gen[tm.Handle]:
    """The op chain from a trainable scalar ``x0``, its steps in the operator form (``s * 0.9``,
    one yield per op), the ``ops`` form (``ops.scale(s, 0.9)``) or as expressions (one yield
    per step), summed at the end (``ops.sum``)."""
    x = yield from tm.param(np.array(x0), name="x")
    steps_of = {"operators": chain_steps, "ops": chain_ops_steps,
                "expressions": chain_expression_steps}[form]  # fmt: skip
    y = yield from steps_of(x, steps)
    return (yield ops.sum(y))


def chain_numpy(x0: float, steps: int) -> tuple[float, float]:
    """The same chain, forward and backward by hand, on numpy scalars."""
    xs = []
    x = np.float64(x0)
    for _ in range(steps):
        xs.append(x)
        x = np.sin(x) * 0.9 + 0.1 * x * x
    g = np.float64(1.0)
    for x_i in reversed(xs):
        g = g * (np.cos(x_i) * 0.9 + 0.2 * x_i)
    return float(x), float(g)


# --- MLP step: batch 128, 784-256-256-10 tanh, softmax cross-entropy --------------------------


def mlp_data(
    seed: int = 0, batch: int = 128, dtype: Any = np.float32
) -> tuple[dict[str, Array], Array, Array]:
    rng = np.random.default_rng(seed)
    sizes = [(256, 784), (256, 256), (10, 256)]
    params: dict[str, Array] = {}
    for i, (n_out, n_in) in enumerate(sizes, start=1):
        params[f"W{i}"] = (rng.standard_normal((n_out, n_in)) / np.sqrt(n_in)).astype(dtype)
        params[f"b{i}"] = np.zeros(n_out, dtype=dtype)
    x = rng.standard_normal((batch, 784)).astype(dtype)
    y = rng.integers(0, 10, size=batch)
    return params, x, y


@tm.tapem
def mlp_loss(params: dict[str, Array], x: Array, y: Array) -> tm.Gen[tm.Handle]:
    W1 = yield from tm.param(params["W1"], "W1")
    b1 = yield from tm.param(params["b1"], "b1")
    W2 = yield from tm.param(params["W2"], "W2")
    b2 = yield from tm.param(params["b2"], "b2")
    W3 = yield from tm.param(params["W3"], "W3")
    b3 = yield from tm.param(params["b3"], "b3")
    X = yield from tm.const(x)
    Y = yield from tm.const(y)
    h1 = yield ops.tanh((yield ops.linear(W1, b1, X)))
    h2 = yield ops.tanh((yield ops.linear(W2, b2, h1)))
    logits = yield ops.linear(W3, b3, h2)
    return (yield ops.cross_entropy(logits, Y))


def mlp_numpy(params: dict[str, Array], x: Array, y: Array) -> tuple[float, dict[str, Array]]:
    """The same network, forward and backward by hand."""
    W1, b1, W2, b2, W3, b3 = (params[k] for k in ("W1", "b1", "W2", "b2", "W3", "b3"))
    h1 = np.tanh(x @ W1.T + b1)
    h2 = np.tanh(h1 @ W2.T + b2)
    z = h2 @ W3.T + b3
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    p = e / e.sum(axis=1, keepdims=True)
    n = x.shape[0]
    loss = -np.mean(np.log(p[np.arange(n), y]))
    dz = p
    dz[np.arange(n), y] -= 1
    dz /= n
    grads = {"W3": dz.T @ h2, "b3": dz.sum(0)}
    dh2 = (dz @ W3) * (1 - h2 * h2)
    grads["W2"], grads["b2"] = dh2.T @ h1, dh2.sum(0)
    dh1 = (dh2 @ W2) * (1 - h1 * h1)
    grads["W1"], grads["b1"] = dh1.T @ x, dh1.sum(0)
    return float(loss), grads


# --- per-sample mean: linear regression, d = 16, N samples, mean_scalar_over ------------------


def regression_data(n: int = 1000, d: int = 16, seed: int = 0) -> tuple[Array, Array, Array, Array]:
    rng = np.random.default_rng(seed)
    xs = rng.standard_normal((n, d))
    ys = xs @ rng.standard_normal(d) + 0.1 * rng.standard_normal(n)
    return np.zeros((1, d)), np.zeros(1), xs, ys[:, None]


@tm.tapem
def per_sample_loss(
    w: Array, b: Array, xs: Array, ys: Array, batched: bool = False
) -> tm.Gen[tm.Handle]:
    """The mean of one sample's loss: over the rows one at a time (TorchLean's tape), or, with
    ``batched``, once over the collated rows."""
    W = yield from tm.param(w, name="W")
    B = yield from tm.param(b, name="b")

    def one(sample: tuple[Array, Array]) -> tm.Gen[tm.Handle]:
        x, y = sample
        X = yield from tm.const(x)
        Y = yield from tm.const(y)
        yhat = yield ops.linear(W, B, X)
        return (yield ops.mse_loss(yhat, Y))

    if batched:
        return (yield from tm.mean_scalar_over(tm.Collated((xs, ys)), one, batched=True))
    return (yield from tm.mean_scalar_over(list(zip(xs, ys, strict=True)), one))


def per_sample_numpy(w: Array, b: Array, xs: Array, ys: Array) -> tuple[float, Array, Array]:
    """The same per-sample loop by hand: forward and backward one sample at a time."""
    total, gw, gb = 0.0, np.zeros_like(w), np.zeros_like(b)
    n = len(xs)
    for x, y in zip(xs, ys, strict=True):
        r = w @ x + b - y
        total += float(np.mean(r * r))
        d = 2 * r / r.size / n
        gw += np.outer(d, x)
        gb += d
    return total / n, gw, gb
