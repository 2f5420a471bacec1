"""The reverse pass: one reversed loop over the tape, no recursion, no topological sort.

The tape is already in evaluation order, so walking ids from the output down to 0 visits every
node after all of its consumers. A node that received no cotangent is skipped (its VJP never
runs); a node with ``requires_grad = False`` does not propagate, and contributions into such a
parent are dropped. Contributions are summed in order: children by descending id, then each
node's parents in argument order. Broadcasting is undone here, for every op at once.

>>> import numpy as np
>>> import tapem as tm
>>> @tm.tapem
... def f():
...     a = yield from tm.param(np.array([6.0, 8.0]))
...     b = yield from tm.param(np.array([2.0, 4.0]))
...     return (yield a / b)
>>> out, tape = tm.run(f()).unwrap()
>>> grads = tm.backward(tape, out, np.ones(2)).unwrap()
>>> assert np.allclose(grads[0], [0.5, 0.25]) and np.allclose(grads[1], [-1.5, -0.5])
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from returns.result import Failure, Result, Success

from tapem import collector
from tapem.arrays import readonly
from tapem.errors import InvalidArgument, NotScalar, TapeError
from tapem.ops.opdef import ShapeDtype, pass_through
from tapem.tape import NodeRef, Record, Tape, node_id

__all__ = [
    "AT_ONCE",
    "CotangentCheck",
    "backward",
    "backward_scalar",
    "reverse",
    "seed_for",
    "unbroadcast",
]


AT_ONCE = 4
"""A node of a variadic op with at least this many inputs has every input's cotangent computed
by one call of its rules' ``at_once``, if they have one (see :class:`~tapem.ops.opdef.Variadic`)."""

CotangentCheck = Callable[[int, int, Any], None]
"""``check(node_id, parent_id, cotangent)``: called on each cotangent a VJP sends a parent."""


def unbroadcast(ct: Any, like: Any) -> Any:
    """Sum ``ct`` down to ``like``'s shape (undoing numpy broadcasting) and cast to its dtype."""
    shape = like.shape
    if ct.shape != shape:
        extra = ct.ndim - len(shape)
        if extra > 0:
            ct = ct.sum(axis=tuple(range(extra)))
        axes = tuple(i for i, d in enumerate(shape) if d == 1 and ct.shape[i] != 1)
        if axes:
            ct = ct.sum(axis=axes, keepdims=True)
        if ct.shape != shape:  # e.g. a scalar cotangent for an array input
            ct = np.broadcast_to(ct, shape)
    if ct.dtype != like.dtype:
        ct = ct.astype(like.dtype)
    return ct


def reverse(tape: Tape, out: int, seed: Any, check: CotangentCheck | None = None) -> list[Any]:
    """Cotangents of nodes ``0..out`` (``None`` where none arrived) for ``seed`` at ``out``.

    This is the loop every reverse pass in tapem runs; ``check(node_id, parent_id, cotangent)``
    lets an interpreter inspect each cotangent as it is produced (the debugging interpreter
    looks for NaN/Inf). The cyclic garbage collector is paused meanwhile (see
    :mod:`tapem.collector`).
    """
    with collector.paused():
        return _reverse(tape, out, seed, check)


