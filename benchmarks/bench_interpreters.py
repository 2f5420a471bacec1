"""Interpreter overhead: the op chain under eager, tracing, debugging and shape-only.

Each figure is min / median / max over interleaved rounds (the interpreters take turns, so drift
in machine speed hits all alike), with its ratio to eager's value and gradient in the same run
(by best and by median time). Targets (issue 4): tracing <= 1.5x, debugging <= 1.5x; shape-only,
forward only, <= 0.5x. Eager itself should stay <= 2 us per primitive op (forward + backward).
An expression request (one yield for a whole step) should cost no more per op than eager's one
yield per op (<= 1.0x).

"recording floor" is an interpreter whose values cost nothing (each node holds its first input's
value): the cost of the program, the driver loop and the recording path, which every
interpreter pays.

Run: python benchmarks/bench_interpreters.py [--quick]
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from timing import spread
from workloads import CHAIN_OPS_PER_STEP, chain

import tapem as tm
from tapem.interpreters import Debugging, Eager, Interpreter, ShapeOnly, Tracing


def value_and_grad_under(make: Callable[[], Interpreter], program: Any) -> Callable[[], Any]:
    return lambda: tm.value_and_grad(program, interpreter=make())


def forward_under(make: Callable[[], Interpreter], program: Any) -> Callable[[], Any]:
    return lambda: tm.run(program, interpreter=make()).unwrap()


class Nothing:
    """Values that cost nothing: what the program, the driver and the recording path cost."""

    def begin(self, tape: tm.Tape, site: Any) -> None:
        pass

    def leaf(self, request: tm.Leaf) -> Any:
        return request.value

    def op(self, request: tm.Op, xs: tuple[Any, ...]) -> Any:
        return xs[0]

    def end(self, tape: tm.Tape) -> None:
        pass

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
        ("recording floor", forward_under(Nothing, program), "forward only", None),
        ("expressions", value_and_grad_under(Eager, chain(0.3, k, form="expressions")),
         "value and gradient", 1.0),
    ]  # fmt: skip
    t = spread({name: fn for name, fn, _, _ in rows}, repeats)
    eager = t["eager"]
    print(f"op chain (K={k}, {ops_count} primitive ops), us per op, {repeats} rounds")
    print("                      min /  median /     max")
    for name, _, what, target in rows:
        goal = f" (target <= {target}x)" if target is not None else ""
        print(f"  {name:<15} {t[name].per(ops_count)}  {t[name].ratio(eager)} eager, {what}{goal}")
    print(f"  shape-only / eager forward: {t['shape-only'].ratio(t['eager fwd'])}")
    print("  expressions: each step one yield of one expression (np.sin(x) * 0.9 + x * 0.1 * x),")
    print("  the same five ops and gradients as eager's one yield per op")


if __name__ == "__main__":
    main()
