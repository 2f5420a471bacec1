"""A batch's structure: how many samples it holds, and a run of its samples as the same kind of
batch.

A batch is what a loader's ``collate`` builds: the fields of :func:`~tapem.data.default_collate`
(tuples, named tuples too, and dicts, nested as deep as the samples were, whose leaves are arrays
with axis 0 over the samples), or a sequence of samples itself (a list with ``collate=list``, a
:class:`~tapem.Dataset`, a :class:`~tapem.Collated`, an array).

>>> import numpy as np
>>> batch = ((np.zeros((3, 2)), np.ones(3)), {"y": np.arange(3)})
>>> size(batch, "example")
3
>>> (x, m), y = take(batch, 1, 3)
>>> x.shape, y["y"].tolist()
((2, 2), [1, 2])
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np

from tapem.batching.trees import rebuilt
from tapem.errors import InvalidArgument

__all__ = ["size", "take"]


def size(batch: Any, who: str) -> int:
    """The number of samples in ``batch``: the rows every field of a tuple or dict of fields
    has, else the length of the batch itself. A batch whose samples cannot be counted (a field
    without a length, fields of different lengths, no fields, a 0-d array) is an
    :class:`~tapem.InvalidArgument` whose message starts with ``who``."""
    if not isinstance(batch, (tuple, Mapping)):
        if isinstance(batch, np.ndarray) and batch.ndim == 0:
            raise InvalidArgument(f"{who}: the batch is a 0-d array; give it an axis of samples")
        return _length(batch, who, "the batch")
    lengths = [_length(field, who, "a field of the batch") for field in _fields(batch)]
    if not lengths:
        raise InvalidArgument(f"{who}: the batch has no fields")
    if any(length != lengths[0] for length in lengths):
        raise InvalidArgument(
            f"{who}: every field of the batch needs one row per sample; the fields have "
            f"{', '.join(map(str, lengths))} rows"
        )
    return lengths[0]


def take(batch: Any, start: int, stop: int) -> Any:
    """Samples ``start:stop`` of ``batch``, as the same kind of batch."""
    if isinstance(batch, tuple):
        return rebuilt(batch, [take(field, start, stop) for field in batch])
    if isinstance(batch, Mapping):
        return {key: take(field, start, stop) for key, field in batch.items()}
    return batch[start:stop]


def _fields(batch: Any) -> Iterator[Any]:
    """The fields of ``batch`` (what is not a tuple or dict of fields), in order."""
    if isinstance(batch, tuple):
        for field in batch:
            yield from _fields(field)
    elif isinstance(batch, Mapping):
        for field in batch.values():
            yield from _fields(field)
    else:
        yield batch


def _length(field: Any, who: str, what: str) -> int:
    try:
        return len(field)
    except TypeError:
        raise InvalidArgument(
            f"{who}: {what} is a {type(field).__name__} without a length; give it an axis 0 over "
            "the samples"
        ) from None
