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

>>> import numpy as np
>>> import tapem as tm
>>> @tm.tapem
... def chain(x):
...     h = yield from tm.param(np.array(x))
...     for _ in range(30):
...         h = yield tm.ops.sin((yield h * 0.5))
...     return h
>>> out, tape = tm.run(chain(0.3)).unwrap()
>>> [(loop.start, loop.period, loop.repeats) for loop in find_loops(tape._nodes, {})]
[(1, 2, 30)]
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np

from tapem.replay.proxy import ArgArray
from tapem.replay.reverse import Step
from tapem.tape import Record

__all__ = ["INT", "Loop", "affine", "find_loops", "int_parts", "numbers", "subscripts"]

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


def subscripts(keys: tuple[Any, ...], steps: Iterator[int]) -> str:
    """Python source for the basic indices ``keys`` (``[2:5][j + 1, ...]``), each integer of
    iteration ``j`` of a loop in which it grows by the next of ``steps`` (none left: 0).

    >>> subscripts(((slice(2, 5),), (1, Ellipsis), ()), iter([2]))
    '[2:5][2 * j + 1, ...][()]'
    """
    shape, ints = int_parts(keys)
    numbers = iter(ints)
    text = ""
    for key in shape:
        parts = [affine(next(numbers), next(steps, 0)) if item is INT else _index_part(item)
                 for item in key]  # fmt: skip
        text += f"[{', '.join(parts) or '()'}]"
    return text


def affine(n: int, step: int) -> str:
    """Python source for ``n`` in iteration ``j`` of a loop in which it grows by ``step``
    (``2 * j + 1``; ``n`` itself for a step of 0)."""
    if step == 0:
        return str(n)
    j = "j" if step == 1 else f"{step} * j"
    return j if n == 0 else f"{j} + {n}" if n > 0 else f"{j} - {-n}"


def _index_part(item: Any) -> str:
    if item is Ellipsis:
        return "..."
    if item is None:
        return "None"
    assert item.__class__ is slice
    parts = ["" if b is None else str(b) for b in (item.start, item.stop, item.step)]
    return ":".join(parts[:2]) if item.step is None else ":".join(parts)


class _Repeats:
    """Relative signatures of a candidate loop's nodes: a node's signature equals the node's a
    period before it exactly when it repeats it, relative to their iterations (so iterations
    compare as lists). An input is its distance back if it is in the same iteration or the one
    before, else the node itself (before the loop; a node of an older iteration of the loop
    matches nothing)."""

    def __init__(
        self,
        nodes: Sequence[Record],
        sources: Mapping[int, ArgArray],
        steps: Sequence[Step],
        scalars: set[int],
    ) -> None:
        self.nodes = nodes
        self.sources = sources
        self.scalars = scalars
        self.edges = dict(steps)
        self.received: dict[int, list[int]] = {}  # the nodes each one's contributions come from
        for i, edges in steps:
            for _, p, _, _, _ in edges:
                self.received.setdefault(p, []).append(i)
        self.tokens: list[int] = []

    def forward(self, loop: Loop) -> list[Any]:
        """The forward signature of each node of ``loop``."""
        nodes, sources, tokens = self.nodes, self.sources, self.tokens
        start, period = loop.start, loop.period
        signatures: list[Any] = []
        for i in range(start, loop.stop):
            j, k = divmod(i - start, period)
            parents, index = nodes[i][3], nodes[i][4]
            if index is not None:
                limit = k + period
                refs = tuple(i - p if i - p <= limit else _before(p, start) for p in parents)
                signatures.append((tokens[i], refs))
                continue
            source = sources.get(i)
            if source is None:
                signatures.append(tokens[i])  # a constant: the loop lists each iteration's
                continue
            step, mine = loop.steps.get(k), numbers(source)
            if step is None or len(step) != len(mine):
                signatures.append(object())
                continue
            relative = tuple(n - j * s for n, s in zip(mine, step, strict=True))
            signatures.append((tokens[i], relative, source.real.flags.c_contiguous))
        return signatures

    def backward(self, loop: Loop) -> list[Any]:
        """The reverse-pass signature of each node of ``loop``: whether it propagates, the
        contributions it receives before its iteration's own (from the next iteration, or from
        further on: then it cannot roll with the others), and its own contributions."""
        nodes, received, all_edges = self.nodes, self.received, self.edges
        start, period = loop.start, loop.period
        signatures: list[Any] = []
        for i in range(start, loop.stop):
            k = (i - start) % period
            if i not in received and i not in all_edges:  # the reverse pass does not reach it
                signatures.append(None)
                continue
            if nodes[i][4] is None and nodes[i][2]:
                signatures.append(object())  # a parameter's cotangent is a result: not rolled
                continue
            later, further = period - k, 2 * period - k
            pending = tuple(c - i < further for c in received.get(i, ()) if c - i >= later)
            limit = k + period
            edges = tuple(
                (kk, vjp, unbroadcast, mode, i - p if i - p <= limit else _before(p, start))
                for kk, p, vjp, unbroadcast, mode in all_edges.get(i, ())
            )
            signatures.append((pending, edges))
        return signatures


