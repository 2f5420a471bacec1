"""Elementwise ops: one row per op, forward / VJP / JVP / shape side by side.

Binary ops broadcast like numpy; the reverse pass sums each cotangent back to its input's
shape, so the rules below are written for the broadcast shape.
"""

from __future__ import annotations

import operator
from typing import Any

import numpy as np

from tapem.errors import DomainError
from tapem.ops.opdef import OpDef, binary_shape, pass_through, same_shape

__all__ = [
    "abs",
    "add",
    "clamp",
    "cos",
    "div",
    "exp",
    "inv",
    "log",
    "max",
    "min",
    "mul",
    "neg",
    "pow",
    "rdiv",
    "relu",
    "rsub",
    "safe_log",
    "scale",
    "shift",
    "sigmoid",
    "sin",
    "softplus",
    "sqrt",
    "sub",
    "tanh",
]


def _minus_abs(x: Any) -> Any:
    # -|x| written by branches: on dual numbers (Hessians) d/dx is -1 at x = 0, the same side
    # as the x >= 0 branches below, where -np.abs would give sign(0) = 0 and a wrong derivative.
    return np.where(x >= 0, -x, x)


def _sigmoid(x: Any) -> Any:
    e = np.exp(_minus_abs(x))  # never overflows
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))


def _softplus(x: Any) -> Any:
    # x + log1p(exp(-x)) for x >= 0, log1p(exp(x)) otherwise, as one expression
    return np.where(x >= 0, x, 0) + np.log1p(np.exp(_minus_abs(x)))


def _log(x: Any) -> Any:
    if not np.all(x > 0):  # also catches NaN
        bad = x[~(x > 0)] if np.ndim(x) else x
        raise DomainError(
            "log",
            f"input has {np.size(bad)} element(s) <= 0 or NaN (first: {np.ravel(bad)[0]!r})",
            "use ops.safe_log for a log that is defined everywhere",
        )
    return np.log(x)


def _sqrt_vjp(g: Any, out: Any, x: Any) -> Any:
    positive = x > 0
    return np.where(positive, g / (2 * np.where(positive, out, 1)), 0)


def _sqrt_jvp(t: Any, out: Any, x: Any) -> Any:
    return _sqrt_vjp(t, out, x)


def _winner(g: Any, a: Any, b: Any) -> Any:
    """g where a wins, g/2 on a tie, 0 where b wins (for max; swap the arguments for min)."""
    return np.where(a > b, g, np.where(a == b, g * 0.5, 0))


def _pow_deriv(x: Any, p: float) -> Any:
    if p == 0:
        return np.zeros_like(x)
    return p * x ** (p - 1)


def _safe_log_deriv(x: Any, eps: float) -> Any:
    return _sigmoid(x) / (_softplus(x) + eps)


# fmt: off
# --- arithmetic ----------------------------------------------------------------------------------

add = OpDef("add", inputs=("a", "b"), forward=operator.add, shape=binary_shape("add"),
            vjp=(pass_through, pass_through),
            jvp=(lambda t, out, a, b: t, lambda t, out, a, b: t))
sub = OpDef("sub", inputs=("a", "b"), forward=operator.sub, shape=binary_shape("sub"),
            vjp=(pass_through, lambda g, out, a, b: -g),
            jvp=(lambda t, out, a, b: t, lambda t, out, a, b: -t))
mul = OpDef("mul", inputs=("a", "b"), forward=operator.mul, shape=binary_shape("mul"),
            vjp=(lambda g, out, a, b: g * b, lambda g, out, a, b: g * a),
            jvp=(lambda t, out, a, b: t * b, lambda t, out, a, b: a * t))
div = OpDef("div", inputs=("a", "b"), forward=operator.truediv, shape=binary_shape("div"),
            vjp=(lambda g, out, a, b: g / b, lambda g, out, a, b: -g * (a / b) / b),
            jvp=(lambda t, out, a, b: t / b, lambda t, out, a, b: -t * (a / b) / b))
neg = OpDef("neg", forward=operator.neg, shape=same_shape,
            vjp=(lambda g, out, x: -g,),
            jvp=(lambda t, out, x: -t,))
scale = OpDef("scale", params=("c",), forward=lambda x, c: x * c, shape=same_shape,
              vjp=(lambda g, out, x, c: g * c,),
              jvp=(lambda t, out, x, c: t * c,))
shift = OpDef("shift", params=("c",), forward=lambda x, c: x + c, shape=same_shape,
              vjp=(pass_through,),
              jvp=(lambda t, out, x, c: t,))
