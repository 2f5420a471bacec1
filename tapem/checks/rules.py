"""Numerical checks of op rules against finite differences (float64).

The VJP check compares two numbers that must agree for any linear map ``J`` (the op's
Jacobian at ``xs``): ``<u, J v>``, from central differences of the forward along ``v``, and
``<J^T u, v>``, from the VJP rules, for random ``u`` and ``v``. It works for any shapes and
needs no Jacobian matrix. The JVP check compares the JVP rules' ``J v`` with the same finite
difference. Both are used by the generated per-op tests and by :func:`tapem.check_grads` to
find the op whose rule is wrong.

>>> import numpy as np
>>> from tapem import ops
>>> x = np.array([0.3, -1.2])
>>> check_vjp(ops.sin, (x,), ()).ok and check_jvp(ops.sin, (x,), ()).ok
True
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from tapem.backward import unbroadcast
from tapem.ops.opdef import OpDef

__all__ = [
    "RuleCheck",
    "check_jvp",
    "check_shape",
    "check_vjp",
    "differentiable_inputs",
    "numerical_jvp",
]

Arrays = Sequence[np.ndarray[Any, Any]]


@dataclass(frozen=True)
class RuleCheck:
    """The outcome of one rule check: the two numbers compared and whether they agree."""

    op: str
    kind: str
    expected: float
    actual: float
    ok: bool
    detail: str = ""

    def __str__(self) -> str:
        verdict = "ok" if self.ok else "MISMATCH"
        if self.kind == "shape":
            return f"{self.op} shape: {verdict}: {self.detail}"
        extra = f" ({self.detail})" if self.detail else ""
        return (
            f"{self.op} {self.kind}: {verdict}: finite differences give {self.expected:.10g}, "
            f"the rule gives {self.actual:.10g}{extra}"
        )


def as_float64(xs: Arrays) -> list[Any]:
    """The floating inputs in float64 (finite differences need it); others unchanged."""
    return [np.asarray(x, dtype=np.float64) if np.asarray(x).dtype.kind == "f" else x for x in xs]


def checked_inputs(rule: OpDef, xs: Arrays, inputs: Sequence[int] | None) -> list[int]:
    """The differentiable inputs to check: all of them, or those listed in ``inputs``."""
    idx = differentiable_inputs(rule, xs)
    return idx if inputs is None else [i for i in idx if i in inputs]


def differentiable_inputs(rule: OpDef, xs: Arrays) -> list[int]:
    """Indices of the inputs that have a VJP rule and a floating dtype."""
    indices = []
    for i, x in enumerate(xs):
        vjp_i = rule.vjp[i]
        if vjp_i is not None and np.asarray(x).dtype.kind == "f":
            indices.append(i)
    return indices


def moved(xs: Arrays, vs: Mapping[int, Any], step: float) -> list[Any]:
    """The inputs ``xs`` moved by ``step`` along ``vs`` (input index -> direction)."""
    return [np.asarray(x) + step * vs[i] if i in vs else x for i, x in enumerate(xs)]


def numerical_jvp(
    rule: OpDef, xs: Arrays, args: Sequence[Any], vs: dict[int, np.ndarray[Any, Any]], eps: float
) -> np.ndarray[Any, Any]:
    """``J v`` by central differences of ``rule.forward`` along ``vs`` (input index -> tangent)."""

    def at(step: float) -> np.ndarray[Any, Any]:
        return np.asarray(rule.forward(*moved(xs, vs, step), *args), dtype=np.float64)

    difference: np.ndarray[Any, Any] = (at(eps) - at(-eps)) / (2 * eps)
    return difference


def rule_tangent(
    rule: OpDef, xs: Arrays, args: Sequence[Any], out: Any, vs: Mapping[int, Any]
) -> np.ndarray[Any, Any]:
    """``J v`` from the JVP rules: each input's contribution along ``vs`` (input index ->
    tangent; an input without a JVP rule contributes nothing), summed in the output's shape."""
    tangent: np.ndarray[Any, Any] = np.zeros(np.shape(out))
    for i, v in vs.items():
        jvp_i = rule.jvp[i]
        if jvp_i is not None:
            tangent = tangent + np.broadcast_to(jvp_i(v, out, *xs, *args), np.shape(out))
    return tangent


