"""concat with many inputs: the forward, value_and_grad, and the cotangent rules alone.

    .venv/bin/python benchmarks/bench_concat.py [--sizes 2500 5000 10000 20000] [--repeats 3]

The program makes n params of shape (1,) and returns the sum of their concatenation. For each n
it prints the best time of the run alone (the forward), of ``value_and_grad``, and of the two
ways to compute every input's cotangent from the rules: one ``vjp[i]`` call per input, as the
reverse pass makes them (each call receives all n inputs, so n calls cost at least n**2), and
one ``vjp.at_once`` call (linear in n). Issue 10 measured value_and_grad at 0.6 / 2.4 / 9.7 /
42 s for 2.5k / 5k / 10k / 20k inputs, the forward at 0.04 s.
"""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np
from timing import best_time

import tapem as tm
from tapem import ops


@tm.tapem
def joined(n: int) -> tm.Gen[tm.Handle]:
    parts = []
    for _ in range(n):
        parts.append((yield from tm.param(np.ones(1))))
    return (yield ops.sum((yield ops.concat(parts, axis=0))))


def per_input(g: Any, out: Any, xs: list[Any]) -> list[Any]:
    rules = ops.concat.vjp
    return [rules[i](g, out, *xs, 0) for i in range(len(xs))]


def at_once(g: Any, out: Any, xs: list[Any]) -> tuple[Any, ...]:
    return ops.concat.vjp.at_once(g, out, *xs, 0)


def time_n(n: int, repeats: int) -> tuple[float, float, float, float]:
    """Seconds for the forward, value_and_grad, n vjp[i] calls and one at_once call."""
    forward = best_time(lambda: tm.run(joined(n)).unwrap(), repeats)
    gradient = best_time(lambda: tm.value_and_grad(joined(n)), repeats)
    xs = [np.ones(1) for _ in range(n)]
    out = g = np.ones(n)
    pairs = zip(per_input(g, out, xs), at_once(g, out, xs), strict=True)
    assert all(np.array_equal(a, b) for a, b in pairs)
    each = best_time(lambda: per_input(g, out, xs), repeats)
    once = best_time(lambda: at_once(g, out, xs), repeats)
    return forward, gradient, each, once


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[2500, 5000, 10000, 20000])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    header = ("inputs", "forward", "value_and_grad", "vjp[i] x n", "at_once")
    print("{:>8} {:>10} {:>15} {:>12} {:>10}".format(*header))
    for n in args.sizes:
        forward, gradient, each, once = time_n(n, args.repeats)
        print(f"{n:>8} {forward:>9.3f}s {gradient:>14.3f}s {each:>11.3f}s {once:>9.4f}s")


if __name__ == "__main__":
    main()
