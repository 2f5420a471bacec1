"""Convolutional layers: tapem against the same computation hand-written in numpy, in one run.

    .venv/bin/python benchmarks/bench_layers.py [--repeats 30]

Prints, for each workload of ``cnn_workloads.py``, the median time per call of tapem's
``value_and_grad`` and of the numpy baseline, measured alternately in the same process, and
their ratio (tapem / numpy; the LeNet target is <= 1.3). Before timing, it checks that both
compute the same loss and gradients. PyTorch, if installed, is timed on the same workloads for
reference; it is skipped otherwise.

On a shared machine a multi-threaded BLAS makes single calls swing by up to 10x; for stable
figures run with one BLAS thread (both sides use the same numpy, so the ratio stays fair):

    OPENBLAS_NUM_THREADS=1 .venv/bin/python benchmarks/bench_layers.py
"""

from __future__ import annotations

import argparse
import statistics
from collections.abc import Callable
from typing import Any

import numpy as np
from cnn_workloads import (
    conv_layer_data,
    conv_layer_loss,
    conv_layer_numpy,
    lenet_data,
    lenet_loss,
    lenet_numpy,
)
from timing import interleaved

import tapem as tm


def check_same(program: tm.Program[Any], baseline: Callable[[], Any]) -> None:
    value, grads = tm.value_and_grad(program)
    expected_value, expected = baseline()
    assert np.allclose(value, expected_value, rtol=1e-4), (float(value), expected_value)
    for name, grad in expected.items():
        scale = float(np.max(np.abs(grad))) or 1.0
        assert np.allclose(grads[name], grad, rtol=1e-3, atol=1e-4 * scale), name


def torch_timings(repeats: int) -> dict[str, float] | None:
    try:
        import torch
        import torch.nn.functional as F  # noqa: N812 - PyTorch's spelling
    except ImportError:
        return None
    params, x, y = lenet_data()
    tp = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}
    tx, ty = torch.tensor(x), torch.tensor(y)

    def lenet() -> None:
        h = F.max_pool2d(F.relu(F.conv2d(tx, tp["k1"], tp["b1"])), 2)
        h = F.max_pool2d(F.relu(F.conv2d(h, tp["k2"], tp["b2"])), 2)
        h = F.relu(F.linear(h.flatten(1), tp["W3"], tp["b3"]))
        torch.autograd.grad(F.cross_entropy(F.linear(h, tp["W4"], tp["b4"]), ty), list(tp.values()))

    k, b, xc = (torch.tensor(a, requires_grad=True) for a in conv_layer_data())

    def conv() -> None:
        torch.autograd.grad(F.conv2d(xc, k, b, padding=1).sum(), [k, b, xc])

    return interleaved({"lenet": lenet, "conv": conv}, repeats, statistics.median)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=30)
    repeats = parser.parse_args().repeats

    params, x, y = lenet_data()
    check_same(lenet_loss(params, x, y), lambda: lenet_numpy(params, x, y))
    lenet = interleaved(
        {
            "tapem": lambda: tm.value_and_grad(lenet_loss(params, x, y)),
            "numpy": lambda: lenet_numpy(params, x, y),
        },
        repeats,
        statistics.median,
    )
    k, b, xc = conv_layer_data()
    check_same(conv_layer_loss(k, b, xc), lambda: conv_layer_numpy(k, b, xc))
    conv = interleaved(
        {
            "tapem": lambda: tm.value_and_grad(conv_layer_loss(k, b, xc)),
            "numpy": lambda: conv_layer_numpy(k, b, xc),
        },
        repeats,
        statistics.median,
    )
    rows = [
        ("LeNet step, batch 32, 1x28x28, float32", lenet, 1.3),
        ("conv2d 64x32x3x3 on 32x[32,16,16], pad 1, fwd+bwd", conv, None),
    ]
    for title, t, target in rows:
        ratio = t["tapem"] / t["numpy"]
        goal = f" (target <= {target})" if target else ""
        print(f"{title}:")
        print(f"  tapem {t['tapem'] * 1e3:8.2f} ms/call   numpy {t['numpy'] * 1e3:8.2f} ms/call")
        print(f"  ratio tapem/numpy {ratio:.2f}x{goal}")
    torch_t = torch_timings(repeats)
    if torch_t is None:
        print("torch: not installed, skipped")
    else:
        lenet_ms, conv_ms = torch_t["lenet"] * 1e3, torch_t["conv"] * 1e3
        print(f"torch: LeNet {lenet_ms:.2f} ms/call, conv2d {conv_ms:.2f} ms/call")


if __name__ == "__main__":
    main()
