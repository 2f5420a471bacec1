"""How fast this design can run the per-sample mean at best: tapem beside a stripped copy of it.

The stripped copy keeps everything the design itself costs: the same generator structure
(``param``/``const`` generators, ``fold_m``, a per-sample step, ``yield from`` six levels deep),
the same numpy rules and leaf copies, a tape of tuples and a reverse pass that hands ``add``'s
cotangent on without a call. It drops everything tapem adds for correctness and debugging:
request classes and the interpreter protocol, shape rules, the cotangent shape/dtype checks
that undo broadcasting and keep dtypes, ``requires_grad`` propagation, typed errors, the scalar
check of each per-sample loss and gradients keyed by name. The gap between the two rows is what
those cost; the stripped row is a floor for any implementation of this design on this machine.

Run: python benchmarks/per_sample_floor.py
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Sequence
from typing import Any

import numpy as np
from timing import interleaved
from workloads import per_sample_loss, per_sample_numpy, regression_data

import tapem as tm

Array = np.ndarray[Any, Any]
Request = tuple[Any, ...]
Gen = Generator[Request, Any, Any]


class Handle:
    __slots__ = ("aval", "id")

    def __init__(self, node_id: int, aval: Any) -> None:
        self.id = node_id
        self.aval = aval


PASS = object()  # the VJP of an input that receives the cotangent unchanged


def _linear_dw(g: Any, out: Any, w: Array, b: Array, x: Array) -> Any:
    return g[:, None].dot(x[None])


def _mse_dyhat(g: Any, out: Any, yhat: Array, t: Array) -> Any:
    d = yhat - t
    return d * (2 * g / d.size)


def _mse(yhat: Array, t: Array) -> Any:
    d = yhat - t
    return d.dot(d) / d.size


RULES: dict[str, tuple[Callable[..., Any], tuple[Any, ...]]] = {
    "linear": (lambda w, b, x: w.dot(x) + b, (_linear_dw, PASS, None)),
    "mse": (_mse, (_mse_dyhat, None)),
    "add": (lambda a, b: a + b, (PASS, PASS)),
    "scale": (lambda x, c: x * c, (lambda g, out, x, c: g * c,)),
}


def param(value: Array, name: str) -> Gen:
    return (yield ("leaf", value, name, True))


def const(value: Array) -> Gen:
    return (yield ("leaf", value, None, False))


def fold_m(step: Callable[[Any, Any], Gen], init: Any, xs: Sequence[Any]) -> Gen:
    acc = init
    for x in xs:
        acc = yield from step(acc, x)
    return acc


def mean_scalar_over(xs: Sequence[Any], loss_of: Callable[[Any], Gen]) -> Gen:
    first = yield from loss_of(xs[0])

    def step(acc: Handle, x: Any) -> Gen:
        loss = yield from loss_of(x)
        return (yield ("op", "add", (acc, loss), ()))

    total = yield from fold_m(step, first, xs[1:])
    return (yield ("op", "scale", (total,), (1.0 / len(xs),)))


def loss(w: Array, b: Array, xs: Array, ys: Array) -> Gen:
    W = yield from param(w, "W")
    B = yield from param(b, "b")

    def one(sample: tuple[Array, Array]) -> Gen:
        x, y = sample
        X = yield from const(x)
        Y = yield from const(y)
        yhat = yield ("op", "linear", (W, B, X), ())
        return (yield ("op", "mse", (yhat, Y), ()))

    return (yield from mean_scalar_over(list(zip(xs, ys, strict=True)), one))


def stripped_value_and_grad(w: Array, b: Array, xs: Array, ys: Array) -> tuple[Any, Any, Any]:
    nodes: list[tuple[Any, ...]] = []
    gen = loss(w, b, xs, ys)
    send = gen.send
    try:
        request = next(gen)
        while True:
            if request[0] == "op":
                _, name, inputs, args = request
                forward = RULES[name][0]
                if len(inputs) == 2:
                    ids: tuple[int, ...] = (inputs[0].id, inputs[1].id)
                    value = forward(nodes[ids[0]][0], nodes[ids[1]][0], *args)
                elif len(inputs) == 3:
                    ids = (inputs[0].id, inputs[1].id, inputs[2].id)
                    value = forward(nodes[ids[0]][0], nodes[ids[1]][0], nodes[ids[2]][0])
                else:
                    ids = (inputs[0].id,)
                    value = forward(nodes[ids[0]][0], *args)
                nodes.append((value, True, ids, name, args))
            else:
                value = request[1]
                if value.flags.writeable:
                    value = value.copy()
                nodes.append((value, request[3], (), None, ()))
            request = send(Handle(len(nodes) - 1, value))
    except StopIteration as stop:
        out = stop.value
    grads: list[Any] = [None] * len(nodes)
    grads[out.id] = np.ones(())
    for i in range(out.id, -1, -1):
        g = grads[i]
        if g is None:
            continue
        value, _, parents, name, args = nodes[i]
        if name is None:
            continue
        if len(parents) == 2:
            pn: tuple[Any, ...] = (nodes[parents[0]], nodes[parents[1]])
            call = (g, value, pn[0][0], pn[1][0], *args)
        elif len(parents) == 3:
            pn = (nodes[parents[0]], nodes[parents[1]], nodes[parents[2]])
            call = (g, value, pn[0][0], pn[1][0], pn[2][0])
        else:
            pn = (nodes[parents[0]],)
            call = (g, value, pn[0][0], *args)
        for p, parent, vjp in zip(parents, pn, RULES[name][1]):  # noqa: B905 - strict costs
            if vjp is None or not parent[1]:
                continue
            ct = g if vjp is PASS else vjp(*call)
            prev = grads[p]
            grads[p] = ct if prev is None else prev + ct
    return nodes[out.id][0], grads[0], grads[1]


def main() -> None:
    n = 1000
    w, b, xs, ys = regression_data(n)
    value, grads = tm.value_and_grad(per_sample_loss(w, b, xs, ys))
    stripped = stripped_value_and_grad(w, b, xs, ys)
    assert np.isclose(stripped[0], value), "the stripped copy computes the same loss"
    assert np.allclose(stripped[1], grads["W"]), "and the same gradient"
    runs: dict[str, Callable[[], Any]] = {
        "tapem": lambda: tm.value_and_grad(per_sample_loss(w, b, xs, ys)),
        "stripped": lambda: stripped_value_and_grad(w, b, xs, ys),
        "numpy": lambda: per_sample_numpy(w, b, xs, ys),
    }
    best = interleaved(runs, 30)
    print(f"per-sample mean (linear regression, d=16, N={n}), best of 30, us/sample")
    notes = {
        "tapem": "value_and_grad(per_sample_loss(...))",
        "stripped": "the same design without tapem's checks: the floor",
        "numpy": "hand-written per-sample loop",
    }
    for name, note in notes.items():
        ratio = best[name] / best["numpy"]
        print(f"  {name:<9} {best[name] / n * 1e6:6.2f}   {ratio:4.2f}x numpy   ({note})")


if __name__ == "__main__":
    main()
