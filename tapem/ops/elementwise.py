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

from tapem.errors import DomainError, InvalidArgument
from tapem.ops.dtypes import as_float, float_dtype, on_floats, refusal, with_scalars
from tapem.ops.opdef import binary, float_shape, pass_through, unary, unary_shape
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

_NUMPY_ERRORS = (TypeError, ValueError, OverflowError)


# --- dtypes: numpy's promotion; ops that compute in floating point give float64 for ints -------


def _not_bool(op: str, hint: str) -> Any:
    def rule(dtype: Any) -> Any:
        if dtype.kind == "b":
            raise InvalidArgument(f"{op}: bool inputs are not supported (as in numpy and "
                                  f"PyTorch); {hint}", op=op)  # fmt: skip
        return dtype

    return rule


def _sub_dtype(da: Any, db: Any) -> Any:
    if da.kind == "b" and db.kind == "b":
        raise InvalidArgument(
            "sub: a - b of two bool arrays is not supported (as in numpy and PyTorch); use "
            "ops.where, or give one operand a numeric dtype",
            op="sub",
        )
    return da if da == db else np.result_type(da, db)


def _pow_dtype(dtype: Any, p: Any) -> Any:
    if dtype.kind in "biu" and isinstance(p, int):
        if p < 0:
            raise InvalidArgument(
                f"pow: an integer input to a negative integer power ({p}) is not supported (as "
                f"in numpy and PyTorch); write the power as a float ({float(p)}) for a float "
                "result",
                op="pow",
            )
        if dtype.kind == "b":
            dtype = np.dtype(np.int64)  # as PyTorch: True ** 2 is 1 (numpy would give int8)
    return with_scalars("pow", dtype, p)


def _scalar_shape(op: str) -> unary_shape:
    """The shape rule of ``x <op> c`` for numbers ``c``: numpy's promotion (see
    :func:`~tapem.ops.dtypes.with_scalars`)."""
    return unary_shape(lambda dtype, *scalars: with_scalars(op, dtype, *scalars))


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
    x = as_float(x)
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


# Forwards that numpy may refuse (a bool or integer dtype, an int parameter that does not fit
# it) raise the shape rule's typed error: the recording path skips an elementwise op's rule on
# equal shapes.


def _neg(x: Any) -> Any:
    try:
        return -x
    except _NUMPY_ERRORS as error:
        raise refusal(error, neg.shape, x) from None


def _sub(a: Any, b: Any) -> Any:
    try:
        return a - b
    except _NUMPY_ERRORS as error:
        raise refusal(error, sub.shape, a, b) from None


def _scale(x: Any, c: Any) -> Any:
    try:
        return x * c
    except _NUMPY_ERRORS as error:
        raise refusal(error, scale.shape, x, c) from None


def _shift(x: Any, c: Any) -> Any:
    try:
        return x + c
    except _NUMPY_ERRORS as error:
        raise refusal(error, shift.shape, x, c) from None


def _rsub(x: Any, c: Any) -> Any:
    try:
        return c - x
    except _NUMPY_ERRORS as error:
        raise refusal(error, rsub.shape, x, c) from None


def _pow(x: Any, p: Any) -> Any:
    try:
        if x.dtype.kind == "b" and isinstance(p, int):
            x = x.astype(np.int64)
        return x**p
    except _NUMPY_ERRORS as error:
        raise refusal(error, pow.shape, x, p) from None


def _clamp(x: Any, lo: Any, hi: Any) -> Any:
    try:
        return np.minimum(hi, np.maximum(lo, x))
    except _NUMPY_ERRORS as error:
        raise refusal(error, clamp.shape, x, lo, hi) from None


# fmt: off
# --- arithmetic ----------------------------------------------------------------------------------

add = binary("add", operator.add, (pass_through, pass_through),
             doc="a + b, elementwise, with numpy's broadcasting and dtype promotion (two bool "
                 "arrays give their logical or).")
sub = binary("sub", _sub, (pass_through, lambda v, out, a, b: -v), dtype=_sub_dtype,
             doc="a - b, elementwise, with numpy's broadcasting and dtype promotion; two bool "
                 "arrays are refused (InvalidArgument).")
mul = binary("mul", operator.mul, (lambda v, out, a, b: v * b, lambda v, out, a, b: v * a),
             doc="a * b, elementwise, with numpy's broadcasting and dtype promotion.")
div = binary("div", operator.truediv,
             (lambda v, out, a, b: v / b, lambda v, out, a, b: -v * (a / b) / b),
             dtype=lambda da, db: float_dtype(np.result_type(da, db)),
             doc="a / b, elementwise (numpy broadcasting): inf and nan at b = 0 as IEEE gives; "
                 "ints and bools divide to float64.")
neg = unary("neg", _neg, lambda v, out, x: -v,
            shape=unary_shape(_not_bool("neg", "to flip a mask, build it flipped "
                                               "(tm.const(~mask))")),
            doc="-x; a bool x is refused (InvalidArgument).")
