"""``Dataset``: an immutable sequence of samples (TorchLean's ``Train.Dataset``).

A dataset never changes: :meth:`Dataset.map`, :meth:`Dataset.split_at`, :meth:`Dataset.shuffle`
and :meth:`Dataset.batches` return new datasets. The shuffle is TorchLean's deterministic one
(a linear congruential generator, :func:`lcg`), so the same seed gives the same order in
TorchLean and in tapem.

>>> ds = Dataset.from_list([10, 11, 12, 13, 14])
>>> [batch.to_list() for batch in ds.batches(2)]
[[10, 11], [12, 13], [14]]
>>> shuffled, next_seed = ds.shuffle(0)
>>> sorted(shuffled.to_list()) == ds.to_list()
True
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable, Iterator
from typing import Generic, TypeVar, overload

from tapem.errors import EmptyDataset, InvalidArgument

__all__ = ["LCG_MODULUS", "Dataset", "lcg"]

T = TypeVar("T")
U = TypeVar("U")

LCG_MODULUS = 2**31
"""The modulus of :func:`lcg` (keys and seeds it returns are in ``[0, 2**31)``)."""


def lcg(seed: int) -> int:
    """One step of TorchLean's shuffle generator: ``(1103515245 * seed + 12345) mod 2**31``.

    >>> lcg(0), lcg(12345)
    (12345, 1406932606)
    """
    return (1103515245 * seed + 12345) % LCG_MODULUS


class Dataset(Generic[T]):
    """A finite, ordered, immutable collection of samples.

    Build one with :meth:`from_list` (or ``Dataset(iterable)``). It supports ``len``, iteration,
    indexing by ``int`` (a sample) and by ``slice`` (a dataset). Samples can be anything (tuples
    of arrays, numbers, ...); the dataset stores references to them and never copies or writes
    to them.

    >>> ds = Dataset.from_list([(0.0, 1.0), (1.0, 3.0), (2.0, 5.0)])
    >>> len(ds), ds[1], ds[-1]
    (3, (1.0, 3.0), (2.0, 5.0))
    >>> ds[1:].to_list()
    [(1.0, 3.0), (2.0, 5.0)]
    """

    __slots__ = ("_items",)

    def __init__(self, items: Iterable[T] = ()) -> None:
        self._items: tuple[T, ...] = tuple(items)

    @classmethod
    def from_list(cls, items: Iterable[T]) -> Dataset[T]:
        """A dataset of ``items``, in order (any iterable: a list, a tuple, an array's rows).

        >>> Dataset.from_list(range(3)).to_list()
        [0, 1, 2]
        """
        return cls(items)

    def to_list(self) -> list[T]:
        """The samples, in order, as a new list.

        >>> Dataset.from_list(["a", "b"]).to_list()
        ['a', 'b']
        """
        return list(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[T]:
        return iter(self._items)

    @overload
    def __getitem__(self, index: int) -> T: ...

    @overload
    def __getitem__(self, index: slice) -> Dataset[T]: ...

    def __getitem__(self, index: int | slice) -> T | Dataset[T]:
        if isinstance(index, slice):
            return Dataset(self._items[index])
        return self._items[index]

    def __repr__(self) -> str:
        return f"Dataset(<{len(self._items)} samples>)"

    def map(self, f: Callable[[T], U]) -> Dataset[U]:
        """A dataset of ``f(x)`` for each sample ``x``, in order.

        >>> Dataset.from_list([1, 2, 3]).map(lambda x: x * x).to_list()
        [1, 4, 9]
        """
        return Dataset(f(x) for x in self._items)

    def split_at(self, n: int) -> tuple[Dataset[T], Dataset[T]]:
        """The first ``n`` samples and the rest (TorchLean's ``splitAt``).

        ``n`` larger than the dataset gives ``(everything, empty)``. A negative ``n`` is an
        :class:`~tapem.InvalidArgument` (it has no meaning here; Python's "from the end" is
        ``split_at(len(ds) - k)``).

        >>> train, test = Dataset.from_list([1, 2, 3, 4, 5]).split_at(3)
        >>> train.to_list(), test.to_list()
        ([1, 2, 3], [4, 5])
        """
        if n < 0:
            raise InvalidArgument(
                f"split_at: n must be >= 0, got {n}; to split k samples off the end use "
                "split_at(len(ds) - k)"
            )
        return Dataset(self._items[:n]), Dataset(self._items[n:])

    def shuffle(self, seed: int) -> tuple[Dataset[T], int]:
        """TorchLean's deterministic shuffle: ``(shuffled dataset, seed for the next epoch)``.

        Sample ``i`` gets the key ``lcg^(i+1)(seed)`` (iterate ``s = lcg(s)``, pairing each
        sample with the new ``s``); the samples are sorted by key, ascending (stable). The
        second result is the last key, which seeds the next epoch's shuffle; an empty dataset
        is returned unchanged with ``seed`` itself.

        >>> shuffled, next_seed = Dataset.from_list(["a", "b", "c"]).shuffle(0)
        >>> keys = [lcg(0), lcg(lcg(0)), lcg(lcg(lcg(0)))]
        >>> assert next_seed == keys[-1]
        >>> assert shuffled.to_list() == [x for _, x in sorted(zip(keys, "abc"))]
        """
        keyed: list[tuple[int, T]] = []
        s = seed
        for x in self._items:
            s = lcg(s)
            keyed.append((s, x))
        keyed.sort(key=operator.itemgetter(0))
        return Dataset(x for _, x in keyed), s

    def batches(self, batch_size: int, *, tag: str = "batches") -> list[Dataset[T]]:
        """``ceil(n / batch_size)`` consecutive batches, each a :class:`Dataset`.

        Every batch has ``batch_size`` samples except the last, which holds what is left. A
        batch is a dataset so that it feeds :func:`~tapem.mean_scalar_over_dataset` directly.

        Raises :class:`~tapem.InvalidArgument` (``"<tag>: batchSize must be > 0"``) when
        ``batch_size <= 0`` and :class:`~tapem.EmptyDataset` (``"<tag>: empty dataset"``) when
        the dataset is empty.

        >>> [b.to_list() for b in Dataset.from_list(range(7)).batches(3)]
        [[0, 1, 2], [3, 4, 5], [6]]
        """
        size = check_batching(len(self._items), batch_size, tag)
        items = self._items
        return [Dataset(items[i : i + size]) for i in range(0, len(items), size)]


def check_batching(n: int, batch_size: int, tag: str) -> int:
    """Raise the errors of :meth:`Dataset.batches` for ``n`` samples; return the batch size."""
    try:
        size = -1 if isinstance(batch_size, bool) else operator.index(batch_size)
    except TypeError:
        size = -1
    if size <= 0:
        raise InvalidArgument(
            f"{tag}: batchSize must be > 0 (got {batch_size!r}); pass a positive integer"
        )
    if n == 0:
        raise EmptyDataset(tag)
    return size
