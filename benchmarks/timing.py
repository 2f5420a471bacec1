"""The two ways the benchmarks time code: one function on its own, or several in turn."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any


def best_time(fn: Callable[[], Any], repeats: int, number: int = 1) -> float:
    """The best wall time of ``number`` calls, over ``repeats`` tries, per call."""
    fn()  # warm up
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(number):
            fn()
        best = min(best, (time.perf_counter() - start) / number)
    return best


def interleaved(
    fns: dict[str, Callable[[], Any]],
    rounds: int,
    summary: Callable[[Sequence[float]], float] = min,
) -> dict[str, float]:
    """Seconds per call of each function (the best, or another ``summary``), calling them in
    turn ``rounds`` times, so that drift in machine speed hits all of them alike."""
    for fn in fns.values():  # warm up
        fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: summary(ts) for name, ts in times.items()}