scale = unary("scale", _scale, lambda v, out, x, c: v * c, params={"c": REAL},
              shape=_scalar_shape("scale"),
              doc="x * c, for a number c (what ``h * c`` and ``h / c`` build). The dtype is "
                  "numpy's: an int x stays int for an int c (which must fit x's dtype) and "
                  "becomes float64 for a float c.")
shift = unary("shift", _shift, pass_through, params={"c": REAL}, shape=_scalar_shape("shift"),
              doc="x + c, for a number c (what ``h + c`` and ``h - c`` build); dtypes as in "
                  "scale.")
rsub = unary("rsub", _rsub, lambda v, out, x, c: -v, params={"c": REAL},
             shape=_scalar_shape("rsub"),
             doc="c - x, for a number c (what ``c - h`` builds); dtypes as in scale.")
rdiv = unary("rdiv", lambda x, c: c / as_float(x), lambda v, out, x, c: -v * c / (x * x),
             params={"c": REAL}, shape=float_shape,
             doc="c / x, for a number c (what ``c / h`` builds); ints and bools give float64.")
inv = unary("inv", on_floats(lambda x: 1 / x), lambda v, out, x: -v / (x * x),
            shape=float_shape, doc="1 / x; ints and bools give float64.")
pow = unary("pow", _pow, lambda v, out, x, p: v * _pow_deriv(x, p), params={"p": REAL},
            shape=unary_shape(_pow_dtype),
            doc="x ** p, for a number p (what ``h ** p`` builds). An int or bool x to an int "
                "p >= 0 stays an int (bools become int64); to a float p it becomes float64; a "
                "negative int p is refused for them.")

# --- piecewise -----------------------------------------------------------------------------------

abs = unary("abs", np.abs, lambda v, out, x: np.sign(x) * v,
            doc="|x|; its derivative is sign(x), 0 at x = 0.")
sqrt = unary("sqrt", on_floats(lambda x: np.sqrt(np.maximum(x, 0))), _sqrt_deriv,
             shape=float_shape,
             doc="sqrt(max(x, 0)); its derivative is 1 / (2 sqrt x) where x > 0, else 0.")
clamp = unary("clamp", _clamp, lambda v, out, x, lo, hi: np.where((x > lo) & (x < hi), v, 0),
              params={"lo": REAL, "hi": REAL}, shape=_scalar_shape("clamp"),
              doc="min(hi, max(lo, x)); the gradient passes only where lo < x < hi strictly "
                  "(lo > hi gives hi everywhere, as in PyTorch); dtypes as in scale.")
max = binary("max", np.maximum,
             (lambda v, out, a, b: _winner(v, a, b), lambda v, out, a, b: _winner(v, b, a)),
             doc="max(a, b), elementwise (numpy broadcasting); on a tie each input gets half "
                 "the gradient.")
min = binary("min", np.minimum,
             (lambda v, out, a, b: _winner(v, b, a), lambda v, out, a, b: _winner(v, a, b)),
             doc="min(a, b), elementwise (numpy broadcasting); on a tie each input gets half "
                 "the gradient.")
relu = unary("relu", lambda x: np.maximum(x, 0), lambda v, out, x: np.where(x > 0, v, 0),
             shape=unary_shape(lambda dtype: with_scalars("relu", dtype, 0)),
             doc="max(x, 0); the gradient passes where x > 0 (not at 0). Ints keep their dtype, "
                 "bools give int64.")

# --- transcendental: ints and bools give float64 -------------------------------------------------

exp = unary("exp", on_floats(np.exp), lambda v, out, x: v * out, shape=float_shape,
            doc="e ** x.")
log = unary("log", _log, lambda v, out, x: v / x, shape=float_shape,
            doc="ln x; an element <= 0 or NaN is a DomainError and nothing is recorded.")
safe_log = unary("safe_log", lambda x, eps: np.log(_softplus(as_float(x)) + eps),
                 lambda v, out, x, eps: v * _safe_log_deriv(x, eps),
                 params={"eps": REAL}, defaults={"eps": 1e-6}, shape=float_shape,
                 doc="ln(softplus(x) + eps): a smooth stand-in for log, defined everywhere (not "
                     "ln(x + eps); for a guarded log, use log of clamp).")
sin = unary("sin", on_floats(np.sin), lambda v, out, x: v * np.cos(x), shape=float_shape,
            doc="sin x.")
cos = unary("cos", on_floats(np.cos), lambda v, out, x: -v * np.sin(x), shape=float_shape,
            doc="cos x.")
tanh = unary("tanh", on_floats(np.tanh), lambda v, out, x: v * (1 - out * out),
             shape=float_shape, doc="tanh x.")
sigmoid = unary("sigmoid", on_floats(_sigmoid), lambda v, out, x: v * out * (1 - out),
                shape=float_shape, doc="1 / (1 + e ** -x), computed without overflow.")
softplus = unary("softplus", on_floats(_softplus), lambda v, out, x: v * _sigmoid(x),
                 shape=float_shape,
                 doc="ln(1 + e ** x), computed stably: x + log1p(exp(-x)) for x > 0, "
                     "log1p(exp(x)) otherwise.")
# fmt: on
