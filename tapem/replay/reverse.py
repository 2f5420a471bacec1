"""What the reverse pass of a traced run did, as data a replay repeats without a check.

:func:`tapem.backward.reverse` decides, as it walks the tape, which nodes received a cotangent,
which VJPs run, which cotangents it sums back to their input's shape and dtype
(:func:`~tapem.backward.unbroadcast`), and how it adds each contribution to what its parent
already holds. Those decisions depend only on the tape's structure, shapes and dtypes, which a
replay's signature fixes. :func:`reverse_steps` takes them from the traced run (calling each VJP
once on the recorded values, to see the raw cotangent's shape and dtype) and lists them in the
pass's own order: nodes by descending id, each node's parents in argument order.

>>> import numpy as np
>>> import tapem as tm
>>> from tapem.backward import reverse, seed_for
>>> @tm.tapem
... def f():
...     w = yield from tm.param(np.array([1.0, 2.0]))
...     b = yield from tm.param(np.array(1.0))
...     return (yield tm.ops.sum((yield w + b)))
>>> out, tape = tm.run(f()).unwrap()
>>> out, seed = seed_for(tape, out, None)
>>> steps, _ = reverse_steps(tape, out, reverse(tape, out, seed))
>>> [(node, [(k, parent, unbroadcast, mode) for k, parent, _, unbroadcast, mode in edges])
...  for node, edges in steps]
[(3, [(0, 2, False, 0)]), (2, [(0, 0, False, 0), (1, 1, True, 0)])]
"""

from __future__ import annotations

from typing import Any

from tapem.ops.opdef import Variadic, pass_through
from tapem.tape import Tape

__all__ = ["ADD", "FIRST", "IADD", "Edge", "Step", "reverse_steps"]

FIRST, ADD, IADD = 0, 1, 2
"""How a contribution joins its parent's cotangent: it becomes it (the first), ``prev + ct``
(a new array: the second, and any into a parent of one element), or ``prev += ct`` (into the
buffer the second made)."""


Vjp = tuple[Any, tuple[int, ...]]
"""A VJP rule to call, ``(rule, prefix)``: ``rule(*prefix, g, out, *inputs, *args)`` (a
variadic op's rule takes the input's position first)."""

Edge = tuple[int, int, "Vjp | None", bool, int]
"""One contribution, ``(k, parent, vjp, unbroadcast, mode)``: input ``k`` of the node, whose id
is ``parent``, gets ``vjp``'s cotangent (``None``: the node's own, handed on by
``pass_through``), summed back to the parent's shape and dtype if ``unbroadcast``, joined by
``mode``."""

Step = tuple[int, tuple[Edge, ...]]
"""A node that propagates, with its contributions in order."""


def reverse_steps(
    tape: Tape, out: int, cotangents: list[Any]
) -> tuple[list[Step], dict[int, list[int]]]:
    """The steps of the reverse pass from ``out`` that produced ``cotangents`` (what
    :func:`~tapem.backward.reverse` returned for this tape), and for each node that received
    a contribution, the ids of the nodes it came from, in order."""
    nodes = tape._nodes
    vjps = [rule.vjp for rule in tape._rules]
    count: dict[int, int] = {}
    sources: dict[int, list[int]] = {}
    steps: list[Step] = []
    for i in range(out, -1, -1):
        g = cotangents[i]
        if g is None:
            continue
        value, _, requires_grad, parents, index, args = nodes[i]
        if index is None or not requires_grad:
            continue
        rules = vjps[index]
        variadic = rules.rule if isinstance(rules, Variadic) else None
        xs = [nodes[p][0] for p in parents]
        edges: list[Edge] = []
        for k, p in enumerate(parents):
            rule = rules[k]
            parent = nodes[p]
            if rule is None or not parent[2]:
                continue
            like = parent[0]
            vjp: Vjp | None
            if rule is pass_through:
                raw, vjp = g, None
            else:
                raw = rule(g, value, *xs, *args)
                vjp = (variadic, (k,)) if variadic is not None else (rule, ())
            c = count.get(p, 0)
            count[p] = c + 1
            mode = FIRST if c == 0 else ADD if c == 1 or like.size <= 1 else IADD
            if c:
                sources[p].append(i)
            else:
                sources[p] = [i]
            edges.append((k, p, vjp, _differs(raw, like), mode))
        if edges:
            steps.append((i, tuple(edges)))
    return steps, sources


def _differs(ct: Any, like: Any) -> bool:
    """Whether the reverse pass changes ``ct`` to give it ``like``'s shape and dtype (it
    returns anything else as it is)."""
    try:
        return bool(ct.shape != like.shape or ct.dtype != like.dtype)
    except AttributeError:
        return True
