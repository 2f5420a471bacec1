"""Repeated stretches of a tape, replayed as Python loops instead of straight-line code.

A loss that loops in Python (over samples, over time steps) records the same few ops again and
again. Straight-line code for every node would cost about 10 us of compilation per line, more
than a long tape's replays save in their first calls. So the plan finds the repeats and emits
one loop body for each: a **loop** is ``repeats`` consecutive **iterations** of ``period`` nodes
from ``start`` in which every node does what the node one period earlier did, relative to its
iteration. Relative to iteration ``j``, a node's input is a node of the same iteration, of the
previous one (carried from one iteration to the next; for the first, the node one period
before the loop), or a node before the loop, the same for every iteration (a parameter, say).
A leaf of an argument's array is rebound by indices that grow by the same step each iteration
(``xs[j + 1]``; for a batch given as a list of samples, the argument itself: ``A[2 * j + 3]``),
and a leaf of a constant takes its value from a list, one per iteration. The reverse pass is
rolled over the iterations in which it does the same thing too (its first and last iterations
often differ: a parameter's first contributions make its cotangent, the later ones add to it).

Detection is a heuristic that can only miss repeats, never invent them: candidate periods come
from how far apart equal ops are, and every node of every iteration is compared with the node
one period before it: the same op, static parameters and kind of leaf, inputs in the same
places relative to their iterations, the same steps of the reverse pass.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np

from tapem.replay.proxy import ArgArray
from tapem.replay.reverse import Step
from tapem.tape import Record

__all__ = ["INT", "Loop", "find_loops", "int_parts", "numbers"]

INT = "#"
"""Where :func:`int_parts` took an integer out of an index."""

MIN_ITERATIONS = 4  # a loop of fewer iterations, or of fewer nodes, costs more to compile
MIN_NODES = 24  # than straight lines, and runs no faster
MIN_BACKWARD = 3


class Loop(NamedTuple):
    """Nodes ``start + j * period + k`` (``0 <= j < repeats``, ``0 <= k < period``) repeat;
    the reverse pass repeats over iterations ``back[0]`` to ``back[1]`` (``None``: not at all).
    ``steps[k]`` is how much the numbers of leaf ``k``'s argument (:func:`numbers`) grow per
    iteration."""

    start: int
    period: int
    repeats: int
    back: tuple[int, int] | None
    steps: dict[int, tuple[int, ...]]

    def iteration(self, node: int) -> tuple[int, int]:
        """``(j, k)`` of a node of the loop."""
        return divmod(node - self.start, self.period)

    @property
    def stop(self) -> int:
        return self.start + self.repeats * self.period


def numbers(proxy: ArgArray) -> tuple[int, ...]:
    """The numbers that say which array a leaf holds: its argument's slot, then the integers
    of its indices."""
    return (proxy.slot, *int_parts(proxy.keys)[1])


def int_parts(keys: tuple[Any, ...]) -> tuple[tuple[Any, ...], tuple[int, ...]]:
    """The basic indices ``keys`` with each integer taken out (:data:`INT` where it was), and
    the integers in order."""
    ints: list[int] = []
    shape = []
    for key in keys:
        parts = []
        for item in key:
            if item.__class__ is int:
                ints.append(item)
                parts.append(INT)
            else:
                parts.append(item)
        shape.append(tuple(parts))
    return tuple(shape), tuple(ints)


class _Repeats:
    """Whether a node does what the node one period before it did, relative to their
    iterations (for a candidate loop from ``start``)."""

    def __init__(
        self,
        nodes: Sequence[Record],
        sources: Mapping[int, ArgArray],
        steps: Sequence[Step],
        received: Mapping[int, list[int]],
        reached: Sequence[bool],
        scalars: set[int],
    ) -> None:
        self.nodes = nodes
        self.sources = sources
        self.scalars = scalars
        self.edges = dict(steps)
        self.received = received
        self.reached = reached
        self.args: dict[int, Any] = {}

    @staticmethod
    def same_ref(p: int, q: int, base: int, period: int, start: int) -> bool:
        """Whether input ``p`` of a node of the iteration at ``base`` is, relative to it, what
        input ``q`` of the node a period before is relative to its own iteration: the node a
        period after (in this iteration or the one before), or the same node before the loop."""
        if p == q + period:
            return q >= base - 2 * period
        return p == q and q < base - 2 * period and q < start

    def forward(self, i: int, base: int, loop: Loop) -> bool:
        period = loop.period
        _, _, _, parents, index, _ = self.nodes[i]
        if index is not None:
            before = self.nodes[i - period][3]
            same = self.same_ref
            for p, q in zip(parents, before, strict=True):
                if not same(p, q, base, period, loop.start):
                    return False
            return True
        source = self.sources.get(i)
        if source is None:
            return True  # a constant (the tokens already compared the leaves' kinds)
        previous = self.sources[i - period]
        step = loop.steps.get(i - base)
        mine, theirs = numbers(source), numbers(previous)
        return (
            step is not None
            and len(mine) == len(theirs) == len(step)
            and all(a - b == s for a, b, s in zip(mine, theirs, step, strict=True))
            and int_parts(source.keys)[0] == int_parts(previous.keys)[0]
            and source.real.flags.c_contiguous == previous.real.flags.c_contiguous
            and (source.slot in self.scalars) == (previous.slot in self.scalars)
        )

    def backward(self, i: int, base: int, loop: Loop) -> bool:
        period = loop.period
        reached = self.reached[i]
        if reached != self.reached[i - period]:
            return False
        if not reached:
            return True
        if self.nodes[i][4] is None and self.nodes[i][2]:
            return False  # a parameter's cotangent is a result: not rolled
        # contributions that arrive before the iteration's own, from the next iteration or
        # (not rolled) from further on, relative to their node
        later, later_before = base + period, base
        mine = [c - later < period for c in self.received.get(i, ()) if c >= later]
        theirs = [c - later_before < period for c in self.received.get(i - period, ())
                  if c >= later_before]  # fmt: skip
        if mine != theirs:
            return False
        edges, before = self.edges.get(i, ()), self.edges.get(i - period, ())
        if len(edges) != len(before):
            return False
        for e, f in zip(edges, before, strict=True):
            if e[0] != f[0] or e[2] != f[2] or e[3] != f[3] or e[4] != f[4]:
                return False
            if not self.same_ref(e[1], f[1], base, period, loop.start):
                return False
        return True

    def canonical(self, args: tuple[Any, ...]) -> Any:
        """``args`` as a hashable value that tells ``0.0`` from ``-0.0`` and ``1`` from ``1.0``."""
        key = id(args)
        if key not in self.args:
            self.args[key] = (args, _canonical(args))
        return self.args[key][1]


def _canonical(value: Any) -> Any:
    cls = value.__class__
    if cls is float:
        return (float, value.hex())
    if cls is tuple:
        return (tuple, tuple(_canonical(v) for v in value))
    if cls in (int, bool, str, type(None)):
        return (cls, value)
    return (object, id(value))


def find_loops(
    nodes: Sequence[Record],
    sources: Mapping[int, ArgArray],
    steps: Sequence[Step] = (),
    received: Mapping[int, list[int]] | None = None,
    reached: Sequence[bool] = (),
    scalars: set[int] | None = None,
) -> list[Loop]:
    """The loops of a tape (disjoint, in order). ``steps``, ``received`` and ``reached`` describe
    its reverse pass (:func:`~tapem.replay.reverse.reverse_steps`); without them, only the
    forward pass is rolled. ``scalars`` are the argument slots that hold numpy scalars."""
    repeats = _Repeats(
        nodes, sources, steps, received or {}, reached or [False] * len(nodes), scalars or set()
    )
    tokens = _tokens(nodes, sources, repeats)
    covered = np.zeros(len(nodes), dtype=bool)
    loops: list[Loop] = []
    for period in _periods(tokens):
        for start, count in _runs(tokens, period):
            if covered[start : start + count * period].any():
                continue
            for loop in _verified(repeats, start, period, count):
                loops.append(_with_backward(repeats, loop) if steps else loop)
                covered[loop.start : loop.stop] = True
    return sorted(loops)


def _tokens(
    nodes: Sequence[Record], sources: Mapping[int, ArgArray], repeats: _Repeats
) -> list[int]:
    """One small int per node, equal for nodes that may repeat each other (the same op and
    static parameters; leaves of the same kind)."""
    ids: dict[Any, int] = {}
    tokens = []
    for i, (_, _, requires_grad, _, index, args) in enumerate(nodes):
        if index is None:
            source = sources.get(i)
            if source is None:
                token: Any = ("c", requires_grad)
            else:
                token = ("r", int_parts(source.keys)[0], source.slot in repeats.scalars)
        else:
            token = (index, repeats.canonical(args))
        tokens.append(ids.setdefault(token, len(ids)))
    return tokens


def _periods(tokens: Sequence[int]) -> list[int]:
    """Candidate periods: the most common distances between equal tokens."""
    last: dict[int, int] = {}
    distances: Counter[int] = Counter()
    for i, token in enumerate(tokens):
        j = last.get(token)
        if j is not None:
            distances[i - j] += 1
        last[token] = i
    return [d for d, n in distances.most_common(3) if n >= MIN_ITERATIONS]


def _runs(tokens: Sequence[int], period: int) -> list[tuple[int, int]]:
    """``(start, count)`` of each stretch of at least MIN_ITERATIONS iterations of ``period``
    tokens, each equal to the one a period before."""
    runs = []
    n = len(tokens)
    i = period
    while i < n:
        if tokens[i] != tokens[i - period]:
            i += 1
            continue
        a = i
        while i < n and tokens[i] == tokens[i - period]:
            i += 1
        start = a - period
        count = (i - start) // period
        if count >= MIN_ITERATIONS:
            runs.append((start, count))
    return runs


def _verified(repeats: _Repeats, start: int, period: int, count: int) -> list[Loop]:
    """The loops within a candidate run: each stretch of at least MIN_ITERATIONS iterations
    that repeat the one before them, node by node."""
    loop = Loop(start, period, count, None, _steps(repeats, start, period))
    same = [False] + [_repeats(repeats, loop, j, repeats.forward) for j in range(1, count)]
    found = []
    for first, last in _stretches(same, max(MIN_ITERATIONS, -(-MIN_NODES // period))):
        found.append(Loop(start + first * period, period, last - first + 1, None, loop.steps))
    return found


def _repeats(repeats: _Repeats, loop: Loop, j: int, check: Any) -> bool:
    base = loop.start + j * loop.period
    return all(check(base + k, base, loop) for k in range(loop.period))


def _steps(repeats: _Repeats, start: int, period: int) -> dict[int, tuple[int, ...]]:
    """How the numbers of each argument leaf of the first iteration grow in the next."""
    steps = {}
    for k in range(period):
        first = repeats.sources.get(start + k)
        second = repeats.sources.get(start + period + k)
        if first is not None and second is not None:
            a, b = numbers(first), numbers(second)
            if len(a) == len(b):
                steps[k] = tuple(y - x for x, y in zip(a, b, strict=True))
    return steps


def _stretches(same: Sequence[bool], minimum: int) -> list[tuple[int, int]]:
    """``(first, last)`` of each stretch of at least ``minimum`` iterations, each after the
    first repeating the one before (``same[j]``: iteration ``j`` repeats ``j - 1``)."""
    out = []
    first = 0
    for j in range(1, len(same) + 1):
        if j == len(same) or not same[j]:
            if j - first >= minimum:
                out.append((first, j - 1))
            first = j
    return out


def _with_backward(repeats: _Repeats, loop: Loop) -> Loop:
    """``loop`` with the longest stretch of iterations whose reverse steps repeat."""
    same = [False] + [_repeats(repeats, loop, j, repeats.backward) for j in range(1, loop.repeats)]
    stretches = _stretches(same, MIN_BACKWARD)
    if not stretches:
        return loop
    first, last = max(stretches, key=lambda s: s[1] - s[0])
    return loop._replace(back=(first, last))
