"""Elementwise ops: one row per op, its forward and its derivative side by side.

An elementwise op's Jacobian is diagonal, so each row gives its derivative once, as the map
``d(v, out, *inputs, *params)`` that serves both the VJP (``v`` the cotangent) and the JVP
(``v`` the tangent). Binary ops broadcast like numpy; the reverse pass sums each cotangent back
to its input's shape, so the rules below are written for the broadcast shape.
"""

from __future__ import annotations

import operator
from typing import Any

import numpy as np

from tapem.errors import DomainError
from tapem.ops.opdef import binary, pass_through, unary
from tapem.ops.params import REAL

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
            "for a log guarded against small values use ops.log(ops.clamp(x, eps, inf)); "
            "ops.safe_log(x) computes ln(softplus(x) + eps), a smooth stand-in that differs "
            "from ln x",
        )
    return np.log(x)


def _sqrt_deriv(v: Any, out: Any, x: Any) -> Any:
    positive = x > 0
    return np.where(positive, v / (2 * np.where(positive, out, 1)), 0)


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

add = binary("add", operator.add, (pass_through, pass_through),
             doc="a + b, elementwise (numpy broadcasting).")
sub = binary("sub", operator.sub, (pass_through, lambda v, out, a, b: -v),
             doc="a - b, elementwise (numpy broadcasting).")
mul = binary("mul", operator.mul, (lambda v, out, a, b: v * b, lambda v, out, a, b: v * a),
             doc="a * b, elementwise (numpy broadcasting).")
div = binary("div", operator.truediv,
             (lambda v, out, a, b: v / b, lambda v, out, a, b: -v * (a / b) / b),
             doc="a / b, elementwise (numpy broadcasting); inf and nan at b = 0 as IEEE gives.")
neg = unary("neg", operator.neg, lambda v, out, x: -v, doc="-x.")
scale = unary("scale", lambda x, c: x * c, lambda v, out, x, c: v * c, params={"c": REAL},
              doc="x * c, for a number c (what ``h * c`` and ``h / c`` build).")
shift = unary("shift", lambda x, c: x + c, pass_through, params={"c": REAL},
              doc="x + c, for a number c (what ``h + c`` and ``h - c`` build).")
rsub = unary("rsub", lambda x, c: c - x, lambda v, out, x, c: -v, params={"c": REAL},
             doc="c - x, for a number c (what ``c - h`` builds).")
rdiv = unary("rdiv", lambda x, c: c / x, lambda v, out, x, c: -v * c / (x * x),
             params={"c": REAL}, doc="c / x, for a number c (what ``c / h`` builds).")
inv = unary("inv", lambda x: 1 / x, lambda v, out, x: -v / (x * x), doc="1 / x.")
pow = unary("pow", lambda x, p: x**p, lambda v, out, x, p: v * _pow_deriv(x, p),
            params={"p": REAL}, doc="x ** p, for a number p (what ``h ** p`` builds).")

# --- piecewise -----------------------------------------------------------------------------------

abs = unary("abs", np.abs, lambda v, out, x: np.sign(x) * v,
            doc="|x|; its derivative is sign(x), 0 at x = 0.")
sqrt = unary("sqrt", lambda x: np.sqrt(np.maximum(x, 0)), _sqrt_deriv,
             doc="sqrt(max(x, 0)); its derivative is 1 / (2 sqrt x) where x > 0, else 0.")
clamp = unary("clamp", lambda x, lo, hi: np.minimum(hi, np.maximum(lo, x)),
              lambda v, out, x, lo, hi: np.where((x > lo) & (x < hi), v, 0),
              params={"lo": REAL, "hi": REAL},
              doc="min(hi, max(lo, x)); the gradient passes only where lo < x < hi strictly.")
max = binary("max", np.maximum,
             (lambda v, out, a, b: _winner(v, a, b), lambda v, out, a, b: _winner(v, b, a)),
             doc="The elementwise maximum; on a tie each input gets half the gradient.")
min = binary("min", np.minimum,
             (lambda v, out, a, b: _winner(v, b, a), lambda v, out, a, b: _winner(v, a, b)),
             doc="The elementwise minimum; on a tie each input gets half the gradient.")
relu = unary("relu", lambda x: np.maximum(x, 0), lambda v, out, x: np.where(x > 0, v, 0),
             doc="max(x, 0); the gradient passes where x > 0 (not at 0).")

# --- transcendental ------------------------------------------------------------------------------

exp = unary("exp", np.exp, lambda v, out, x: v * out, doc="e ** x.")
log = unary("log", _log, lambda v, out, x: v / x,
            doc="ln x; an element <= 0 or NaN is a DomainError and nothing is recorded.")
safe_log = unary("safe_log", lambda x, eps: np.log(_softplus(x) + eps),
                 lambda v, out, x, eps: v * _safe_log_deriv(x, eps),
                 params={"eps": REAL}, defaults={"eps": 1e-6},
                 doc="ln(softplus(x) + eps): a smooth stand-in for log, defined everywhere (not "
                     "ln(x + eps); for a guarded log, use log of clamp).")
sin = unary("sin", np.sin, lambda v, out, x: v * np.cos(x), doc="sin x.")
cos = unary("cos", np.cos, lambda v, out, x: -v * np.sin(x), doc="cos x.")
tanh = unary("tanh", np.tanh, lambda v, out, x: v * (1 - out * out), doc="tanh x.")
sigmoid = unary("sigmoid", _sigmoid, lambda v, out, x: v * out * (1 - out),
                doc="1 / (1 + e ** -x), computed without overflow.")
softplus = unary("softplus", _softplus, lambda v, out, x: v * _sigmoid(x),
                 doc="ln(1 + e ** x), computed stably: x + log1p(exp(-x)) for x > 0.")
# fmt: on
