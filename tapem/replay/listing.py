"""A plan's listing: its nodes and reverse steps, one line each, loops shown once.

Nodes read as in a trace's listing (``%13:f64[1] = linear %0 %1 %11``); a leaf says where its
array comes from (``<- args[2][j + 2]``, rebound at every call) or that it is a constant; a
node inside a loop is named for iteration ``j`` (``%13+5j``). The reverse pass lists what each
node sends to which input: the VJP that computes it (``vjp.at_once[k]``: input ``k``'s part of
one call for every input), or ``pass`` for ``pass_through``; ``sum`` where the cotangent is
summed back to the input's shape and dtype; and how it joins what the input has: ``=`` (the
first), ``+`` (a new sum), ``+=`` (into the sum's buffer).

>>> import numpy as np
>>> import tapem as tm
>>> @tm.tapem
... def loss(w, x):
...     W = yield from tm.param(w, name="w")
...     return (yield tm.ops.sum((yield W * (yield from tm.const(x)))))
>>> print(tm.compile(loss).plan(np.ones(2), np.arange(2.0)).listing)
plan of loss (value and gradients): 4 nodes, 2 leaves rebound to argument arrays, 0 loop(s)
  %0:f64[2] = leaf 'w' <- args[0] (rebound)
  %1:f64[2] = leaf <- args[1] (rebound)
  %2:f64[2] = mul %0 %1
  %3:f64[] = sum %2 axis=None keepdims=False
reverse pass: 2 cotangents (2 VJP calls, 0 handed on by pass_through)
  %3 -> %2 = sum.vjp[0]
  %2 -> %0 = mul.vjp[0]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tapem.handle import dtype_code, format_shape
from tapem.ops.opdef import OpDef
from tapem.replay.loops import Loop, affine, subscripts
from tapem.replay.reverse import Step

__all__ = ["listing"]

_JOIN = ("=", "+", "+=")


def listing(traced: Any, loops: Sequence[Loop], steps: Sequence[Step]) -> str:
    """The listing of the plan of ``traced`` (a :class:`~tapem.replay.plan.Traced`)."""
    nodes = traced.tape._nodes
    gradients = traced.cotangents is not None
    lines = [
        f"plan of {traced.name} ({'value and gradients' if gradients else 'value'}): "
        f"{len(nodes)} nodes, {len(traced.sources)} leaves rebound to argument arrays, "
        f"{len(loops)} loop(s)"
    ]
    starts = {loop.start: loop for loop in loops}
    i = 0
    while i < len(nodes):
        loop = starts.get(i)
        if loop is None:
            lines.append("  " + _node(traced, i, None))
            i += 1
            continue
        lines.append(f"  for j in range({loop.repeats}):")
        lines += ["    " + _node(traced, i + k, loop) for k in range(loop.period)]
        i = loop.stop
    if gradients:
        lines += _reverse(traced, loops, steps)
    return "\n".join(lines)


def _name(p: int, loop: Loop | None) -> str:
    """Node ``p`` as named in iteration ``j`` of ``loop`` (written for its first iteration)."""
    if loop is not None and p >= loop.start - loop.period:
        return f"%{p}+{loop.period}j"
    return f"%{p}"


def _node(traced: Any, i: int, loop: Loop | None) -> str:
    value, name, _, parents, index, args = traced.tape._nodes[i]
    head = f"{_name(i, loop)}:{dtype_code(value.dtype)}{format_shape(value.shape)} = "
    if index is not None:
        rule: OpDef = traced.tape._rules[index]
        params = "".join(f" {p}={a!r}" for p, a in zip(rule.params, args, strict=False))
        return head + rule.name + "".join(f" {_name(p, loop)}" for p in parents) + params
    label = f" {name!r}" if name is not None else ""
    source = traced.sources.get(i)
    if source is None:
        return head + f"leaf{label} (constant)"
    return head + f"leaf{label} <- {_place(traced, source, loop, i)} (rebound)"


def _place(traced: Any, source: Any, loop: Loop | None, i: int) -> str:
    steps = iter(loop.steps.get((i - loop.start) % loop.period, ()) if loop else ())
    slot_step = next(steps, 0)
    if slot_step:
        place = f"argument {affine(source.slot, slot_step)}"
    else:
        place = traced.places[source.slot]
    return place + subscripts(source.keys, steps)


def _reverse(traced: Any, loops: Sequence[Loop], steps: Sequence[Step]) -> list[str]:
    edges = [e for _, es in steps for e in es]
    passed = sum(1 for e in edges if e[2] is None)
    calls = sum(1 for _, es in steps for n, (_, _, vjp, _, _) in enumerate(es)
                if vjp is not None and (vjp[2] is None or n == 0))  # fmt: skip
    lines = [
        f"reverse pass: {len(edges)} cotangents ({calls} VJP calls, {passed} handed on by "
        "pass_through)"
    ]
    rolled = []
    for loop in loops:
        if loop.back is not None:
            lo, hi = loop.back
            rolled.append(
                (loop.start + lo * loop.period, loop.start + (hi + 1) * loop.period, loop)
            )
    by_node = dict(steps)
    shown: set[int] = set()
    for node, node_edges in steps:
        region = next((r for r in rolled if r[0] <= node < r[1]), None)
        if region is None:
            lines.append("  " + _sends(traced, node, node_edges, None, 0))
            continue
        loop = region[2]
        if loop.start in shown:
            continue
        shown.add(loop.start)
        lo, hi = loop.back or (0, 0)
        lines.append(f"  for j in range({hi}, {lo - 1}, -1):")
        base = loop.start + hi * loop.period
        for k in range(loop.period - 1, -1, -1):
            if base + k in by_node:
                lines.append("    " + _sends(traced, base + k, by_node[base + k], loop, base))
    return lines


def _sends(traced: Any, node: int, edges: Sequence[Any], loop: Loop | None, base: int) -> str:
    """What ``node`` sends its inputs (in a loop: named for iteration ``j``, from the iteration
    at ``base``)."""

    def name(p: int) -> str:
        if loop is None or p < base - loop.period:
            return f"%{p}"
        return f"%{p - base + loop.start}+{loop.period}j"

    rule: OpDef = traced.tape._rules[traced.tape._nodes[node][4]]
    parts = []
    for k, parent, vjp, unbroadcast, mode in edges:
        if vjp is None:
            how = "pass"
        else:
            how = f"{rule.name}.vjp{'' if vjp[2] is None else '.at_once'}[{k}]"
        parts.append(f"{name(parent)} {_JOIN[mode]} {how}{' sum' if unbroadcast else ''}")
    return f"{name(node)} -> " + ", ".join(parts)
