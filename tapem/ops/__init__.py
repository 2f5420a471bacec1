"""The op table: every built-in op, each an :class:`OpDef` with its rules and what it computes.

``ops.<name>(...)`` builds the :class:`~tapem.Op` request for a program to ``yield``; each op
documents itself (``help(ops.linear)``, ``inspect.signature(ops.linear)``), and
``docs/ops.md`` lists them all (generated from this table by :mod:`tapem.ops.reference`).
:data:`TABLE` maps names to op definitions (read-only); it is how ``Op("add", ...)`` resolves a
name. Custom ops need no registration: an :class:`OpDef` is used directly.

The ops come from one module per family, in :data:`FAMILIES`: a family's ``__all__`` is picked
up here and in :data:`TABLE`, so adding an op is one row in its family (and one test case).
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
from tapem.ops.activations import *  # noqa: F403
from tapem.ops.attention import *  # noqa: F403
from tapem.ops.convolution import *  # noqa: F403
from tapem.ops.elementwise import *  # noqa: F403
from tapem.ops.linalg import *  # noqa: F403
from tapem.ops.losses import *  # noqa: F403
from tapem.ops.normalization import *  # noqa: F403
from tapem.ops.opdef import OpDef, ShapeDtype, Variadic
from tapem.ops.pooling import *  # noqa: F403
from tapem.ops.reductions import *  # noqa: F403
from tapem.ops.selection import *  # noqa: F403
from tapem.ops.structural import *  # noqa: F403

FAMILIES: tuple[tuple[str, ModuleType], ...] = (
    ("elementwise", elementwise),
    ("reductions", reductions),
    ("structure", structural),
    ("selection", selection),
    ("linear algebra", linalg),
    ("losses", losses),
    ("activations", activations),
    ("convolutions", convolution),
    ("pools", pooling),
    ("normalization", normalization),
    ("attention", attention),
)
"""The op families, by the name the reference and the README give them, in their order."""


def _collect() -> Mapping[str, OpDef]:
    table: dict[str, OpDef] = {}
    for _, module in FAMILIES:
        for name in module.__all__:
            rule = getattr(module, name)
            if isinstance(rule, OpDef):
                table[rule.name] = rule
    return MappingProxyType(table)


TABLE: Mapping[str, OpDef] = _collect()
"""Every built-in op by name (read-only)."""

__all__ = ["FAMILIES", "TABLE", "OpDef", "ShapeDtype", "Variadic", *TABLE]
