"""Python source for a plan: the forward ops in order, then the reverse pass, as plain code.

Each node becomes one line, ``v7 = f3(v5, v6, 0.5)``: its op's forward rule on its inputs'
values and static parameters (a leaf: the argument array it is rebound to, or its constant).
Each contribution of the reverse pass becomes one line, ``g5 = g5 + r2(g7, v7, v5, v6)``: the
VJP rule (or the cotangent itself, for ``pass_through``), :func:`~tapem.backward.unbroadcast`
where the traced pass needed it, joined to the parent's cotangent as the traced pass joined it.
Loops (:mod:`tapem.replay.loops`) become Python ``for`` loops over their iterations; the forward
loop keeps each iteration's values in a list, which the reverse loop walks backwards.

Names: ``v<i>`` / ``g<i>`` are node ``i``'s value and cotangent; in a loop body ``x<k>`` /
``h<k>`` are node ``k`` of the iteration, ``q<k>`` node ``k`` of the previous one and ``p<k>``
the cotangent the body sends it; ``a<s>`` is argument slot ``s``; rules (``f``, ``r``) and
constants (``c``, ``C``) are bound by the enclosing function.

>>> names = Names({})
>>> names.literal((0.5, -0.0, None, "x")), names.literal(float("inf")), names.values
("(0.5, -0.0, None, 'x', )", 'k0', {'k0': inf})
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from tapem.handle import Handle
from tapem.ops.opdef import OpDef
from tapem.replay.loops import Loop, affine, subscripts
from tapem.replay.proxy import ArgArray
from tapem.replay.reverse import ADD, FIRST, Step, Vjp
from tapem.tape import Record

__all__ = ["Names", "Source", "Unreplayable", "handed"]


class Unreplayable(Exception):
    """The traced call returned something a replay could not hand out again as the eager call
    would (a mutable object that is not a node's value): that signature stays eager."""


class Names:
    """The objects generated code refers to, each bound once, under a short name."""

    def __init__(self, helpers: Mapping[str, Any]) -> None:
        self.values: dict[str, Any] = dict(helpers)
        self._ids: dict[int, str] = {}

    def bind(self, obj: Any, prefix: str) -> str:
        name = self._ids.get(id(obj))
        if name is None:
            name = self._ids[id(obj)] = f"{prefix}{len(self._ids)}"
            self.values[name] = obj
        return name

    def literal(self, value: Any) -> str:
        """Python source for a static parameter (numbers, strings, ``None``, tuples of them),
        or a bound name."""
        cls = value.__class__
        if (cls is float and math.isfinite(value)) or cls in (int, bool, str, type(None)):
            return repr(value)
        if cls is tuple:
            return "(" + "".join(self.literal(v) + ", " for v in value) + ")"
        if type(value) is ArgArray:  # a parameter made of an argument: its values are the key's
            value = value.computed()
        return self.bind(value, "k")


class Source:
    """The source of one plan, built from the traced tape and its reverse steps."""

    def __init__(
        self,
        nodes: Sequence[Record],
        rules: Sequence[OpDef],
        sources: Mapping[int, ArgArray],
        names: Names,
        scalars: set[int],
        *,
        debug: bool,
    ) -> None:
        self.nodes = nodes
        self.rules = rules
        self.sources = sources
        self.names = names
        self.debug = debug
        self.scalars = scalars  # argument slots that hold numpy scalars
        self.used: set[int] = set()  # nodes whose values code refers to by absolute name
        self.slots: set[int] = set()  # argument slots code reads
        self.carried: set[int] = set()  # slots of the previous iteration a loop body reads
        self.iterated: list[tuple[str, str]] = []  # leaves a loop's header iterates over
        self.sent: set[int] = set()  # ... and sends cotangents to

    # --- references ------------------------------------------------------------------------------

    def where(self, p: int, loop: Loop | None, base: int) -> tuple[str, int]:
        """``("x"|"q", k)`` for a node of the iteration at ``base`` or the one before, else
        ``("v", p)``."""
        if loop is not None and p >= base - loop.period:
            if p >= base:
                return "x", p - base
            self.carried.add(p - base + loop.period)
            return "q", p - base + loop.period
        self.used.add(p)
        return "v", p

    def val(self, p: int, loop: Loop | None, base: int) -> str:
        kind, n = self.where(p, loop, base)
        return f"{kind}{n}"

    def target(self, p: int, loop: Loop | None, base: int) -> str:
        kind, n = self.where(p, loop, base)
        if kind == "q":
            self.sent.add(n)
        return {"x": "h", "q": "p", "v": "g"}[kind] + str(n)

    # --- forward ---------------------------------------------------------------------------------

    def forward(self, i: int, loop: Loop | None = None, base: int = 0) -> list[str]:
        """The line(s) computing node ``i`` (in a loop body: of the iteration at ``base``)."""
        _, _, _, parents, index, args = self.nodes[i]
        name = f"x{i - base}" if loop is not None else f"v{i}"
        if index is not None:
            rule = self.names.bind(self.rules[index].forward, "f")
            operands = [self.val(p, loop, base) for p in parents]
            operands += [self.names.literal(a) for a in args]
            expr = f"{rule}({', '.join(operands)})"
        elif i in self.sources:
            source = self.sources[i]
            rows = self.rows_of(source, loop, i - base)
            if rows is not None:  # iterated by the loop's header: cheaper than indexing
                self.iterated.append((name, rows))
                return [f"if not isf({name}): raise Bad"] if self.debug else []
            expr = self.rebound(source, loop, i - base, for_leaf=True)
        elif loop is not None:
            values = [self.nodes[n][0] for n in range(i, loop.stop, loop.period)]
            expr = f"{self.names.bind(values, 'C')}[j]"
        else:
            expr = self.names.bind(self.nodes[i][0], "c")
        lines = [f"{name} = {expr}"]
        if self.debug:
            lines.append(f"if not isf({name}): raise Bad")
        return lines

    def rebound(self, proxy: ArgArray, loop: Loop | None, k: int, *, for_leaf: bool) -> str:
        """Where the array a leaf (or the result) held is in a call's arguments: ``a2[j + 1]``
        (``j`` counting the loop's iterations; ``A[...]`` for an argument slot that does)."""
        steps = iter(loop.steps.get(k, ()) if loop is not None else ())
        slot_step = next(steps, 0)
        if slot_step:
            expr = f"A[{affine(proxy.slot, slot_step)}]"
        else:
            self.slots.add(proxy.slot)
            expr = f"a{proxy.slot}"
        if proxy.slot in self.scalars:  # a numpy scalar: a leaf holds it as a 0-d array
            return f"asarray({expr})" if for_leaf else expr
        keys = proxy.keys
        if not for_leaf and proxy.kind is not np.ndarray:
            keys = (*keys[:-1], keys[-1][:-1])  # the element itself, as the program held it
        expr += subscripts(keys, steps)
        if for_leaf and not proxy.real.flags.c_contiguous:
            expr = f"lv({expr})"  # as Eager records it: a C-ordered copy unless immutable
        return expr

    def rows_of(self, proxy: ArgArray, loop: Loop | None, k: int) -> str | None:
        """``a2[2:1000]`` for a leaf rebound to row ``j + 2`` of argument 2 in iteration ``j``
        of a loop of 998 (whose rows the loop iterates), else ``None``."""
        if loop is None or proxy.slot in self.scalars or not proxy.real.flags.c_contiguous:
            return None
        step = loop.steps.get(k, ())
        if len(proxy.keys) != 1 or len(proxy.keys[0]) != 1 or len(step) != 2:
            return None
        (n,) = proxy.keys[0]
        slot_step, s = step
        if n.__class__ is not int or n < 0 or slot_step or s < 1 or proxy.kind is not np.ndarray:
            return None
        self.slots.add(proxy.slot)
        return f"a{proxy.slot}[{n}:{n + s * loop.repeats}{f':{s}' if s != 1 else ''}]"

    def forward_loop(self, n: int, loop: Loop) -> tuple[list[str], list[str]]:
        """The lines of forward loop number ``n``, and the names each of its stored tuples
        holds (the iteration's values, then the previous iteration's it reads)."""
        period = loop.period
        self.carried = set()
        self.iterated = []
        body = []
        for k in range(period):
            body += self.forward(loop.start + k, loop, loop.start)
        carried = sorted(self.carried)
        stored = [f"x{k}" for k in range(period)] + [f"q{k}" for k in carried]
        lines = [f"T{n} = []", f"push{n} = T{n}.append"]
        lines += [f"x{k} = {self.val(loop.start - period + k, None, 0)}" for k in carried]
        names = "".join(f", {name}" for name, _ in self.iterated)
        rows = "".join(f", {expr}" for _, expr in self.iterated)
        lines.append(f"for j{names} in zip(range({loop.repeats}){rows}):" if rows else
                     f"for j in range({loop.repeats}):")  # fmt: skip
        lines += [f"    q{k} = x{k}" for k in carried]
        lines += ["    " + line for line in body]
        lines.append(f"    push{n}(({', '.join(stored)},))")
        return lines, stored

    # --- reverse ---------------------------------------------------------------------------------

    def backward(self, step: Step, loop: Loop | None = None, base: int = 0) -> list[str]:
        """The lines of one node's contributions, in order."""
        i, edges = step
        g = f"h{i - base}" if loop is not None else f"g{i}"
        lines = []
        for n, (_, parent, vjp, unbroadcast, mode) in enumerate(edges):
            if vjp is None:
                ct = g
            elif vjp[2] is None:
                ct = self.vjp_call(vjp, g, i, loop, base)
            else:  # the input's part of one call that serves every input (``at_once``), made first
                if n == 0:
                    lines.append(f"e = {self.vjp_call(vjp, g, i, loop, base)}")
                ct = f"e[{vjp[2]}]"
            if unbroadcast:
                ct = f"ub({ct}, {self.val(parent, loop, base)})"
            if self.debug:
                lines += [f"t = {ct}", "if not isf(t): raise Bad"]
                ct = "t"
            to = self.target(parent, loop, base)
            if mode == FIRST:
                lines.append(f"{to} = {ct}")
            elif mode == ADD:
                lines.append(f"{to} = {to} + {ct}")
            else:
                lines.append(f"{to} += {ct}")
        return lines

    def vjp_call(self, vjp: Vjp, g: str, i: int, loop: Loop | None, base: int) -> str:
        """The call of a VJP rule of node ``i`` (whose cotangent is ``g``)."""
        rule, prefix, _ = vjp
        _, _, _, parents, _, args = self.nodes[i]
        operands = [str(k) for k in prefix] + [g, self.val(i, loop, base)]
        operands += [self.val(p, loop, base) for p in parents]
        operands += [self.names.literal(a) for a in args]
        return f"{self.names.bind(rule, 'r')}({', '.join(operands)})"

    def backward_loop(
        self, n: int, loop: Loop, steps: Mapping[int, Step], stored: Sequence[str]
    ) -> list[str]:
        """The reverse loop over iterations ``loop.back``, reading the values forward loop
        ``n`` stored. Each iteration starts from the cotangents the one after it sent
        (``p<k>``), and sends the one before it its own."""
        assert loop.back is not None
        lo, hi = loop.back
        base = loop.start + hi * loop.period
        self.sent = set()
        body: list[str] = []
        for k in range(loop.period - 1, -1, -1):
            if base + k in steps:
                body += self.backward(steps[base + k], loop, base)
        sent = sorted(self.sent)
        lines = [f"p{k} = g{base + k}" for k in sent]
        lines.append(f"for {', '.join(stored)}, in reversed(T{n}[{lo}:{hi + 1}]):")
        lines += [f"    h{k} = p{k}" for k in sent]
        lines += ["    " + line for line in body]
        below = loop.start + (lo - 1) * loop.period
        lines += [f"g{below + k} = p{k}" for k in sent]
        return lines

    # --- results ---------------------------------------------------------------------------------

    def held(self, value: Any, copy: Callable[[Any], bool]) -> str:
        """Source for a value the program returned (``value_of``'s result): node values
        handed out, containers rebuilt, argument arrays found again, plain constants."""
        cls = value.__class__
        if cls is Handle:
            self.used.add(value.id)
            return handed(f"v{value.id}", copy(value))
        if type(value) is ArgArray:
            return self.rebound(value, None, 0, for_leaf=False)
        if isinstance(value, (tuple, list)):  # rebuilt as plain ones, as value_of rebuilds them
            items = "".join(self.held(item, copy) + ", " for item in value)
            return f"({items})" if isinstance(value, tuple) else f"[{items}]"
        if isinstance(value, dict):
            pairs = (f"{self.names.literal(k)}: {self.held(v, copy)}" for k, v in value.items())
            return "{" + ", ".join(pairs) + "}"
        if cls in (int, float, bool, str, bytes, complex, type(None)) or isinstance(
            value, np.generic
        ):
            return self.names.bind(value, "c")
        raise Unreplayable(f"a {cls.__name__} among the results")


def handed(name: str, copy: bool) -> str:
    """Source that hands out the array ``name`` as eager would: read-only, and copied first if
    it may share memory with an argument (``copy``)."""
    return f"{'cp' if copy else 'ro'}({name})"
