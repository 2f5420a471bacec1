"""Random tapem programs built from the op table, for the interpreter laws.

A :class:`Spec` is a few leaves of random shapes (float64/float32, params and consts) and a
sequence of steps, each an op from a representative set: elementwise unary and binary ops
with broadcasting, scalar ops, reductions with axes, last-axis softmax, matmul, linear,
reshape, transpose and the losses. A step's operands are earlier nodes or fresh leaves whose
shapes the program derives from its operands' shapes (which any interpreter reports), so
that most requests fit; a step marked ``broken`` deliberately gets operands or parameters
that do not (a wrong inner dimension, an axis out of range, a reshape to the wrong size...).
Elementwise binary ops also pair arbitrary earlier nodes, which may or may not broadcast.

The program catches each failure at its ``yield``, logs it and goes on, so one program
exercises many successes and failures; it returns the sum of the last node it made.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from hypothesis import strategies as st

import tapem as tm
from tapem import ops

UNARY = ("sin", "tanh", "neg", "relu", "sigmoid", "softplus", "sqrt", "abs", "exp", "safe_log")
SCALAR = ("scale", "shift", "pow", "clamp")
BINARY = ("add", "sub", "mul", "div", "max", "min")
REDUCE = ("sum", "mean")
LAST_AXIS = ("softmax_last", "log_softmax_last")
STRUCTURED = ("matmul", "linear", "reshape", "transpose", "mse_loss", "cross_entropy")
OPS = UNARY + SCALAR + BINARY + REDUCE + LAST_AXIS + STRUCTURED


@dataclass(frozen=True)
class LeafSpec:
    shape: tuple[int, ...]
    dtype: str  # "f8" or "f4"
    requires_grad: bool
    seed: int


@dataclass(frozen=True)
class Step:
    op: str
    inputs: tuple[int, int]  # positions among the nodes made so far (modulo their number)
    choice: int  # seeds the step's choices of parameters and fresh operand shapes
    broken: bool  # deliberately make the request not fit


@dataclass(frozen=True)
class Spec:
    leaves: tuple[LeafSpec, ...]
    steps: tuple[Step, ...]


shapes = st.lists(st.integers(1, 3), min_size=0, max_size=3).map(tuple)
leaf_specs = st.builds(
    LeafSpec, shapes, st.sampled_from(["f8", "f4"]), st.booleans(), st.integers(0, 2**16)
)


@st.composite
def specs(draw: Any, max_steps: int = 12) -> Spec:
    leaves = tuple(draw(st.lists(leaf_specs, min_size=1, max_size=4)))
    step_list = draw(st.lists(_step(), min_size=2, max_size=max_steps))
    return Spec(leaves, tuple(step_list))


@st.composite
def _step(draw: Any) -> Step:
    return Step(
        draw(st.sampled_from(OPS)),
        (draw(st.integers(0, 15)), draw(st.integers(0, 15))),
        draw(st.integers(0, 2**16)),
        draw(st.integers(0, 4)) == 0,  # one step in five is broken on purpose
    )


Outcome = tuple[Any, ...]
"""What one step did: ``(k, shape, dtype)`` or ``(k, error type)``."""


def _array(rng: np.random.Generator, shape: tuple[int, ...], like: tm.Handle) -> Any:
    return rng.standard_normal(shape).astype(like.dtype)


def _broadcastable(rng: np.random.Generator, shape: tuple[int, ...]) -> tuple[int, ...]:
    """A shape that broadcasts with ``shape``: a suffix of it, some sides set to 1."""
    suffix = shape[int(rng.integers(0, len(shape) + 1)) :]
    return tuple(1 if rng.random() < 0.3 else d for d in suffix)


def _clash(shape: tuple[int, ...]) -> tuple[int, ...]:
    """A shape that does not broadcast with ``shape`` (if any: all-1 shapes fit everything)."""
    for i in range(len(shape) - 1, -1, -1):
        if shape[i] > 1:
            return (*shape[:i], shape[i] + 1, *shape[i + 1 :])
    return shape


def _axis(rng: np.random.Generator, ndim: int, broken: bool) -> Any:
    if broken:
        return ndim if rng.random() < 0.5 else (0, -ndim) if ndim else 1
    kind = int(rng.integers(0, 3))
    if kind == 0 or ndim == 0:
        return None
    if kind == 1:
        return int(rng.integers(-ndim, ndim))
    return tuple(
        int(a) for a in rng.choice(ndim, size=int(rng.integers(1, ndim + 1)), replace=False)
    )


def _reshape_target(rng: np.random.Generator, size: int, broken: bool) -> tuple[int, ...]:
    if broken:
        return (size + 1,) if rng.random() < 0.5 else (-1, -1)
    options = [(-1,), (size,), (1, -1), (-1, 1), (size, 1, 1)]
    options += [(d, size // d) for d in (2, 3) if size % d == 0]
    return options[int(rng.integers(0, len(options)))]


def request(step: Step, a: tm.Handle, b: tm.Handle) -> tm.Gen[tuple[Any, ...]]:
    """The op and its operands for ``step`` (fresh leaves are made here): ``(op, *operands)``
    and the keyword parameters as the last element."""
    rng = np.random.default_rng(step.choice)
    op, broken, s = step.op, step.broken, a.shape
    params: dict[str, Any] = {}
    if op in ("scale", "shift"):
        params["c"] = float(rng.choice([0.5, -2.0, 3.0]))
    elif op == "pow":
        params["p"] = float(rng.choice([2.0, 3.0]))
    elif op == "clamp":
        params["lo"], params["hi"] = -0.5, 0.5
    elif op in REDUCE:
        params["axis"] = _axis(rng, len(s), broken)
        params["keepdims"] = bool(rng.random() < 0.5)
    elif op == "reshape":
        params["shape"] = _reshape_target(rng, int(np.prod(s)), broken)
    elif op == "transpose":
        rank = len(s) + (1 if broken else 0)
        params["axes"] = (
            None if rng.random() < 0.3 else tuple(int(i) for i in rng.permutation(rank))
        )
    if op in BINARY or op == "mse_loss":
        if rng.random() < 0.4 and not broken:
            return (op, a, b, params)  # any two nodes: they may or may not broadcast
        shape = _clash(s) if broken else _broadcastable(rng, s)
        return (op, a, (yield from tm.const(_array(rng, shape, a))), params)
    if op == "matmul":
        n = s[-1] if s else 1
        inner = n + 1 if broken else n
        shape = (inner,) if rng.random() < 0.3 else (inner, int(rng.integers(1, 4)))
        return (op, a, (yield from tm.param(_array(rng, shape, a))), params)
    if op == "linear":
        n_in, n_out = (s[-1] if s else 1), int(rng.integers(1, 4))
        w_shape, b_shape = (n_out, n_in), (n_out,)
        if broken:
            w_shape, b_shape = (
                ((n_out, n_in + 1), b_shape) if rng.random() < 0.5 else (w_shape, (n_out + 1,))
            )
        W = yield from tm.param(_array(rng, w_shape, a))
        B = yield from tm.param(_array(rng, b_shape, a))
        return (op, W, B, a, params)
    if op == "cross_entropy":
        lead = s[:-1] if s else ()
        labels = np.zeros((*lead, 2) if broken else lead, dtype=np.int64)
        return (op, a, (yield from tm.const(labels)), params)
    return (op, a, params)


@tm.tapem
def program(spec: Spec, log: list[Outcome]) -> tm.Gen[tm.Handle]:
    """Run ``spec``, appending each step's outcome to ``log``; return the last node's sum."""
    nodes: list[tm.Handle] = []
    for leaf in spec.leaves:
        value = np.random.default_rng(leaf.seed).standard_normal(leaf.shape).astype(leaf.dtype)
        nodes.append((yield from (tm.param if leaf.requires_grad else tm.const)(value)))
    for k, step in enumerate(spec.steps):
        a, b = (nodes[i % len(nodes)] for i in step.inputs)
        op, *operands, params = yield from request(step, a, b)
        try:
            h = yield ops.TABLE[op](*operands, **params)
        except tm.TapeError as error:
            log.append((k, type(error)))
            continue
        log.append((k, h.shape, h.dtype))
        nodes.append(h)
    return (yield ops.sum(nodes[-1]))
