"""Interpreter overhead: the op chain under eager, tracing, debugging and shape-only.

Each figure is the best of several repeats (the interpreters take turns, so drift in machine
speed hits all alike), as a ratio to eager's value and gradient in the same run. Targets
(issue 4): tracing <= 1.5x, debugging <= 1.5x; shape-only, forward only, <= 0.5x. Eager itself
should stay <= 2 us per primitive op (forward + backward).

"driver floor" is an interpreter that records nothing and returns a fixed handle: the cost of
the driver loop and the program itself, which every interpreter pays.

Run: python benchmarks/bench_interpreters.py [--quick]
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from timing import interleaved
from workloads import CHAIN_OPS_PER_STEP, chain

import tapem as tm
from tapem.interpreters import Debugging, Eager, Interpreter, ShapeOnly, Tracing


def value_and_grad_under(make: Callable[[], Interpreter], program: Any) -> Callable[[], Any]:
    return lambda: tm.value_and_grad(program, interpreter=make())


def forward_under(make: Callable[[], Interpreter], program: Any) -> Callable[[], Any]:
    return lambda: tm.run(program, interpreter=make()).unwrap()


class Nothing:
    """Records nothing: what the driver and the program cost on their own."""

    def __init__(self) -> None:
        self.handle = tm.Handle(0, tm.ShapeDtype((), "f8"))

    def begin(self, tape: tm.Tape, site: Any) -> None:
        pass

    def leaf(self, request: tm.Leaf) -> tm.Handle:
        return self.handle

    def op(self, request: tm.Op) -> tm.Handle:
        return self.handle

    def end(self) -> tm.Tape:
        return tm.Tape()

    def backward(self, tape: tm.Tape, out: int, seed: Any, check: Any = None) -> list[Any]:
        raise NotImplementedError


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats (a smoke run)")
    repeats = 3 if parser.parse_args().quick else 25
    k = 1000
    ops_count = k * CHAIN_OPS_PER_STEP
    program = chain(0.3, k)

    rows = [
        ("eager", value_and_grad_under(Eager, program), "value and gradient", None),
        ("tracing", value_and_grad_under(lambda: Tracing(Eager()), program), "value and gradient",
         1.5),
        ("debugging", value_and_grad_under(lambda: Debugging(Eager()), program),
         "value and gradient", 1.5),
        ("trace+debug", value_and_grad_under(lambda: Tracing(Debugging(Eager())), program),
         "value and gradient", None),
        ("shape-only", forward_under(ShapeOnly, program), "forward only", 0.5),
        ("eager fwd", forward_under(Eager, program), "forward only", None),
        ("driver floor", forward_under(Nothing, program), "forward only", None),
    ]  # fmt: skip
    best = interleaved({name: fn for name, fn, _, _ in rows}, repeats)
    eager = best["eager"]
    print(f"op chain (K={k}, {ops_count} primitive ops), best of {repeats}")
    for name, _, what, target in rows:
        per_op = best[name] / ops_count * 1e6
        goal = f"(target <= {target}x)" if target is not None else ""
        print(
            f"  {name:<12} {per_op:6.2f} us/op  {best[name] / eager:5.2f}x eager  {what:<19}{goal}"
        )
    print(f"  shape-only / eager forward: {best['shape-only'] / best['eager fwd']:.2f}x")


if __name__ == "__main__":
    main()
