"""What batching rules are made of: the emitter they write to, and the moves most of them share.

An op's **batching rule** (``OpDef.batch``) says how to compute the op for every sample of a
batch at once: ``batch(emit, xs, batched, args) -> handle``. ``xs`` are the op's real input
handles; ``batched[i]`` says whether input ``i`` carries a batch axis (always axis 0, of size
``emit.size``) or is shared by every sample; ``args`` are the op's static parameters, as one
sample's program gave them. The rule emits ordinary requests (``emit(ops.sum(x, 1))`` records
the op and returns its handle; ``emit.const(array)`` a constant shared by every sample) and
returns the handle of the batched result, whose axis 0 runs over the samples. It must compute,
for each sample, what the op computes on that sample's inputs: a test maps every built-in op
over samples and compares.

Rules never see values: the shapes and dtypes of the handles, and the static parameters, are all
they have (as for shape rules), so a batched run is staged like any other.

The helpers below are the moves rules share: one sample's shape, an input with a batch axis
made explicit (``emit.expanded``), the broadcasting rule of elementwise ops
(:func:`broadcasting`), and the leading axes of a batched input merged or split
(:func:`merged`, :func:`split`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from tapem.requests import Op, make_op

__all__ = [
    "BatchRule",
    "Emit",
    "aligned",
    "broadcasting",
    "merged",
    "per_sample_rank",
    "split",
    "with_axes",
]


class Emit(Protocol):
    """Where a batching rule records its requests."""

    size: int
    """The number of samples (the size of every batch axis)."""

    def __call__(self, request: Op) -> Any:
        """Record ``request`` (an ordinary op on real handles); its handle."""

    def const(self, value: Any) -> Any:
        """A constant leaf holding ``value`` (shared by every sample); its handle."""

    def reshape(self, x: Any, shape: tuple[int, ...]) -> Any:
        """``ops.reshape(x, shape)``, recorded (``x`` itself if it has that shape)."""

    def expanded(self, x: Any, batched: bool = False) -> Any:
        """``x`` with a batch axis: itself if it has one (``batched``), else one copy per
        sample (a product with ones, whose gradient is the sum over the samples)."""


BatchRule = Callable[[Emit, tuple[Any, ...], tuple[bool, ...], tuple[Any, ...]], Any]


def per_sample_rank(xs: Sequence[Any], batched: Sequence[bool]) -> int:
    """The largest rank of one sample's input among ``xs``."""
    return max(len(x.shape) - b for x, b in zip(xs, batched, strict=True))


def with_axes(emit: Emit, x: Any, rank: int) -> Any:
    """Batched ``x`` with size-1 axes inserted after its batch axis, up to ``rank`` axes per
    sample: numpy's broadcasting then lines up one sample's axes with another input's, as it
    does for the sample alone."""
    shape = x.shape
    missing = rank - (len(shape) - 1)
    if missing <= 0:
        return x
    return emit.reshape(x, (shape[0], *(1,) * missing, *shape[1:]))


def broadcasting(op: Any) -> BatchRule:
    """The batching rule of ``op`` (an OpDef) whose inputs broadcast like numpy's: the op itself
    on the batched inputs, each batched one first given the size-1 axes that line its samples
    up (:func:`with_axes`). Elementwise ops without a rule of their own are batched this way."""

    def batch(emit: Emit, xs: tuple[Any, ...], batched: tuple[bool, ...], args: Any) -> Any:
        return emit(make_op(op, aligned(emit, xs, batched), args))

    return batch


def aligned(emit: Emit, xs: Sequence[Any], batched: Sequence[bool]) -> tuple[Any, ...]:
    """``xs`` with each batched input given the size-1 axes (:func:`with_axes`) that line its
    samples up with the others, as numpy's broadcasting lines up one sample's inputs."""
    rank = per_sample_rank(xs, batched)
    return tuple(with_axes(emit, x, rank) if b else x for x, b in zip(xs, batched, strict=True))


def merged(emit: Emit, x: Any, count: int = 2) -> Any:
    """Batched ``x`` with its first ``count`` axes merged into one (the batch axis and the
    sample's own batch axis, for an op that takes ``[N, ...]``)."""
    shape = x.shape
    return emit.reshape(x, (math.prod(shape[:count]), *shape[count:]))


def split(emit: Emit, y: Any, leading: tuple[int, ...]) -> Any:
    """``y`` with its axis 0 split back into the axes ``leading`` (undoes :func:`merged`)."""
    return emit.reshape(y, (*leading, *y.shape[1:]))
