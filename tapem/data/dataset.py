"""``Dataset``: an immutable sequence of samples (TorchLean's ``Train.Dataset``)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Generic, TypeVar

__all__ = ["Dataset"]

T = TypeVar("T")


class Dataset(Generic[T]):
    """A finite, ordered, immutable collection of samples.

    >>> ds = Dataset.from_list([(0.0, 1.0), (1.0, 3.0)])
    >>> len(ds), ds.to_list()[1]
    (2, (1.0, 3.0))
    """

    __slots__ = ("_items",)

    def __init__(self, items: Iterable[T] = ()) -> None:
        self._items: tuple[T, ...] = tuple(items)

    @classmethod
    def from_list(cls, items: Sequence[T]) -> Dataset[T]:
        """A dataset of ``items``, in order."""
        return cls(items)

    def to_list(self) -> list[T]:
        """The samples, in order, as a new list."""
        return list(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[T]:
        return iter(self._items)

    def __repr__(self) -> str:
        return f"Dataset(<{len(self._items)} samples>)"