def vjp_of(rule: OpDef, i: int, g: Any, out: Any, xs: Sequence[Any], args: Sequence[Any]) -> Any:
    """Input ``i``'s cotangent from its VJP rule, summed to the input's shape and dtype."""
    vjp_i = rule.vjp[i]
    assert vjp_i is not None
    return unbroadcast(vjp_i(g, out, *xs, *args), xs[i])


def _close(a: float, b: float, rtol: float, atol: float) -> bool:
    return bool(
        np.isfinite(a) and np.isfinite(b) and abs(a - b) <= atol + rtol * max(abs(a), abs(b))
    )


def elementwise(
    expected: Sequence[Any], actual: Sequence[Any], rtol: float, atol: float
) -> tuple[float, bool]:
    """The largest elementwise difference between the pairs of arrays, and whether it is within
    ``atol + rtol`` times the largest magnitude in ``expected`` (at least 1)."""
    pairs = zip(expected, actual, strict=True)
    worst = max((float(np.max(np.abs(e - a), initial=0.0)) for e, a in pairs), default=0.0)
    scale = max((float(np.max(np.abs(e), initial=1.0)) for e in expected), default=1.0)
    return worst, worst <= atol + rtol * scale


def random_like(rng: np.random.Generator, x: Any) -> np.ndarray[Any, Any]:
    """Standard normal samples of ``x``'s shape."""
    sample: np.ndarray[Any, Any] = np.asarray(rng.standard_normal(np.shape(x)))
    return sample


def random_directions(
    rng: np.random.Generator, xs: Arrays, idx: Sequence[int]
) -> dict[int, np.ndarray[Any, Any]]:
    """A random direction for each input listed in ``idx`` (input index -> direction)."""
    return {i: random_like(rng, xs[i]) for i in idx}


def check_vjp(
    rule: OpDef,
    xs: Arrays,
    args: Sequence[Any],
    *,
    seed: int = 0,
    eps: float = 1e-6,
    rtol: float = 1e-5,
    atol: float = 1e-7,
    inputs: Sequence[int] | None = None,
) -> RuleCheck:
    """Compare ``<u, J v>`` (finite differences) with ``<J^T u, v>`` (the VJP rules).

    ``inputs`` restricts the check to those input indices (default: every differentiable one).
    """
    rng = np.random.default_rng(seed)
    xs = as_float64(xs)
    out = rule.forward(*xs, *args)
    vs = random_directions(rng, xs, checked_inputs(rule, xs, inputs))
    u = random_like(rng, out)
    expected = float(np.sum(u * numerical_jvp(rule, xs, args, vs, eps)))
    actual = 0.0
    for i, v in vs.items():
        actual += float(np.sum(vjp_of(rule, i, u, out, xs, args) * v))
    return RuleCheck(rule.name, "vjp", expected, actual, _close(expected, actual, rtol, atol))


def check_jvp(
    rule: OpDef,
    xs: Arrays,
    args: Sequence[Any],
    *,
    seed: int = 0,
    eps: float = 1e-6,
    rtol: float = 1e-5,
    atol: float = 1e-7,
) -> RuleCheck:
    """Compare ``J v`` from the JVP rules with central differences (reduced by a random ``u``)."""
    rng = np.random.default_rng(seed)
    xs = as_float64(xs)
    out = rule.forward(*xs, *args)
    idx = [i for i in differentiable_inputs(rule, xs) if rule.jvp[i] is not None]
    vs = random_directions(rng, xs, idx)
    numeric = numerical_jvp(rule, xs, args, vs, eps)
    tangent = rule_tangent(rule, xs, args, out, vs)
    u = random_like(rng, out)
    expected, actual = float(np.sum(u * numeric)), float(np.sum(u * tangent))
    worst, close = elementwise([numeric], [tangent], rtol, atol)
    return RuleCheck(
        rule.name,
        "jvp",
        expected,
        actual,
        _close(expected, actual, rtol, atol) and close,
        f"largest elementwise difference {worst:.3g}",
    )


def check_shape(rule: OpDef, xs: Arrays, args: Sequence[Any]) -> RuleCheck:
    """Compare the shape rule's shape and dtype with the forward's actual output."""
    predicted = rule.shape(*xs, *args)
    out = rule.forward(*xs, *args)
    ok = predicted.shape == np.shape(out) and predicted.dtype == np.asarray(out).dtype
    actual = np.asarray(out)
    detail = f"rule: {predicted.shape} {predicted.dtype}; forward: {actual.shape} {actual.dtype}"
    return RuleCheck(rule.name, "shape", 0.0, 0.0, ok, detail)