rsub = OpDef("rsub", params=("c",), forward=lambda x, c: c - x, shape=same_shape,
             vjp=(lambda g, out, x, c: -g,),
             jvp=(lambda t, out, x, c: -t,))
rdiv = OpDef("rdiv", params=("c",), forward=lambda x, c: c / x, shape=same_shape,
             vjp=(lambda g, out, x, c: -g * c / (x * x),),
             jvp=(lambda t, out, x, c: -t * c / (x * x),))
inv = OpDef("inv", forward=lambda x: 1 / x, shape=same_shape,
            vjp=(lambda g, out, x: -g / (x * x),),
            jvp=(lambda t, out, x: -t / (x * x),))
pow = OpDef("pow", params=("p",), forward=lambda x, p: x**p, shape=same_shape,
            vjp=(lambda g, out, x, p: g * _pow_deriv(x, p),),
            jvp=(lambda t, out, x, p: t * _pow_deriv(x, p),))

# --- piecewise -----------------------------------------------------------------------------------

abs = OpDef("abs", forward=np.abs, shape=same_shape,
            vjp=(lambda g, out, x: np.sign(x) * g,),
            jvp=(lambda t, out, x: np.sign(x) * t,))
sqrt = OpDef("sqrt", forward=lambda x: np.sqrt(np.maximum(x, 0)), shape=same_shape,
             vjp=(_sqrt_vjp,),
             jvp=(_sqrt_jvp,))
clamp = OpDef("clamp", params=("lo", "hi"), shape=same_shape,
              forward=lambda x, lo, hi: np.minimum(hi, np.maximum(lo, x)),
              vjp=(lambda g, out, x, lo, hi: np.where((x > lo) & (x < hi), g, 0),),
              jvp=(lambda t, out, x, lo, hi: np.where((x > lo) & (x < hi), t, 0),))
max = OpDef("max", inputs=("a", "b"), forward=np.maximum, shape=binary_shape("max"),
            vjp=(lambda g, out, a, b: _winner(g, a, b), lambda g, out, a, b: _winner(g, b, a)),
            jvp=(lambda t, out, a, b: _winner(t, a, b), lambda t, out, a, b: _winner(t, b, a)))
min = OpDef("min", inputs=("a", "b"), forward=np.minimum, shape=binary_shape("min"),
            vjp=(lambda g, out, a, b: _winner(g, b, a), lambda g, out, a, b: _winner(g, a, b)),
            jvp=(lambda t, out, a, b: _winner(t, b, a), lambda t, out, a, b: _winner(t, a, b)))
relu = OpDef("relu", forward=lambda x: np.maximum(x, 0), shape=same_shape,
             vjp=(lambda g, out, x: np.where(x > 0, g, 0),),
             jvp=(lambda t, out, x: np.where(x > 0, t, 0),))

# --- transcendental ------------------------------------------------------------------------------

exp = OpDef("exp", forward=np.exp, shape=same_shape,
            vjp=(lambda g, out, x: g * out,),
            jvp=(lambda t, out, x: t * out,))
log = OpDef("log", forward=_log, shape=same_shape,
            vjp=(lambda g, out, x: g / x,),
            jvp=(lambda t, out, x: t / x,))
safe_log = OpDef("safe_log", params=("eps",), defaults={"eps": 1e-6},
                 forward=lambda x, eps: np.log(_softplus(x) + eps), shape=same_shape,
                 vjp=(lambda g, out, x, eps: g * _safe_log_deriv(x, eps),),
                 jvp=(lambda t, out, x, eps: t * _safe_log_deriv(x, eps),))
sin = OpDef("sin", forward=np.sin, shape=same_shape,
            vjp=(lambda g, out, x: g * np.cos(x),),
            jvp=(lambda t, out, x: t * np.cos(x),))
cos = OpDef("cos", forward=np.cos, shape=same_shape,
            vjp=(lambda g, out, x: -g * np.sin(x),),
            jvp=(lambda t, out, x: -t * np.sin(x),))
tanh = OpDef("tanh", forward=np.tanh, shape=same_shape,
             vjp=(lambda g, out, x: g * (1 - out * out),),
             jvp=(lambda t, out, x: t * (1 - out * out),))
sigmoid = OpDef("sigmoid", forward=_sigmoid, shape=same_shape,
                vjp=(lambda g, out, x: g * out * (1 - out),),
                jvp=(lambda t, out, x: t * out * (1 - out),))
softplus = OpDef("softplus", forward=_softplus, shape=same_shape,
                 vjp=(lambda g, out, x: g * _sigmoid(x),),
                 jvp=(lambda t, out, x: t * _sigmoid(x),))
# fmt: on
