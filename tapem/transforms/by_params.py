"""Higher derivatives of a program with respect to its own parameters, by name.

The same loss serves every transform: a program that declares its parameters with
``tm.param(..., name=...)`` (what ``value_and_grad`` and ``fit`` take) also goes to ``tm.jvp``,
``tm.hvp``, ``tm.hessian`` and ``tm.jacobian``, which then differentiate it with respect to
those parameters, keyed as ``value_and_grad`` keys its gradients (by name; unnamed ones by
node id), in JAX's layout for a dict of parameters:

* ``tm.jvp(program, v)`` -> ``(value, directional derivative along v)``;
* ``tm.hvp(program, v)`` -> ``{name: H v}``;
* ``tm.hessian(program)`` -> ``{name_i: {name_j: array of shape shape_i + shape_j}}``;
* ``tm.jacobian(program)`` -> ``{name: gradient}`` (of a scalar loss).

``v`` maps each parameter's key to a direction of its shape (a missing key: zero).

>>> import numpy as np
>>> import tapem as tm
>>> @tm.tapem
... def loss():
...     w = yield from tm.param(np.array([1.0, 2.0]), name="w")
...     return (yield tm.ops.sum((yield w * w * w)))
>>> hv = tm.hvp(loss(), {"w": np.array([1.0, 0.0])})
>>> assert np.allclose(hv["w"], [6.0, 0.0])           # diag(6 w) v
>>> H = tm.hessian(loss())
>>> assert np.allclose(H["w"]["w"], np.diag([6.0, 12.0]))
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from tapem.arrays import readonly
from tapem.dual.core import Dual
from tapem.errors import InvalidArgument, ShapeMismatch
from tapem.interpreters.eager import Eager
from tapem.interpreters.forward import Forward
from tapem.program import Program
from tapem.transforms.gradients import Grads, param_keys, run_to_node, value_and_grad
from tapem.transforms.products import hvp_of

__all__ = ["hessian_of", "hvp_of_params", "jacobian_of", "jvp_of", "parameters"]

Key = str | int


def parameters(program: Program[Any]) -> dict[Key, tuple[int, Any]]:
    """The program's trainable leaves by key (name, or node id): their node ids and values."""
    _, tape = run_to_node(program, Eager(), "the derivatives of a program")
    return {key: (i, tape.value(i)) for i, key in param_keys(tape).items()}


def _directions(
    v: Mapping[Key, Any], params: Mapping[Key, tuple[int, Any]], who: str
) -> dict[Key, Any]:
    unknown = [key for key in v if key not in params]
    if unknown:
        raise InvalidArgument(
            f"{who}: no parameter named {', '.join(map(repr, unknown))}; the program's "
            f"parameters are {', '.join(map(repr, params)) or 'none'}"
        )
    out = {}
    for key, (_, value) in params.items():
        t = np.asarray(v.get(key, np.zeros_like(value)), dtype=value.dtype)
        if t.shape != value.shape:
            raise ShapeMismatch(who, [value.shape, t.shape], f"the direction of {key!r}")
        out[key] = t
    return out


def jvp_of(program: Program[Any], v: Mapping[Key, Any]) -> tuple[Any, Any]:
    """``(value, d value / dt)`` of ``program`` at its parameters moved along ``v``."""
    params = parameters(program)
    interp = Forward(_directions(v, params, "jvp"))
    out, tape = run_to_node(program, interp, "jvp")
    value = tape.value(out)
    if isinstance(value, Dual):
        return readonly(value.primal), readonly(value.tangent)
    return value, readonly(np.zeros_like(value))


def hvp_of_params(program: Program[Any], v: Mapping[Key, Any]) -> dict[Key, Any]:
    """The Hessian of the scalar ``program`` with respect to its parameters, times ``v``."""
    return _hvp(program, v, parameters(program))


def _hvp(
    program: Program[Any], v: Mapping[Key, Any], params: Mapping[Key, tuple[int, Any]]
) -> dict[Key, Any]:
    interp = Forward(_directions(v, params, "hvp"))
    products = hvp_of(program, interp, dict(params.values()))
    return {key: products[i] for key, (i, _) in params.items()}


def hessian_of(program: Program[Any]) -> dict[Key, dict[Key, Any]]:
    """Every block ``H[i][j]`` (shape ``shape_i + shape_j``) of the scalar ``program``'s
    Hessian with respect to its parameters: one Hessian-vector product per parameter element."""
    params = parameters(program)
    values = {key: value for key, (_, value) in params.items()}
    blocks = {
        i: {j: np.zeros(pi.shape + pj.shape, dtype=np.result_type(pi, pj))
            for j, pj in values.items()}
        for i, pi in values.items()
    }  # fmt: skip
    for j, pj in values.items():
        for b in np.ndindex(pj.shape):
            basis = np.zeros_like(pj)
            basis[b] = 1
            column = _hvp(program, {j: basis}, params)
            for i in values:
                blocks[i][j][(Ellipsis, *b)] = column[i]
    return {i: {j: readonly(block) for j, block in row.items()} for i, row in blocks.items()}


def jacobian_of(program: Program[Any]) -> Grads:
    """The gradient of the scalar ``program`` with respect to its parameters (its Jacobian)."""
    _, grads = value_and_grad(program)
    return grads
