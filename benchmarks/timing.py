"""The two ways the benchmarks time code: one function on its own, or several in turn."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple


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


def rounds_of(
    fns: dict[str, Callable[[], Any]], rounds: int, number: int = 1
) -> dict[str, list[float]]:
    """Seconds per call of each function in each of ``rounds`` rounds, the functions taking turns
    (``number`` calls per turn), so that drift in machine speed hits all of them alike."""
    for fn in fns.values():  # warm up
        fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            start = time.perf_counter()
            for _ in range(number):
                fn()
            times[name].append((time.perf_counter() - start) / number)
    return times


def interleaved(
    fns: dict[str, Callable[[], Any]],
    rounds: int,
    summary: Callable[[Sequence[float]], float] = min,
) -> dict[str, float]:
    """Seconds per call of each function (the best, or another ``summary``) over
    :func:`rounds_of`."""
    return {name: summary(ts) for name, ts in rounds_of(fns, rounds).items()}


class Spread(NamedTuple):
    """Seconds per call over several interleaved rounds: the best, the median and the worst."""

    min: float
    median: float
    max: float

    def per(self, count: float, scale: float = 1e6) -> str:
        """``min / median / max`` of the time per ``count`` things, times ``scale`` (us)."""
        return " / ".join(f"{v / count * scale:7.2f}" for v in self)

    def ratio(self, other: Spread) -> str:
        """This over ``other``, by best and by median times: ``1.05x (median 1.07x)``."""
        return f"{self.min / other.min:5.2f}x (median {self.median / other.median:5.2f}x)"


def spread(fns: dict[str, Callable[[], Any]], rounds: int, number: int = 1) -> dict[str, Spread]:
    """The :class:`Spread` of each function over :func:`rounds_of`."""
    times = rounds_of(fns, rounds, number)
    return {name: Spread(min(ts), statistics.median(ts), max(ts)) for name, ts in times.items()}
