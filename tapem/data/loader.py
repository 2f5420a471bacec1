"""``DataLoader``: epochs of batches over a :class:`~tapem.Dataset`, with TorchLean's shuffle.

Iterating a loader runs one epoch. With ``shuffle=True`` each epoch shuffles the dataset with
:meth:`Dataset.shuffle <tapem.Dataset.shuffle>` and keeps the returned key as the next epoch's
seed, exactly as a TorchLean training loop threads its seed. Each batch is the list of its
samples passed through ``collate`` (by default :func:`default_collate`, which stacks arrays).

>>> import numpy as np
>>> samples = [(np.array([float(i), 0.0]), i % 2) for i in range(5)]
>>> loader = DataLoader(samples, batch_size=2)
>>> [x.shape for x, y in loader]
[(2, 2), (2, 2), (1, 2)]
>>> len(loader)
3
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, Generic, TypeVar, overload

import numpy as np

from tapem.arrays import readonly
from tapem.data.dataset import Dataset, check_batching
from tapem.errors import InvalidArgument, require_keys

__all__ = ["DataLoader", "default_collate"]

T = TypeVar("T")
B = TypeVar("B")

_STACKABLE = (np.ndarray, np.generic, bool, int, float, complex)


def default_collate(samples: Sequence[Any]) -> Any:
    """Stack a list of samples into one batch, field by field.

    - arrays and numbers are stacked with :func:`numpy.stack` along a new leading axis;
    - tuples (named tuples too) give a tuple of the same type whose fields are collated;
    - dicts give a dict whose values are collated, key by key.

    Anything else (or fields whose shapes differ) is an :class:`~tapem.InvalidArgument`: pass
    ``collate=list`` to get the samples themselves, or a function that builds your batch.

    >>> import numpy as np
    >>> x, y = default_collate([(np.zeros(3), 1), (np.ones(3), 0)])
    >>> assert x.shape == (2, 3) and y.tolist() == [1, 0]
    >>> default_collate([{"a": 1.0}, {"a": 2.0}])["a"].tolist()
    [1.0, 2.0]
    """
    if len(samples) == 0:
        raise InvalidArgument("default_collate: no samples to collate")
    return _collate(list(samples), "sample")


def _collate(samples: list[Any], where: str) -> Any:
    first = samples[0]
    if isinstance(first, _STACKABLE):
        arrays = [np.asarray(s) for s in samples]
        shapes = {a.shape for a in arrays}
        if len(shapes) > 1:
            raise InvalidArgument(
                f"default_collate: {where} shapes differ within the batch "
                f"({', '.join(str(s) for s in sorted(shapes))}); pad them to one shape or pass "
                "collate=list"
            )
        return readonly(np.stack(arrays))  # immutable: a leaf can record it without copying
    if isinstance(first, tuple):
        if any(not isinstance(s, tuple) or len(s) != len(first) for s in samples):
            raise InvalidArgument(
                f"default_collate: every {where} must be a tuple of {len(first)} fields"
            )
        fields = [_collate([s[i] for s in samples], f"{where}[{i}]") for i in range(len(first))]
        return type(first)(*fields) if hasattr(first, "_fields") else tuple(fields)
    if isinstance(first, Mapping):
        keys = list(first)
        if any(not isinstance(s, Mapping) or list(s) != keys for s in samples):
            raise InvalidArgument(f"default_collate: every {where} must be a dict with keys {keys}")
        return {k: _collate([s[k] for s in samples], f"{where}[{k!r}]") for k in keys}
    raise InvalidArgument(
        f"default_collate: cannot stack a {where} of type {type(first).__name__}; pass "
        "collate=list to get the samples as a list, or a function that builds the batch"
    )


class DataLoader(Generic[T, B]):
    """Batches of a dataset, one epoch per iteration (PyTorch's ``DataLoader``, TorchLean shuffle).

    - ``batch_size``: samples per batch (the last batch may be short unless ``drop_last``);
    - ``shuffle``: shuffle each epoch with :meth:`Dataset.shuffle <tapem.Dataset.shuffle>`,
      starting from ``seed`` and carrying the returned key from epoch to epoch;
    - ``drop_last``: drop a last batch shorter than ``batch_size``;
    - ``collate``: turns the list of a batch's samples into the batch (default:
      :func:`default_collate`; ``collate=list`` gives the samples, ``Dataset.from_list`` a
      dataset for :func:`~tapem.mean_scalar_over_dataset`).

    ``len(loader)`` is the number of batches per epoch. Each ``iter(loader)`` starts the next
    epoch (shuffling right away). A batch size ``<= 0`` is an :class:`~tapem.InvalidArgument`
    and an empty dataset an :class:`~tapem.EmptyDataset`, both raised here, as
    :meth:`Dataset.batches <tapem.Dataset.batches>` raises them, with ``tag`` in the message.

    >>> loader = DataLoader(list(range(6)), batch_size=4, shuffle=True, collate=list)
    >>> epoch1, epoch2 = list(loader), list(loader)
    >>> [len(b) for b in epoch1], loader.epoch
    ([4, 2], 2)
    >>> sorted(sum(epoch1, [])) == sorted(sum(epoch2, [])) == list(range(6))
    True
    """

    @overload
    def __init__(
        self: DataLoader[T, Any],
        dataset: Dataset[T] | Sequence[T],
        batch_size: int = 1,
        *,
        shuffle: bool = False,
        seed: int = 0,
        drop_last: bool = False,
        tag: str = "DataLoader",
    ) -> None: ...

    @overload
    def __init__(
        self,
        dataset: Dataset[T] | Sequence[T],
        batch_size: int = 1,
        *,
        shuffle: bool = False,
        seed: int = 0,
        drop_last: bool = False,
        collate: Callable[[list[T]], B],
        tag: str = "DataLoader",
    ) -> None: ...

    def __init__(
        self,
        dataset: Dataset[T] | Sequence[T],
        batch_size: int = 1,
        *,
        shuffle: bool = False,
        seed: int = 0,
        drop_last: bool = False,
        collate: Callable[[list[T]], Any] = default_collate,
        tag: str = "DataLoader",
    ) -> None:
        self._dataset: Dataset[T] = dataset if isinstance(dataset, Dataset) else Dataset(dataset)
        self._batch_size = check_batching(len(self._dataset), batch_size, tag)
        self._shuffle = bool(shuffle)
        self._drop_last = bool(drop_last)
        self._collate = collate
        self.seed = seed
        """The seed of the next epoch's shuffle (the key the previous shuffle returned)."""
        self.epoch = 0
        """The number of epochs started so far."""

    @property
    def dataset(self) -> Dataset[T]:
        """The dataset, in its original order."""
        return self._dataset

    @property
    def batch_size(self) -> int:
        return self._batch_size

    @property
    def shuffle(self) -> bool:
        return self._shuffle

    @property
    def drop_last(self) -> bool:
        return self._drop_last

    def __len__(self) -> int:
        n, size = len(self._dataset), self._batch_size
        return n // size if self._drop_last else -(-n // size)

    def __iter__(self) -> Iterator[B]:
        order = self._dataset
        if self._shuffle:
            order, self.seed = order.shuffle(self.seed)
        self.epoch += 1
        return self._batches(order.to_list())

    def _batches(self, samples: list[T]) -> Iterator[B]:
        size = self._batch_size
        for start in range(0, len(self) * size, size):
            yield self._collate(samples[start : start + size])

    def state_dict(self) -> dict[str, int]:
        """``{"seed": ..., "epoch": ...}``: what a resumed run needs to continue the same epochs.

        >>> loader = DataLoader([1, 2, 3], shuffle=True, seed=7, collate=list)
        >>> _ = list(loader)
        >>> resumed = DataLoader([1, 2, 3], shuffle=True, collate=list)
        >>> resumed.load_state_dict(loader.state_dict())
        >>> assert list(resumed) == list(loader)
        """
        return {"seed": self.seed, "epoch": self.epoch}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore the seed and epoch counter saved by :meth:`state_dict`."""
        require_keys("DataLoader.load_state_dict", state, ("seed", "epoch"))
        self.seed = int(state["seed"])
        self.epoch = int(state["epoch"])

    def __repr__(self) -> str:
        return (
            f"DataLoader(<{len(self._dataset)} samples>, batch_size={self._batch_size}, "
            f"shuffle={self._shuffle}, drop_last={self._drop_last})"
        )
