"""Convolutional workloads for ``bench_layers.py``, each beside a hand-written numpy baseline.

* **LeNet step** (float32, batch 32, 1x28x28 inputs): conv(6, 5x5) + relu + maxpool 2,
  conv(16, 5x5) + relu + maxpool 2, flatten (16*4*4 = 256), linear 256->120 + relu,
  linear 120->10, softmax cross-entropy; value and gradients of all ten parameters.
* **conv2d layer**: a 64x32x3x3 kernel (stride 1, padding 1) on N = 32 samples of 32x16x16;
  the loss is the sum of the outputs, differentiated with respect to kernel, bias and input.

The baselines use the same formulation as tapem's rules (im2col columns and one matrix product
per convolution, col2im by a loop over kernel offsets), written by hand the way one would
without a framework: the forward keeps what the backward needs (columns, argmax, masks).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

import tapem as tm
from tapem import ops

Array = np.ndarray[Any, Any]

# --- LeNet -------------------------------------------------------------------------------------


def lenet_data(seed: int = 0, batch: int = 32) -> tuple[dict[str, Array], Array, Array]:
    rng = np.random.default_rng(seed)
    shapes = {"k1": (6, 1, 5, 5), "k2": (16, 6, 5, 5), "W3": (120, 256), "W4": (10, 120)}
    params: dict[str, Array] = {}
    for name, shape in shapes.items():
        fan_in = int(np.prod(shape[1:]))
        params[name] = (rng.standard_normal(shape) / np.sqrt(fan_in)).astype(np.float32)
    for name, n in (("b1", 6), ("b2", 16), ("b3", 120), ("b4", 10)):
        params[name] = np.full(n, 0.01, dtype=np.float32)
    x = rng.standard_normal((batch, 1, 28, 28)).astype(np.float32)
    y = rng.integers(0, 10, size=batch)
    return params, x, y


@tm.tapem
def lenet_loss(params: dict[str, Array], x: Array, y: Array) -> tm.Gen[tm.Handle]:
    p = {}
    for name in ("k1", "b1", "k2", "b2", "W3", "b3", "W4", "b4"):
        p[name] = yield from tm.param(params[name], name)
    X = yield from tm.const(x)
    Y = yield from tm.const(y)
    h = yield ops.relu((yield ops.conv(p["k1"], p["b1"], X, 1, 0)))
    h = yield ops.max_pool(h, (2, 2), 2, 0)
    h = yield ops.relu((yield ops.conv(p["k2"], p["b2"], h, 1, 0)))
    h = yield ops.max_pool(h, (2, 2), 2, 0)
    h = yield ops.flatten(h, 1)
    h = yield ops.relu((yield ops.linear(p["W3"], p["b3"], h)))
    logits = yield ops.linear(p["W4"], p["b4"], h)
    return (yield ops.cross_entropy(logits, Y))


def _columns(x: Array, k: int, pad: int = 0) -> Array:
    """im2col: ``[N, C, H, W]`` -> ``[N, C*k*k, OH*OW]`` (stride 1)."""
    if pad:
        x = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    n, c = x.shape[:2]
    windows = sliding_window_view(x, (k, k), axis=(2, 3))  # [N, C, OH, OW, k, k]
    return windows.transpose(0, 1, 4, 5, 2, 3).reshape(n, c * k * k, -1)


def _col2im(dcols: Array, shape: tuple[int, ...], k: int, pad: int = 0) -> Array:
    n, c, h, w = shape
    hp, wp = h + 2 * pad, w + 2 * pad
    oh, ow = hp - k + 1, wp - k + 1
    cols = dcols.reshape(n, c, k, k, oh, ow)
    dx = np.zeros((n, c, hp, wp), dtype=dcols.dtype)
    for i in range(k):
        for j in range(k):
            dx[:, :, i : i + oh, j : j + ow] += cols[:, :, i, j]
    return dx[:, :, pad : hp - pad, pad : wp - pad] if pad else dx


def conv_forward(x: Array, k: Array, b: Array, pad: int = 0) -> tuple[Array, Array]:
    n, (o, _, kh, _) = x.shape[0], k.shape
    cols = _columns(x, kh, pad)
    y = np.matmul(k.reshape(o, -1), cols) + b[:, None]
    side = x.shape[2] + 2 * pad - kh + 1
    return y.reshape(n, o, side, -1), cols


def conv_backward(
    g: Array, cols: Array, k: Array, x_shape: tuple[int, ...], pad: int = 0, need_dx: bool = True
) -> tuple[Array, Array, Array | None]:
    n, o = g.shape[:2]
    g3 = g.reshape(n, o, -1)
    dk = np.matmul(g3, cols.transpose(0, 2, 1)).sum(0).reshape(k.shape)
    db = g3.sum(axis=(0, 2))
    dx = None
    if need_dx:
        dx = _col2im(np.matmul(k.reshape(o, -1).T, g3), x_shape, k.shape[2], pad)
    return dk, db, dx


_POOL_OFFSETS = ((0, 0), (0, 1), (1, 0), (1, 1))


def pool_forward(x: Array) -> tuple[Array, Array]:
    """2x2 max pool, stride 2: the output and each window's first argmax (0..3)."""
    out = x[:, :, 0::2, 0::2].copy()
    arg = np.zeros(out.shape, dtype=np.int8)
    for index, (i, j) in enumerate(_POOL_OFFSETS[1:], start=1):
        cell = x[:, :, i::2, j::2]
        better = cell > out
        np.maximum(out, cell, out=out)
        arg[better] = index
    return out, arg


