"""How a request on per-sample handles becomes ordinary, batched requests.

The recording path hands :class:`Batching` every leaf made inside an open level and every op
one of whose inputs is a per-sample handle. An op is batched over the innermost level among
its inputs: its shape rule first checks one sample's shapes (so a mistake fails as it would in
the loop, at the same line), then its **batching rule** (``OpDef.batch``) emits the ordinary
requests that compute every sample at once, and the result is handed back as a per-sample
handle. Each emitted request goes through the whole recording path again (an input batched
over an outer level is batched there in turn), so every interpreter sees, and every tape
records, ordinary batched ops: the usual reverse pass differentiates them.

An elementwise op without a rule of its own is batched by broadcasting; any other op without
one runs once per sample (each sample's inputs indexed out, the results stacked), announced by
a :class:`BatchingWarning` naming the op, once per line.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from tapem.arrays import immutable, readonly
from tapem.batching.levels import Batched, Level, per_sample, real_handle
from tapem.batching.stacked import Stacked
from tapem.batching.trees import tree_map
from tapem.errors import InvalidArgument, InvalidRequest, NonFinite
from tapem.handle import Handle
from tapem.ops import elementwise, selection, structural
from tapem.ops.batch_rules import broadcasting
from tapem.ops.opdef import OpDef
from tapem.requests import Leaf, Op, make_op
from tapem.sites import Site, warn_at

__all__ = ["Batching", "BatchingWarning", "Emitter"]


class BatchingWarning(UserWarning):
    """An op without a batching rule ran once per sample inside a batched loss."""


class Batching:
    """The levels open in one run, and the batching of its leaves and ops.

    ``leaf`` and ``op`` are the recording path's own (requests they are given are recorded as
    ordinary requests, and may be batched again over an outer level).
    """

    __slots__ = ("_leaf", "_op", "_site", "levels")

    def __init__(
        self, leaf: Callable[[Leaf], Handle], op: Callable[[Op], Handle], site: Site
    ) -> None:
        self.levels: list[Level] = []
        self._leaf = leaf
        self._op = op
        self._site = site

    def begin(self, level: Level) -> None:
        level.depth = len(self.levels)
        self.levels.append(level)

    def end(self, level: Level, result: Any) -> Any:
        """Close ``level`` (and any level left open inside it) and return ``result`` with its
        per-sample handles replaced by the real, batched ones."""
        if level not in self.levels:
            raise InvalidArgument("tm.vmap: this batched run is not open (closed twice?)")
        del self.levels[self.levels.index(level) :]
        if result is None:  # closed by an error in the per-sample program
            return None
        return _real_handles(result, lambda h: self._unbatched(h, level))

    def _unbatched(self, handle: Handle, level: Level) -> Handle:
        real = real_handle(handle, level)
        if real is not None:
            return real  # type: ignore[no-any-return]
        return Emitter(self._op, self._leaf, level.size).expanded(handle)  # the same for each

    def leaf(self, request: Leaf) -> Handle:
        """A leaf made inside a level: per-sample data (a :class:`Stacked` value) becomes a
        batched leaf; so does a trainable leaf of a level with per-sample parameters."""
        value, name, requires_grad = request.value, request.name, request.requires_grad
        if value.__class__ is Stacked:
            level, inner = value.level, value.stacked
            stacked = Leaf(inner, name, requires_grad)
            # the samples of a level nested in another are per-sample data of the outer one
            nested = isinstance(inner, Stacked)
            real = self.leaf(stacked) if nested else self._leaf(stacked)
            return per_sample(real, level)
        level = self.levels[-1] if self.levels else None
        if level is not None and level.per_sample_params and requires_grad:
            # One copy per sample, all equal: a read-only view that repeats one copy of the
            # value (tapem's own, so the leaf records the view as it is: no N copies in memory).
            mine = value if immutable(value) else readonly(np.array(value))
            copies = np.broadcast_to(mine, (level.size, *np.shape(value)))
            return per_sample(self._leaf(Leaf(copies, name, True)), level)
        return self._leaf(request)

    def op(self, request: Op) -> Handle:
        """``request`` (resolved, with at least one per-sample input) batched over the
        innermost level among its inputs; its per-sample handle."""
        rule, inputs, args = request.rule, request.inputs, request.args
        levels = [h._value.level for h in inputs if h._value.__class__ is Batched]
        if any(level not in self.levels for level in levels):
            raise InvalidRequest(
                request, "an input is a per-sample handle of a batched run that ended"
            )
        level = max(levels, key=lambda lv: lv.depth)
        xs, batched, samples = [], [], []
        for h in inputs:
            real = real_handle(h, level)
            xs.append(h if real is None else real)
            batched.append(real is not None)
            samples.append(h._value)  # one sample's shape and dtype, or the node's own value
        rule.shape(*samples, *args)  # one sample's check: fails as the loop would
        rule_of = rule.batch if rule.batch is not None else _derived(rule, self._site)
        emit = Emitter(self._op, self._leaf, level.size)
        try:
            out = rule_of(emit, tuple(xs), tuple(batched), args)
        except NonFinite as error:
            if error.sample is None and error.index:
                error.in_sample(error.index[0])
            raise
        return per_sample(out, level)


class Emitter:
    """Where a batching rule records its requests (:class:`tapem.ops.batch_rules.Emit`): the
    recording path's own ``op`` and ``leaf``, and the number of samples."""

    __slots__ = ("_leaf", "_op", "size")

    def __init__(self, op: Callable[[Op], Handle], leaf: Callable[[Leaf], Handle], size: int):
        self._op = op
        self._leaf = leaf
        self.size = size

    def __call__(self, request: Op) -> Handle:
        return self._op(request)

    def const(self, value: Any) -> Handle:
        return self._leaf(Leaf(value, None, False))

    def reshape(self, x: Handle, shape: tuple[int, ...]) -> Handle:
        return x if x.shape == shape else self._op(make_op(structural.reshape, (x,), (shape,)))

    def expanded(self, x: Handle, batched: bool = False) -> Handle:
        if batched:
            return x
        ones = self.const(np.ones((self.size, *(1,) * len(x.shape)), dtype=x.dtype))
        return self._op(elementwise.mul(ones, x))


