"""Second-order checks of one op's rules, and finding the op whose rule is wrong on a tape.

:func:`check_hvp` checks that an op's VJP rules, run on dual numbers, differentiate correctly:
for ``F(xs) = <u, op(xs)>`` with a random ``u``, the gradient is the VJP of ``u``, and its
derivative along random tangents ``v`` (forward-over-reverse: the VJP rules on duals, with the
output's tangent from the JVP rules) must match central differences of that gradient.

:func:`find_wrong_rule` walks a tape in evaluation order and checks each op's rules at the
node's recorded inputs (``check_vjp`` for gradients, :func:`check_hvp` for Hessian-vector
products), returning the first op that disagrees. An op whose check fails because it is not
differentiable at its recorded inputs (``relu`` at 0, a ``max`` tie) is skipped, not blamed:
its one-sided differences disagree however small the step.

>>> import numpy as np
>>> from tapem import ops
>>> x = np.array([0.3, -1.2])
>>> assert check_hvp(ops.tanh, (x,), ()).ok
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from tapem.checks.rules import (
    RuleCheck,
    as_float64,
    check_vjp,
    checked_inputs,
    elementwise,
    moved,
    random_directions,
    random_like,
    rule_tangent,
    vjp_of,
)
from tapem.dual.core import Dual, tangent_of
from tapem.errors import SourceLocation
from tapem.ops.opdef import OpDef
from tapem.tape import Tape
from tapem.transforms.products import per_input

__all__ = ["Culprit", "check_hvp", "find_wrong_rule", "is_smooth"]

Arrays = Sequence[Any]


def check_hvp(
    rule: OpDef,
    xs: Arrays,
    args: Sequence[Any],
    *,
    seed: int = 0,
    eps: float = 1e-6,
    rtol: float = 1e-5,
    atol: float = 1e-6,
    inputs: Sequence[int] | None = None,
) -> RuleCheck:
    """Compare the VJP rules on dual numbers with central differences of the VJP rules.

    Checks the inputs in ``inputs`` (default: every differentiable one). ``expected`` and
    ``actual`` are ``<w, H v>`` for a random ``w``; ``ok`` requires elementwise agreement.
    """
    rng = np.random.default_rng(seed)
    xs = as_float64(xs)
    idx = checked_inputs(rule, xs, inputs)
    out = rule.forward(*xs, *args)
    u = random_like(rng, out)
    vs = random_directions(rng, xs, idx)

    def gradient(step: float) -> list[Any]:
        at = moved(xs, vs, step)
        y = rule.forward(*at, *args)
        return [vjp_of(rule, i, u, y, at, args) for i in idx]

    plus, minus = gradient(eps), gradient(-eps)
    numeric = [(p - m) / (2 * eps) for p, m in zip(plus, minus, strict=True)]
    duals = [Dual(x, vs[i]) if i in vs else x for i, x in enumerate(xs)]
    dual_out = Dual(np.asarray(out, dtype=np.float64), rule_tangent(rule, xs, args, out, vs))
    g = Dual(u, np.zeros_like(u))
    cts = [vjp_of(rule, i, g, dual_out, duals, args) if i in vs else None for i in range(len(xs))]
    exact = list(per_input(cts, {i: xs[i] for i in idx}, tangent_of).values())
    w = [rng.standard_normal(np.shape(n)) for n in numeric]
    expected = float(sum(np.sum(a * b) for a, b in zip(w, numeric, strict=True)))
    actual = float(sum(np.sum(a * b) for a, b in zip(w, exact, strict=True)))
    worst, close = elementwise(numeric, exact, rtol, atol)
    ok = bool(np.isfinite(actual)) and close
    return RuleCheck(
        rule.name, "hvp", expected, actual, ok, f"largest elementwise difference {worst:.3g}"
    )


def is_smooth(
    rule: OpDef,
    xs: Arrays,
    args: Sequence[Any],
    *,
    inputs: Sequence[int] | None = None,
    seed: int = 0,
) -> bool:
    """Whether the op looks differentiable at ``xs`` along a random direction.

    For a smooth function the gap between the forward and the backward difference shrinks in
    proportion to the step; at a kink it does not. This compares the gap at two steps.
    """
    rng = np.random.default_rng(seed + 1)
    xs = as_float64(xs)
    vs = random_directions(rng, xs, checked_inputs(rule, xs, inputs))
    u = random_like(rng, rule.forward(*xs, *args))

    def f(step: float) -> float:
        return float(np.sum(u * rule.forward(*moved(xs, vs, step), *args)))

    f0 = f(0.0)
    wide_plus, wide_minus = f(1e-4), f(-1e-4)
    wide = abs(wide_plus - 2 * f0 + wide_minus) / 1e-4
    narrow = abs(f(1e-6) - 2 * f0 + f(-1e-6)) / 1e-6
    slope = abs(wide_plus - wide_minus) / 2e-4
    return not (narrow > 1e-3 * (1 + slope) and narrow > 0.1 * wide)


@dataclass(frozen=True)
class Culprit:
    """The first op on a tape whose rule disagrees with finite differences."""

    node: int
    op: str
    site: SourceLocation | None
    check: str

    def __str__(self) -> str:
        where = f" at {self.site}" if self.site is not None else ""
        return f"op {self.op!r} (node {self.node}){where}: {self.check}"


def find_wrong_rule(
    tape: Tape,
    sites: Mapping[int, SourceLocation | None],
    order: int,
    *,
    eps: float = 1e-6,
    rtol: float = 1e-5,
    atol: float = 1e-6,
) -> tuple[Culprit | None, list[str]]:
    """The first op (by node id) whose VJP (``order=1``) or VJP-on-duals (``order=2``) rule
    disagrees with finite differences at its recorded inputs, and the ops skipped because they
    are not differentiable there."""
    check_rule, kind = (check_vjp, "vjp") if order == 1 else (check_hvp, "hvp")
    skipped: list[str] = []
    for node_id, node in enumerate(tape):
        rule = node.rule
        if rule is None or not node.requires_grad:
            continue
        parents = [tape.node(p) for p in node.parents]
        inputs = [k for k, parent in enumerate(parents) if parent.requires_grad]
        xs, args = [parent.value for parent in parents], node.args
        if not checked_inputs(rule, xs, inputs):
            continue
        try:
            check = check_rule(
                rule, xs, args, seed=node_id, eps=eps, rtol=rtol, atol=atol, inputs=inputs
            )
        except Exception as error:  # a rule that cannot run (e.g. on dual numbers) is wrong too
            detail = f"{rule.name} {kind}: {type(error).__name__}: {error}"
            return Culprit(node_id, rule.name, sites.get(node_id), detail), skipped
        if check.ok:
            continue
        try:
            smooth = is_smooth(rule, xs, args, inputs=inputs, seed=node_id)
        except Exception:
            smooth = False
        if not smooth:
            skipped.append(f"{rule.name} (node {node_id})")
            continue
        return Culprit(node_id, rule.name, sites.get(node_id), str(check)), skipped
    return None, skipped
