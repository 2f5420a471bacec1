"""The op table: every built-in op, each an :class:`OpDef` with forward, VJP, JVP and shape rule.

``ops.<name>(...)`` builds the :class:`~tapem.Op` request for a program to ``yield``.
:data:`TABLE` maps names to op definitions (read-only); it is how ``Op("add", ...)`` resolves a
name. Custom ops need no registration: an :class:`OpDef` is used directly.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType, ModuleType

from tapem.ops import (
    activations,
    attention,
    convolution,
    elementwise,
    linalg,
    losses,
    normalization,
    pooling,
    reductions,
    selection,
    structural,
)
from tapem.ops.activations import dropout, gelu
from tapem.ops.attention import multi_head_attention
from tapem.ops.convolution import conv, conv_transpose
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
from tapem.ops.normalization import batch_norm, layer_norm
from tapem.ops.opdef import OpDef, ShapeDtype, Variadic
from tapem.ops.pooling import avg_pool, max_pool, smooth_max_pool
from tapem.ops.reductions import log_softmax_last, mean, softmax_last, sum
from tapem.ops.selection import gather, index, where
from tapem.ops.structural import concat, flatten, reshape, stack, transpose

_FAMILIES: tuple[ModuleType, ...] = (elementwise, reductions, structural, linalg, losses)
_FAMILIES += (convolution, pooling, normalization, attention, selection, activations)


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
    "avg_pool",
    "batch_norm",
    "clamp",
    "concat",
    "conv",
    "conv_transpose",
    "cos",
    "cross_entropy",
    "div",
    "dropout",
    "exp",
    "flatten",
    "gather",
    "gelu",
    "index",
    "inv",
    "layer_norm",
    "linear",
    "log",
    "log_softmax_last",
    "matmul",
    "max",
    "max_pool",
    "mean",
    "min",
    "mse_loss",
    "mul",
    "multi_head_attention",
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
    "smooth_max_pool",
    "softmax_last",
    "softplus",
    "sqrt",
    "stack",
    "sub",
    "sum",
    "tanh",
    "transpose",
    "where",
]
