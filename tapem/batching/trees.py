"""Trees of samples: arrays (or handles) in tuples, lists and dicts, nested as deep as you like.

The one walk the batching uses: over a sample's fields, a collated batch's fields, the inputs of
a numpy function on per-sample data, and the handles a per-sample program returns.

>>> import numpy as np
>>> tree_map({"x": (1, 2), "y": [3]}, lambda v: v * 10)
{'x': (10, 20), 'y': [30]}
>>> batch = stacked([(np.zeros(2), 0), (np.ones(2), 1)], "example")
>>> batch[0].shape, batch[1].tolist()
((2, 2), [0, 1])
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

from tapem.arrays import readonly
from tapem.errors import InvalidArgument

__all__ = ["leaves", "rebuilt", "stacked", "tree_map"]


def leaves(tree: Any) -> Iterator[Any]:
    """The leaves of ``tree`` (what is not a tuple, list or dict), in order."""
    if isinstance(tree, (tuple, list)):
        for item in tree:
            yield from leaves(item)
    elif isinstance(tree, dict):
        for item in tree.values():
            yield from leaves(item)
    else:
        yield tree


def rebuilt(like: tuple[Any, ...] | list[Any], items: Any) -> Any:
    """A tuple or list of the kind of ``like`` (a named tuple too) holding ``items``."""
    if hasattr(like, "_fields"):
        return type(like)(*items)
    return type(like)(items)


def tree_map(tree: Any, f: Callable[[Any], Any]) -> Any:
    """``tree`` with each leaf replaced by ``f(leaf)``, its structure kept."""
    if isinstance(tree, (tuple, list)):
        return rebuilt(tree, [tree_map(item, f) for item in tree])
    if isinstance(tree, dict):
        return {key: tree_map(item, f) for key, item in tree.items()}
    return f(tree)


def stacked(samples: Sequence[Any], who: str, hint: str = "") -> Any:
    """The samples (arrays, or tuples, lists or dicts of them, alike) stacked field by field
    into new read-only arrays (tapem's own: a leaf of them needs no copy). Samples of different
    structures or shapes are an :class:`~tapem.InvalidArgument` naming the first that differs
    (``hint`` ends its message)."""
    first = samples[0]
    if isinstance(first, (tuple, list, dict)):
        keys = list(first) if isinstance(first, dict) else range(len(first))
        fields = [_field(samples, key, first, who, hint) for key in keys]
        if isinstance(first, dict):
            return {key: stacked(f, who, hint) for key, f in zip(keys, fields, strict=True)}
        return rebuilt(first, [stacked(f, who, hint) for f in fields])
    arrays = [np.asarray(s) for s in samples]
    shape = arrays[0].shape
    for i, a in enumerate(arrays):
        if a.shape != shape:
            raise InvalidArgument(
                f"{who}: sample {i} has shape {a.shape}, sample 0 has {shape}{hint}"
            )
    return readonly(np.stack(arrays))


def _field(samples: Sequence[Any], key: Any, first: Any, who: str, hint: str) -> list[Any]:
    """Field ``key`` of every sample, checking that each sample is structured like ``first``."""
    out = []
    for i, s in enumerate(samples):
        if isinstance(first, dict):
            same = isinstance(s, dict) and s.keys() == first.keys()
        else:
            same = isinstance(s, (tuple, list)) and len(s) == len(first)
        if not same:
            raise InvalidArgument(
                f"{who}: sample {i} is not structured like sample 0 (field {key!r}){hint}"
            )
        out.append(s[key])
    return out
