"""The op table: every built-in op, each an :class:`OpDef` with forward, VJP, JVP and shape rule.

``ops.<name>(...)`` builds the :class:`~tapem.Op` request for a program to ``yield``.
:data:`TABLE` maps names to op definitions (read-only); it is how ``Op("add", ...)`` resolves a
name. Custom ops need no registration: an :class:`OpDef` is used directly.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from tapem.ops import elementwise, linalg, losses, reductions, structural
from tapem.ops.elementwise import (
    abs,
    add,
    clamp,
    cos,
    div,
    exp,
    inv,
    log,
    max,
    min,
    mul,
    neg,
    pow,
    rdiv,
    relu,
    rsub,
    safe_log,
    scale,
    shift,
    sigmoid,
    sin,
    softplus,
    sqrt,
    sub,
    tanh,
)
from tapem.ops.linalg import linear, matmul
from tapem.ops.losses import cross_entropy, mse_loss
from tapem.ops.opdef import OpDef, ShapeDtype, Variadic
from tapem.ops.reductions import log_softmax_last, mean, softmax_last, sum
from tapem.ops.structural import reshape, transpose

_FAMILIES = (elementwise, reductions, structural, linalg, losses)


def _collect() -> Mapping[str, OpDef]:
    table: dict[str, OpDef] = {}
    for module in _FAMILIES:
        for name in module.__all__:
            rule = getattr(module, name)
            if isinstance(rule, OpDef):
                table[rule.name] = rule
    return MappingProxyType(table)


TABLE: Mapping[str, OpDef] = _collect()
"""Every built-in op by name (read-only)."""

__all__ = [
    "TABLE",
    "OpDef",
    "ShapeDtype",
    "Variadic",
    "abs",
    "add",
    "clamp",
    "cos",
    "cross_entropy",
    "div",
    "exp",
    "inv",
    "linear",
    "log",
    "log_softmax_last",
    "matmul",
    "max",
    "mean",
    "min",
    "mse_loss",
    "mul",
    "neg",
    "pow",
    "rdiv",
    "relu",
    "reshape",
    "rsub",
    "safe_log",
    "scale",
    "shift",
    "sigmoid",
    "sin",
    "softmax_last",
    "softplus",
    "sqrt",
    "sub",
    "sum",
    "tanh",
    "transpose",
]