def _reverse(tape: Tape, out: int, seed: Any, check: CotangentCheck | None) -> list[Any]:
    nodes = tape._nodes
    vjps = [rule.vjp for rule in tape._rules]
    grads: list[Any] = [None] * (out + 1)
    owned = [False] * (out + 1)  # grads[p] is a buffer we made, safe to add into in place
    grads[out] = seed
    ndarray, generic = np.ndarray, np.generic
    for i in range(out, -1, -1):
        g = grads[i]
        if g is None:
            continue
        value, _, requires_grad, parents, index, args = nodes[i]
        if index is None or not requires_grad:
            continue
        # The arguments of every VJP rule of the node, ``(g, out, *inputs, *args)``, built once
        # (written out for one and two inputs, without star-unpacking where there are no args).
        n = len(parents)
        if n == 2:
            parent_nodes: Sequence[Record] = (nodes[parents[0]], nodes[parents[1]])
            a, b = parent_nodes[0][0], parent_nodes[1][0]
            call = (g, value, a, b, *args) if args else (g, value, a, b)
        elif n == 1:
            parent_nodes = (nodes[parents[0]],)
            call = (g, value, parent_nodes[0][0], *args) if args else (g, value, parent_nodes[0][0])
        elif n == 3:
            parent_nodes = (nodes[parents[0]], nodes[parents[1]], nodes[parents[2]])
            a, b, c = parent_nodes[0][0], parent_nodes[1][0], parent_nodes[2][0]
            call = (g, value, a, b, c, *args) if args else (g, value, a, b, c)
        else:
            parent_nodes = tuple([nodes[p] for p in parents])
            call = (g, value, *[parent[0] for parent in parent_nodes], *args)
        # a variadic op's rules (``Variadic``) serve any input: n says how many; one with many
        # inputs computes them all at once where it can (each input alone would read them all)
        rules: Any = vjps[index]
        together = getattr(rules, "at_once", None) if n >= AT_ONCE else None
        if together is not None:
            rules = _Computed(together(*call))
            call = ()  # the computed rules take no arguments (unpacking n inputs per input is n²)
        for k in range(n):
            parent = parent_nodes[k]
            vjp = rules[k]
            if vjp is None or not parent[2]:
                continue
            p = parents[k]
            ct = g if vjp is pass_through else vjp(*call)
            like = parent[0]
            cls = ct.__class__
            # Cotangents take their input's shape, dtype and kind (array or numpy scalar): an
            # array is compared (dtypes are interned, so `is` settles most), a numpy scalar of
            # the input's own type needs nothing, anything else (e.g. a dual number) is fixed.
            if cls is ndarray:
                if ct.shape != like.shape or (
                    ct.dtype is not like.dtype and ct.dtype != like.dtype
                ):
                    ct = unbroadcast(ct, like)
            elif cls is not like.__class__ or not isinstance(ct, generic):
                ct = unbroadcast(ct, like)
            if check is not None:
                check(i, p, ct)
            prev = grads[p]
            if prev is None:
                grads[p] = ct
            elif owned[p] and (ct.__class__ is ndarray or isinstance(ct, generic)):
                prev += ct  # in place only for plain cotangents: a dual needs a new buffer
            else:
                total = grads[p] = prev + ct
                # Own the new buffer, to add into it in place next time, if it is an array of
                # more than one element: numpy's in-place add of one element costs 2.5x a new one.
                owned[p] = total.__class__ is ndarray and total.size > 1
    return grads


class _Computed:
    """Every input's cotangent, computed at once, served as the rules of the inputs."""

    __slots__ = ("cts",)

    def __init__(self, cts: Sequence[Any]) -> None:
        self.cts = cts

    def __getitem__(self, k: int) -> Any:
        ct = self.cts[k]
        return None if ct is None else (lambda: ct)


def gradient_dict(grads: Sequence[Any]) -> dict[int, Any]:
    """The public form of :func:`reverse`'s result: read-only arrays keyed by node id."""
    return {i: readonly(g) for i, g in enumerate(grads) if g is not None}


def seed_for(tape: Tape, ref: NodeRef, seed: Any | None) -> tuple[int, Any]:
    """``(node id, seed)`` to start a reverse pass at ``ref``: ones for a scalar output when
    ``seed`` is ``None``, else ``seed`` as an array of the output's shape and dtype.

    Raises :class:`~tapem.NotScalar` for a non-scalar output without a seed (or a seed of the
    wrong shape), and :class:`~tapem.InvalidArgument` for a tape of shapes (``ShapeOnly``).
    """
    i = node_id(ref, len(tape))
    value = tape._nodes[i][0]
    if isinstance(value, ShapeDtype):
        raise InvalidArgument(
            f"node {i} holds a shape, not a value (the tape was built by the ShapeOnly "
            "interpreter); run the program with a value interpreter (Eager, the default) to "
            "differentiate it"
        )
    if seed is None:
        if value.shape != ():
            raise NotScalar(i, value.shape, ())
        return i, np.ones((), dtype=value.dtype)
    seed = np.array(seed, dtype=value.dtype)  # a copy: the pass may hand it out as a gradient
    if seed.shape != value.shape:
        raise NotScalar(i, value.shape, seed.shape)
    return i, seed


def backward_scalar(tape: Tape, out: NodeRef) -> Result[dict[int, Any], TapeError]:
    """Gradients of scalar node ``out`` with respect to every node reached backwards.

    Returns ``Success({node_id: gradient})`` with ``out`` mapped to 1, or ``Failure`` with
    :class:`~tapem.errors.NotScalar` / :class:`~tapem.errors.InvalidNodeId`.
    """
    return backward(tape, out, None)


def backward(tape: Tape, out: NodeRef, seed: Any | None) -> Result[dict[int, Any], TapeError]:
    """Like :func:`backward_scalar` with an explicit ``seed`` of the output's shape."""
    try:
        i, start = seed_for(tape, out, seed)
    except TapeError as error:
        return Failure(error)
    return Success(gradient_dict(reverse(tape, i, start)))
