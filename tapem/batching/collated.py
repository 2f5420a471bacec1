"""A collated batch: samples stored field by field, each field one array whose axis 0 runs
over the samples (what a data loader's ``default_collate`` gives: ``(xs, ys)``).

:class:`Collated` is a sequence of samples like a list of them (``len``, ``batch[i]`` is sample
``i``, iteration), so ``mean_scalar_over(tm.Collated((xs, ys)), loss_of)`` runs the loop as it
would over ``list(zip(xs, ys))``; a batched run (``batched=True``, ``tm.vmap``) takes each field
as it is, without splitting it into samples and stacking them again.

>>> import numpy as np
>>> batch = Collated({"x": np.zeros((3, 2)), "y": np.arange(3)})
>>> len(batch), batch[1]["x"].shape, int(batch[2]["y"])
(3, (2,), 2)
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any, overload

import numpy as np

from tapem.batching.trees import leaves, stacked, tree_map
from tapem.errors import InvalidArgument

__all__ = ["Collated"]


class Collated(Sequence[Any]):
    """The samples of ``fields``: an array, or a tuple, list or dict of them (nested as deep as
    you like), every array with the same length along axis 0, the number of samples."""

    __slots__ = ("_size", "fields")

    def __init__(self, fields: Any) -> None:
        sizes = [_length(a) for a in leaves(fields)]
        if not sizes:
            raise InvalidArgument("tm.Collated: give arrays (or tuples, lists or dicts of them)")
        if any(s != sizes[0] for s in sizes):
            raise InvalidArgument(
                f"tm.Collated: every field needs one row per sample; the fields have "
                f"{', '.join(map(str, sizes))} rows"
            )
        self.fields = fields
        self._size = sizes[0]

    @classmethod
    def from_samples(cls, samples: Sequence[Any]) -> Collated:
        """The samples (arrays, or tuples, lists or dicts of arrays, alike in structure and
        shapes) stacked field by field into new, read-only arrays (a leaf of them needs no
        copy): a ``DataLoader``'s ``collate=``."""
        if len(samples) == 0:
            raise InvalidArgument("tm.Collated.from_samples: no samples")
        return cls(stacked(list(samples), "tm.Collated.from_samples"))

    def __len__(self) -> int:
        return self._size

    @overload
    def __getitem__(self, index: int) -> Any: ...

    @overload
    def __getitem__(self, index: slice) -> Collated: ...

    def __getitem__(self, index: int | slice) -> Any:
        if isinstance(index, slice):
            return Collated(tree_map(self.fields, lambda a: a[index]))
        if not -self._size <= index < self._size:
            raise IndexError(f"sample {index} of a batch of {self._size}")
        return tree_map(self.fields, lambda a: a[index])

    def __iter__(self) -> Iterator[Any]:
        return (self[i] for i in range(self._size))

    def map(self, f: Callable[[np.ndarray[Any, Any]], Any]) -> Any:
        """The fields with each array replaced by ``f(array)`` (its structure kept)."""
        return tree_map(self.fields, f)

    def __repr__(self) -> str:
        shapes = tree_map(self.fields, lambda a: f"{np.asarray(a).dtype}{list(np.shape(a))}")
        return f"Collated({shapes})"


def _length(a: Any) -> int:
    shape = np.shape(a)
    if not shape:
        raise InvalidArgument(
            "tm.Collated: a field is a scalar; every field needs an axis 0 over the samples"
        )
    return int(shape[0])
