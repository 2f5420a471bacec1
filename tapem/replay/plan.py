"""A plan: one signature of a compiled loss, as a Python function of the call's argument arrays.

:func:`build` turns what a trace recorded (the tape, where each leaf's array came from, the
reverse pass's cotangents) into straight-line Python, loops where the tape repeats
(:mod:`tapem.replay.codegen`, :mod:`tapem.replay.loops`), and compiles it once. Calling the
:class:`Plan` with a later call's slots (:func:`tapem.replay.arguments.signature`) runs the
same forward rules on the same inputs in the same order, then the same VJP rules, sums and
``unbroadcast`` calls in the same order as :func:`tapem.backward.reverse`: the results are the
eager call's, bit for bit. Nothing is checked on the way: the signature guarantees every shape
and dtype, and every decision the reverse pass made.

Results are handed out as eager hands them out (:func:`tapem.arrays.readonly`); a result that
shares memory with an argument array (a leaf's value handed back as it is, or a view of one)
is copied first, since eager would have recorded a copy of a writable argument.

>>> import numpy as np
>>> import tapem as tm
>>> @tm.tapem
... def loss(w, x):
...     W = yield from tm.param(w, name="w")
...     return (yield tm.ops.sum((yield W * (yield from tm.const(x)))))
>>> plan = tm.compile(loss).plan(np.ones(2), np.arange(2.0))
>>> print(plan.source.split("def replay(A):")[1].strip().replace("        ", ""))
a0 = A[0]
a1 = A[1]
v0 = a0
v1 = a1
v2 = f0(v0, v1)
v3 = f1(v2, None, False)
g3 = ones((), k2)
g2 = r3(g3, v3, v2, None, False)
g0 = r4(g2, v2, v0, v1)
return ro(v3), {'w': ro(g0)}
    return replay
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np

from tapem import collector
from tapem.arrays import readonly
from tapem.backward import unbroadcast
from tapem.interpreters.debugging import is_finite
from tapem.interpreters.eager import leaf_value
from tapem.replay.codegen import Names, Source, Unreplayable, handed
from tapem.replay.listing import listing
from tapem.replay.loops import Loop, find_loops
from tapem.replay.proxy import ArgArray
from tapem.replay.reverse import Returned, reverse_steps
from tapem.tape import Tape

__all__ = ["Plan", "Replayed", "Traced", "Unreplayable", "build"]


class Replayed(Exception):
    """A value or cotangent checked under debugging was NaN or Inf: the call runs again
    eagerly, which names the op and the line."""


class Traced(NamedTuple):
    """What a trace recorded. ``result`` is the program's result (value mode) or the output
    node's id; ``cotangents`` the reverse pass's (``None`` in value mode) and ``returned`` what
    its VJPs returned (:func:`~tapem.replay.reverse.watched`); ``keys`` the key of each
    gradient, by node id (the parameters that received a cotangent); ``sources`` the leaves
    made of argument arrays; ``slots`` the argument arrays and ``places`` where each is, for
    the listing."""

    name: str
    tape: Tape
    result: Any
    cotangents: list[Any] | None
    returned: Returned
    keys: Mapping[int, str | int]
    sources: Mapping[int, ArgArray]
    slots: Sequence[Any]
    places: Sequence[str]


def _cp(value: Any) -> Any:
    return readonly(value.copy())


HELPERS = {
    "ub": unbroadcast, "ro": readonly, "cp": _cp, "lv": leaf_value, "isf": is_finite,
    "Bad": Replayed, "asarray": np.asarray, "ones": np.ones,
}  # fmt: skip


class Plan:
    """One signature of a compiled loss, compiled: call it with the call's slots.

    ``source`` is the Python it runs; ``listing`` says the same per node (what each leaf is
    rebound to, the loops, the reverse pass). ``str(plan)`` is the listing.
    """

    def __init__(self, source: str, listing: str, function: Any, loops: Sequence[Loop]) -> None:
        self.source = source
        self.listing = listing
        self.loops = tuple(loops)
        self._function = function

    def __call__(self, slots: Sequence[Any]) -> Any:
        with collector.paused():
            return self._function(slots)

    def __str__(self) -> str:
        return self.listing

    def __repr__(self) -> str:
        lines = self.source.count("\n")
        return f"<Plan: {lines} lines, {len(self.loops)} loop(s)>"


def build(traced: Traced, *, debug: bool) -> Plan:
    """The plan of a trace (value and gradients, or the value alone if ``cotangents`` is
    ``None``); :class:`Unreplayable` if its result cannot be handed out again."""
    tape = traced.tape
    nodes = tape._nodes
    scalars = {s for s, value in enumerate(traced.slots) if value.__class__ is not np.ndarray}
    grads = traced.cotangents
    steps = [] if grads is None else reverse_steps(tape, traced.result, grads, traced.returned)
    loops = find_loops(nodes, traced.sources, steps, scalars)
    names = Names(HELPERS)
    code = Source(nodes, tape._rules, traced.sources, names, scalars, debug=debug)
    segments, stored = _forward(code, loops, len(nodes))
    copy = _aliasing(traced)
    if grads is None:
        backward = []
        result = code.held(traced.result, lambda h: copy(nodes[h.id][0]))
    else:
        out = traced.result
        backward = _backward(code, loops, steps, stored, traced)
        code.used.add(out)
        pairs = [f"{names.literal(key)}: {handed(f'g{i}', copy(grads[i]))}" for i, key in
                 traced.keys.items()]  # fmt: skip
        result = f"{handed(f'v{out}', copy(nodes[out][0]))}, {{{', '.join(pairs)}}}"
    body = [f"a{s} = A[{s}]" for s in sorted(code.slots)]
    body += _assemble(segments, loops, code.used)
    body += backward
    body.append(f"return {result}")
    source = "\n".join(
        [f"def plan({', '.join(names.values)}):", "    def replay(A):"]
        + ["        " + line for line in body]
        + ["    return replay", ""]
    )
    namespace: dict[str, Any] = {}
    exec(compile(source, f"<tapem plan of {traced.name}>", "exec"), namespace)
    function = namespace["plan"](**names.values)
    return Plan(source, listing(traced, loops, steps), function, loops)


def _forward(code: Source, loops: Sequence[Loop], n: int) -> tuple[list[Any], list[list[str]]]:
    """The forward segments (lists of lines; a loop as its index) and each loop's stored
    names."""
    segments: list[Any] = []
    stored: list[list[str]] = []
    starts = {loop.start: k for k, loop in enumerate(loops)}
    i = 0
    lines: list[str] = []
    while i < n:
        k = starts.get(i)
        if k is None:
            lines += code.forward(i)
            i += 1
            continue
        segments.append(lines)
        loop_lines, names = code.forward_loop(k, loops[k])
        segments.append((k, loop_lines))
        stored.append(names)
        lines = []
        i = loops[k].stop
    segments.append(lines)
    return segments, stored


def _backward(
    code: Source,
    loops: Sequence[Loop],
    steps: Sequence[Any],
    stored: Sequence[Sequence[str]],
    traced: Traced,
) -> list[str]:
    out = traced.result
    dtype = code.names.bind(traced.tape._nodes[out][0].dtype, "k")
    lines = [f"g{out} = ones((), {dtype})"]
    rolled = []
    for k, loop in enumerate(loops):
        if loop.back is not None:
            lo, hi = loop.back
            rolled.append((loop.start + lo * loop.period, loop.start + (hi + 1) * loop.period, k))
    by_node = {step[0]: step for step in steps}
    done: set[int] = set()
    for step in steps:
        i = step[0]
        region = next((r for r in rolled if r[0] <= i < r[1]), None)
        if region is None:
            lines += code.backward(step)
        elif region[2] not in done:
            done.add(region[2])
            lines += code.backward_loop(region[2], loops[region[2]], by_node, stored[region[2]])
    return lines


def _assemble(segments: list[Any], loops: Sequence[Loop], used: set[int]) -> list[str]:
    """The forward lines, each loop followed by the values that code outside it reads."""
    lines: list[str] = []
    for segment in segments:
        if isinstance(segment, tuple):
            k, loop_lines = segment
            loop = loops[k]
            lines += loop_lines
            for i in sorted(p for p in used if loop.start <= p < loop.stop):
                j, slot = loop.iteration(i)
                lines.append(f"v{i} = T{k}[{j}][{slot}]")
        else:
            lines += segment
    return lines


def _aliasing(traced: Traced) -> Any:
    """Whether a result shares memory with a leaf of an argument array (in a replay, the
    caller's array itself)."""
    nodes = traced.tape._nodes
    owners = {id(_owner(nodes[i][0])) for i in traced.sources}
    return lambda value: isinstance(value, np.ndarray) and id(_owner(value)) in owners


def _owner(array: Any) -> Any:
    while isinstance(getattr(array, "base", None), np.ndarray):
        array = array.base
    return array
