"""Shards of a batch: how many samples it holds (the kinds of batch a shard can be cut from), the
contiguous runs each shard takes, and the shards' results weighted back into one; each run is cut
as the same kind of batch by :func:`tapem.data.batch.take`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from tapem.arrays import readonly
from tapem.batching.collated import Collated
from tapem.data.batch import size
from tapem.data.dataset import Dataset
from tapem.errors import EmptyDataset, InvalidArgument, check_int

__all__ = [
    "WHO",
    "Grads",
    "Shards",
    "Span",
    "check_shards",
    "combine",
    "count",
    "spans",
    "where",
]

WHO = "tapem.distributed"

Grads = dict[str | int, Any]
Shards = int | Sequence[int] | None
Span = tuple[int, int]


def check_shards(shards: Any) -> None:
    """Refuse a ``shards`` argument that is neither a count (an int >= 1) nor shard sizes."""
    if shards is None:
        return
    if isinstance(shards, int) and not isinstance(shards, bool):
        check_int(WHO, "shards", shards, 1, must=">= 1")
        return
    sizes = list(shards) if isinstance(shards, (list, tuple)) else None
    if not sizes or any(isinstance(s, bool) or not isinstance(s, int) or s < 1 for s in sizes):
        raise InvalidArgument(
            f"{WHO}: shards must be a number of shards (an int >= 1) or a list of shard sizes "
            f"(ints >= 1), got {shards!r}"
        )


def count(batch: Any) -> int:
    """The number of samples in ``batch``, checking that every field has one row per sample."""
    if not isinstance(batch, (Dataset, Collated, list, np.ndarray, tuple, Mapping)):
        raise InvalidArgument(
            f"{WHO}: the batch must be a tuple or dict of arrays (axis 0 over the samples), a "
            f"tm.Collated, a tm.Dataset, a list of samples or an array; got "
            f"{type(batch).__name__}"
        )
    n = size(batch, WHO)
    if n == 0:
        raise EmptyDataset(WHO)
    return n


def spans(n: int, shards: Shards, workers: int) -> list[Span]:
    """The ``(start, stop)`` of each shard: ``shards`` sizes, or that many (default
    ``workers``) shards whose sizes differ by one at most, never more than ``n``."""
    if shards is not None and not isinstance(shards, int):
        sizes = list(shards)
        if sum(sizes) != n:
            raise InvalidArgument(
                f"{WHO}: the shard sizes {sizes} add up to {sum(sizes)}, the batch has {n} samples"
            )
    else:
        number = min(n, shards if shards is not None else max(1, workers))
        q, r = divmod(n, number)
        sizes = [q + 1] * r + [q] * (number - r)
    stops = np.cumsum(sizes).tolist()
    return [(stop - size, stop) for size, stop in zip(sizes, stops, strict=True)]


def where(index: int, runs: Sequence[Span]) -> str:
    """How errors name shard ``index``: ``shard 1 of 3 (samples 4:7)``."""
    start, stop = runs[index]
    return f"shard {index} of {len(runs)} (samples {start}:{stop})"


def combine(
    results: Sequence[tuple[Any, Grads]], runs: Sequence[Span], n: int
) -> tuple[Any, Grads]:
    """The shards' values and gradients, each weighted by its share of the ``n`` samples (a
    gradient a shard lacks counts as zero); one shard's weight is exactly 1."""
    value: Any = None
    grads: Grads = {}
    for (shard_value, shard_grads), (start, stop) in zip(results, runs, strict=True):
        weight = (stop - start) / n
        term = weight * np.asarray(shard_value)
        value = term if value is None else value + term
        for key, grad in shard_grads.items():
            term = weight * np.asarray(grad)
            grads[key] = term if key not in grads else grads[key] + term
    return readonly(np.asarray(value)), {key: readonly(grad) for key, grad in grads.items()}
