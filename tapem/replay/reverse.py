"""What the reverse pass of a traced run did, as data a replay repeats without a check.

:func:`tapem.backward.reverse` decides, as it walks the tape, which nodes received a cotangent,
which VJPs run (for a variadic op of many inputs, one ``at_once`` call for all of them), which
cotangents it sums back to their input's shape and dtype (:func:`~tapem.backward.unbroadcast`),
and how it adds each contribution to what its parent already holds. Those decisions depend only
on the tape's structure, shapes and dtypes, which a replay's signature fixes.
:func:`reverse_steps` lists them in the pass's own order (nodes by descending id, each node's
parents in argument order), from the cotangents the traced run's reverse pass produced and the
shape and dtype of each cotangent a VJP returned, which that same pass notes when it runs over
a :func:`watched` view of the tape (so a trace runs the reverse pass once, as eager does).

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
>>> returned = []
>>> steps = reverse_steps(tape, out, reverse(watched(tape, returned), out, seed), returned)
>>> [(node, [(k, parent, unbroadcast, mode) for k, parent, _, unbroadcast, mode in edges])
...  for node, edges in steps]
[(3, [(0, 2, False, 0)]), (2, [(0, 0, False, 0), (1, 1, True, 0)])]
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from tapem.backward import AT_ONCE
from tapem.ops.opdef import OpDef, Variadic, pass_through
from tapem.tape import Tape

__all__ = ["ADD", "FIRST", "IADD", "Edge", "Step", "Vjp", "reverse_steps", "watched"]

FIRST, ADD, IADD = 0, 1, 2
"""How a contribution joins its parent's cotangent: it becomes it (the first), ``prev + ct``
(a new array: the second, and any into a parent of one element), or ``prev += ct`` (into the
buffer the second made)."""

Vjp = tuple[Any, tuple[int, ...], "int | None"]
"""A VJP rule to call, ``(rule, prefix, part)``: ``rule(*prefix, g, out, *inputs, *args)`` (a
variadic op's rule takes the input's position first). ``part`` is ``None``, or the element of
the call's result that the input takes: the rule is a variadic op's ``at_once``, called once
for the node, which returns every input's cotangent (see :data:`tapem.backward.AT_ONCE`)."""

Edge = tuple[int, int, "Vjp | None", bool, int]
"""One contribution, ``(k, parent, vjp, unbroadcast, mode)``: input ``k`` of the node, whose id
is ``parent``, gets ``vjp``'s cotangent (``None``: the node's own, handed on by
``pass_through``), summed back to the parent's shape and dtype if ``unbroadcast``, joined by
``mode``."""

Step = tuple[int, tuple[Edge, ...]]
"""A node that propagates, with its contributions in order."""

Returned = list[Any]
"""The shape and dtype of each cotangent a VJP returned, in the order the pass called them (a
call of ``at_once``: a tuple of them, one per input, ``None`` for an input without one)."""


class _Watched:
    """An op whose VJP rules note the shape and dtype of each cotangent they return (its
    other attributes are the op's)."""

    def __init__(self, rule: OpDef, returned: Returned) -> None:
        self._rule = rule
        vjp = rule.vjp
        if isinstance(vjp, Variadic):
            at_once = vjp.at_once
            self.vjp: Any = Variadic(
                _noting(vjp.rule, returned),
                None if at_once is None else _noting_each(at_once, returned),
            )
        else:
            self.vjp = tuple(
                r if r is None or r is pass_through else _noting(r, returned) for r in vjp
            )

    def __getattr__(self, name: str) -> Any:
        return getattr(self._rule, name)


def _noting(rule: Callable[..., Any], returned: Returned) -> Callable[..., Any]:
    def noted(*call: Any) -> Any:
        ct = rule(*call)
        returned.append(_shape_dtype(ct))
        return ct

    return noted


def _noting_each(at_once: Callable[..., Any], returned: Returned) -> Callable[..., Any]:
    def noted(*call: Any) -> Any:
        cts = at_once(*call)
        returned.append(tuple(None if ct is None else _shape_dtype(ct) for ct in cts))
        return cts

    return noted


def _shape_dtype(ct: Any) -> tuple[Any, Any]:
    return getattr(ct, "shape", None), getattr(ct, "dtype", None)


def watched(tape: Tape, returned: Returned) -> Tape:
    """A view of ``tape`` (the same records) for a reverse pass, whose VJP rules note what they
    return in ``returned``."""
    rules: list[Any] = [_Watched(rule, returned) for rule in tape._rules]
    return Tape.adopt(tape._nodes, rules)


def reverse_steps(
    tape: Tape, out: int, cotangents: Sequence[Any], returned: Returned
) -> list[Step]:
    """The steps of the reverse pass from ``out`` that produced ``cotangents``, its VJPs having
    ``returned`` what they did."""
    nodes = tape._nodes
    vjps = [rule.vjp for rule in tape._rules]
    raw = iter(returned)
    count: dict[int, int] = {}
    steps: list[Step] = []
    for i in range(out, -1, -1):
        g = cotangents[i]
        if g is None:
            continue
        _, _, requires_grad, parents, index, _ = nodes[i]
        if index is None or not requires_grad:
            continue
        rules = vjps[index]
        variadic = rules.rule if isinstance(rules, Variadic) else None
        together = getattr(rules, "at_once", None) if len(parents) >= AT_ONCE else None
        if together is not None:
            rules = next(raw)  # one call's cotangents: each input's shape and dtype, or None
        edges: list[Edge] = []
        for k, p in enumerate(parents):
            rule: Any = rules[k]
            parent = nodes[p]
            if rule is None or not parent[2]:
                continue
            like = parent[0]
            vjp: Vjp | None
            if together is not None:
                shape, dtype = rule
                vjp = (together, (), k)
            elif rule is pass_through:
                shape, dtype = g.shape, g.dtype
                vjp = None
            else:
                shape, dtype = next(raw)
                vjp = (variadic, (k,), None) if variadic is not None else (rule, (), None)
            c = count.get(p, 0)
            count[p] = c + 1
            mode = FIRST if c == 0 else ADD if c == 1 or like.size <= 1 else IADD
            edges.append((k, p, vjp, shape != like.shape or dtype != like.dtype, mode))
        if edges:
            steps.append((i, tuple(edges)))
    if next(raw, None) is not None:
        raise AssertionError("the reverse pass called VJPs this walk did not expect")
    return steps