def pool_backward(g: Array, arg: Array) -> Array:
    n, c, h2, w2 = g.shape
    dx = np.empty((n, c, 2 * h2, 2 * w2), dtype=g.dtype)
    for index, (i, j) in enumerate(_POOL_OFFSETS):
        dx[:, :, i::2, j::2] = np.where(arg == index, g, 0)
    return dx


def lenet_numpy(params: dict[str, Array], x: Array, y: Array) -> tuple[float, dict[str, Array]]:
    """The same network, forward and backward by hand."""
    p = params
    z1, cols1 = conv_forward(x, p["k1"], p["b1"])
    a1 = np.maximum(z1, 0)
    m1, arg1 = pool_forward(a1)
    z2, cols2 = conv_forward(m1, p["k2"], p["b2"])
    a2 = np.maximum(z2, 0)
    m2, arg2 = pool_forward(a2)
    f = m2.reshape(m2.shape[0], -1)
    z3 = f @ p["W3"].T + p["b3"]
    a3 = np.maximum(z3, 0)
    z4 = a3 @ p["W4"].T + p["b4"]
    z = z4 - z4.max(axis=1, keepdims=True)
    e = np.exp(z)
    prob = e / e.sum(axis=1, keepdims=True)
    n = x.shape[0]
    loss = -np.mean(np.log(prob[np.arange(n), y]))
    dz4 = prob
    dz4[np.arange(n), y] -= 1
    dz4 /= n
    grads = {"W4": dz4.T @ a3, "b4": dz4.sum(0)}
    dz3 = np.where(z3 > 0, dz4 @ p["W4"], 0)
    grads["W3"], grads["b3"] = dz3.T @ f, dz3.sum(0)
    dm2 = (dz3 @ p["W3"]).reshape(m2.shape)
    dz2 = np.where(z2 > 0, pool_backward(dm2, arg2), 0)
    grads["k2"], grads["b2"], dm1 = conv_backward(dz2, cols2, p["k2"], m1.shape)
    assert dm1 is not None
    dz1 = np.where(z1 > 0, pool_backward(dm1, arg1), 0)
    grads["k1"], grads["b1"], _ = conv_backward(dz1, cols1, p["k1"], x.shape, need_dx=False)
    return float(loss), grads


# --- one conv2d layer: 64x32x3x3 kernel, 32 samples of 32x16x16, padding 1 -------------------


def conv_layer_data(seed: int = 0) -> tuple[Array, Array, Array]:
    rng = np.random.default_rng(seed)
    k = (rng.standard_normal((64, 32, 3, 3)) / np.sqrt(32 * 9)).astype(np.float32)
    b = np.zeros(64, dtype=np.float32)
    x = rng.standard_normal((32, 32, 16, 16)).astype(np.float32)
    return k, b, x


@tm.tapem
def conv_layer_loss(k: Array, b: Array, x: Array) -> tm.Gen[tm.Handle]:
    K = yield from tm.param(k, "k")
    B = yield from tm.param(b, "b")
    X = yield from tm.param(x, "x")
    return (yield ops.sum((yield ops.conv(K, B, X, 1, 1))))


def conv_layer_numpy(k: Array, b: Array, x: Array) -> tuple[float, dict[str, Array]]:
    y, cols = conv_forward(x, k, b, pad=1)
    dk, db, dx = conv_backward(np.ones_like(y), cols, k, x.shape, pad=1)
    assert dx is not None
    return float(y.sum()), {"k": dk, "b": db, "x": dx}