def _derived(rule: OpDef, site: Site) -> Callable[..., Handle]:
    """The batching rule of an op without one of its own."""
    if rule.elementwise:
        return broadcasting(rule)
    message = (
        f"{rule.name} has no batching rule: inside a batched loss it runs once per sample "
        "(give its OpDef a batch= rule to run it once on the whole batch)"
    )
    warn_at(site.raw(), message, BatchingWarning)
    return lambda emit, xs, batched, args: _sample_by_sample(emit, rule, xs, batched, args)


def _sample_by_sample(
    emit: Emitter, rule: OpDef, xs: tuple[Handle, ...], batched: tuple[bool, ...], args: Any
) -> Handle:
    """``rule`` run once per sample, each sample's inputs indexed out, the results stacked."""
    size = next(x.shape[0] for x, b in zip(xs, batched, strict=True) if b)
    outs = []
    for i in range(size):
        inputs = tuple(
            emit(selection.index(x, i)) if b else x for x, b in zip(xs, batched, strict=True)
        )
        try:
            outs.append(emit(make_op(rule, inputs, args)))
        except NonFinite as error:
            error.in_sample(i)
            raise
    return emit(structural.stack(outs, 0))


def _real_handles(tree: Any, f: Callable[[Handle], Handle]) -> Any:
    def each(leaf: Any) -> Handle:
        if isinstance(leaf, Handle):
            return f(leaf)
        raise InvalidArgument(
            f"tm.vmap: the per-sample program must return handles (or tuples, lists or dicts of "
            f"them); got a {type(leaf).__name__}"
        )

    return tree_map(tree, each)
