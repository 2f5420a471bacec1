"""A compiled loss's arguments: their signature, the arrays a replay rebinds, and their proxies.

:func:`signature` walks the positional and keyword arguments once per call and returns

* the **key**: everything about the arguments that a replay may not change, as a flat tuple
  compared with ``==``: the structure of tuples, lists, named tuples, dicts (lengths, keys) and
  collated batches (``tm.Collated``, by their fields),
  Python numbers and strings by value (floats by their bits: ``-0.0`` is not ``0.0``), the
  shape, strides and dtype of each array, and any other object by identity (what the program
  reads from such an object, a function say, is baked into the plan as closures and globals
  are);
* the **slots**: the numeric arrays and numpy scalars, in a fixed order, which a replay reads
  its leaves from.

Iterators and random generators are refused: a trace reads them once, a replay never, so a
replay could not answer as the eager call would.

:func:`proxied` rebuilds the arguments for a trace, each slot replaced by an
:class:`~tapem.replay.proxy.ArgArray` (in the same order), and :func:`fetch` finds a slot's view
again in a later call's slots.

>>> import numpy as np
>>> key, slots = signature(({"w": np.zeros(3)}, 2.0), {})
>>> len(slots), key == signature(({"w": np.ones(3)}, 2.0), {})[0]
(1, True)
>>> key == signature(({"w": np.zeros(3)}, 2.5), {})[0]
False
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import numpy as np

from tapem.batching.collated import Collated
from tapem.errors import InvalidArgument
from tapem.replay.proxy import ArgArray, Usage

__all__ = ["Slots", "fetch", "proxied", "signature"]

Slots = list[Any]
"""The numeric arrays and numpy scalars among a call's arguments, in walking order."""

_ndarray = np.ndarray
_VALUES = frozenset({int, bool, str, bytes, type(None)})
_KWARGS = object()  # separates the positional arguments from the keyword ones in a key
_REFUSED = (Iterator, np.random.Generator, np.random.RandomState, random.Random)


class _Same:
    """An object of no known kind in a key: equal only to itself (it stays alive with the key,
    so its ``id`` is not reused)."""

    __slots__ = ("obj",)

    def __init__(self, obj: object) -> None:
        self.obj = obj

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Same) and other.obj is self.obj

    def __hash__(self) -> int:
        return id(self.obj)


def signature(args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[tuple[Any, ...], Slots]:
    """The key of a call's arguments and their slots (see the module docstring)."""
    key: list[Any] = []
    slots: Slots = []
    _walk(args, key, slots)
    if kwargs:
        key.append(_KWARGS)
        _walk(kwargs, key, slots)
    return tuple(key), slots


def _walk(obj: Any, key: list[Any], slots: Slots) -> None:
    cls = obj.__class__
    if cls is _ndarray and not obj.dtype.hasobject:
        key += (_ndarray, obj.shape, obj.strides, obj.dtype)
        slots.append(obj)
    elif cls is tuple or cls is list:
        key += (cls, len(obj))
        for item in obj:
            _walk(item, key, slots)
    elif cls is dict:
        key += (dict, tuple(obj), tuple(map(type, obj)))
        for item in obj.values():
            _walk(item, key, slots)
    elif cls is float:
        key += (float, obj.hex())
    elif cls in _VALUES:
        key += (cls, obj)
    elif isinstance(obj, np.generic) and obj.dtype.kind in "biuf":
        key += (np.generic, obj.dtype)
        slots.append(obj)
    else:
        _walk_other(obj, key, slots)


def _walk_other(obj: Any, key: list[Any], slots: Slots) -> None:
    cls = obj.__class__
    if isinstance(obj, tuple) and hasattr(cls, "_fields"):  # a named tuple
        key += (cls, len(obj))
        for item in obj:
            _walk(item, key, slots)
    elif cls is Collated:  # a batch stored field by field: its fields, as a tuple's items
        key += (Collated,)
        _walk(obj.fields, key, slots)
    elif cls is complex:
        key += (complex, obj.real.hex(), obj.imag.hex())
    elif cls is slice:  # its bounds are plain numbers (by their reprs: 1 is not 1.0)
        key += (slice, repr(obj.start), repr(obj.stop), repr(obj.step))
    elif cls is range or obj is Ellipsis:
        key += (cls, obj)
    elif isinstance(obj, np.generic) and not obj.dtype.hasobject:
        key += (cls, obj.tobytes())
    elif isinstance(obj, _ndarray) and not obj.dtype.hasobject:  # a subclass: by value
        key += (cls, obj.shape, obj.dtype, obj.tobytes())
    elif cls is frozenset or cls is set:  # hashable members, compared by value, in order
        key += (cls, tuple((type(item), item) for item in obj))
    elif isinstance(obj, _REFUSED):
        raise InvalidArgument(
            f"tm.compile: an argument is a {cls.__name__}; a compiled loss reads its arguments "
            "when it is traced, not when it is replayed, so it cannot take an iterator or a "
            "random generator (pass a list, or a seed)"
        )
    else:
        key.append(_Same(obj))


def proxied(
    args: tuple[Any, ...], kwargs: dict[str, Any], usage: Usage
) -> tuple[tuple[Any, ...], dict[str, Any], list[str]]:
    """The arguments with each slot replaced by its proxy, in :func:`signature`'s order, and
    where each slot is (``args[0]['W']``, for the plan's listing)."""
    places: list[str] = []
    new_args = _proxied(args, "args", usage, places)
    new_kwargs = _proxied(kwargs, "kwargs", usage, places) if kwargs else {}
    return new_args, new_kwargs, places


def _proxied(obj: Any, place: str, usage: Usage, places: list[str]) -> Any:
    cls = obj.__class__
    if (cls is _ndarray and not obj.dtype.hasobject) or (
        isinstance(obj, np.generic) and obj.dtype.kind in "biuf"
    ):
        places.append(place)
        if cls is _ndarray:
            return ArgArray(obj, len(places) - 1, (), usage)
        return ArgArray(np.asarray(obj), len(places) - 1, (), usage, cls)
    if cls is tuple or cls is list:
        items = [_proxied(item, f"{place}[{i}]", usage, places) for i, item in enumerate(obj)]
        return obj if _same(items, obj) else cls(items)
    if cls is dict:
        values = [_proxied(v, f"{place}[{k!r}]", usage, places) for k, v in obj.items()]
        return obj if _same(values, obj.values()) else dict(zip(obj, values, strict=True))
    if isinstance(obj, tuple) and hasattr(cls, "_fields"):
        fields = zip(cls._fields, obj, strict=True)
        items = [_proxied(v, f"{place}.{f}", usage, places) for f, v in fields]
        return obj if _same(items, obj) else cls._make(items)
    if cls is Collated:
        fields = _proxied(obj.fields, f"{place}.fields", usage, places)
        return obj if fields is obj.fields else Collated(fields)
    return obj  # sets hold hashable values only, and the rest is taken as it is


def _same(items: list[Any], originals: Any) -> bool:
    """Whether no item was replaced by a proxy (the container is then passed as it is, so what
    the loss does to it while it is traced, it does to the caller's, as eagerly)."""
    return all(a is b for a, b in zip(items, originals, strict=True))


def fetch(slots: Slots, slot: int, keys: tuple[Any, ...]) -> Any:
    """The array at ``slot`` indexed by ``keys`` in turn (a 0-d array for a numpy scalar)."""
    value = slots[slot]
    if value.__class__ is not _ndarray:
        return np.asarray(value)
    for key in keys:
        value = value[key]
    return value