def _before(p: int, start: int) -> Any:
    """A reference to node ``p`` from further back than the iteration before."""
    return -1 - p if p < start else object()


def _hashable(shape: tuple[Any, ...]) -> Any:
    """Basic indices with each slice as a tuple (slices are not hashable before Python 3.12)."""
    return tuple(
        tuple((i.start, i.stop, i.step) if i.__class__ is slice else i for i in key)
        for key in shape
    )


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
    scalars: set[int] | None = None,
) -> list[Loop]:
    """The loops of a tape (disjoint, in order). ``steps`` are its reverse pass's
    (:func:`~tapem.replay.reverse.reverse_steps`); without them, only the forward pass is
    rolled. ``scalars`` are the argument slots that hold numpy scalars."""
    repeats = _Repeats(nodes, sources, steps, scalars or set())
    tokens = repeats.tokens = _tokens(nodes, sources, repeats.scalars)
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
    nodes: Sequence[Record], sources: Mapping[int, ArgArray], scalars: set[int]
) -> list[int]:
    """One small int per node, equal for nodes that may repeat each other (the same op and
    static parameters; leaves of the same kind)."""
    ids: dict[Any, int] = {}
    canonical: dict[int, Any] = {}
    tokens = []
    for i, (_, _, requires_grad, _, index, args) in enumerate(nodes):
        if index is None:
            source = sources.get(i)
            if source is None:
                token: Any = ("c", requires_grad)
            else:
                token = ("r", _hashable(int_parts(source.keys)[0]), source.slot in scalars)
        elif not args:
            token = index
        else:
            key = id(args)
            if key not in canonical:
                canonical[key] = (args, _canonical(args))  # (the args stay alive meanwhile)
            token = (index, canonical[key][1])
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
    (and MIN_NODES nodes) that repeat the one before them, node by node."""
    loop = Loop(start, period, count, None, _steps(repeats, start, period))
    same = _same(repeats.forward(loop), period, count)
    found = []
    for first, last in _stretches(same, max(MIN_ITERATIONS, -(-MIN_NODES // period))):
        found.append(Loop(start + first * period, period, last - first + 1, None, loop.steps))
    return found


def _same(signatures: list[Any], period: int, count: int) -> list[bool]:
    """``same[j]``: iteration ``j`` repeats iteration ``j - 1``."""
    return [False] + [
        signatures[j * period : (j + 1) * period] == signatures[(j - 1) * period : j * period]
        for j in range(1, count)
    ]


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
    stretches = _stretches(_same(repeats.backward(loop), loop.period, loop.repeats), MIN_BACKWARD)
    if not stretches:
        return loop
    first, last = max(stretches, key=lambda s: s[1] - s[0])
    return loop._replace(back=(first, last))
