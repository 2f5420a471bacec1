"""A compiled loss's array arguments while it is traced: proxies that note how they are used.

:func:`tapem.compile` traces a loss once per signature, with each numeric array (and numpy
scalar) among its arguments replaced by an :class:`ArgArray`. A proxy reads like the array it
stands for (``isinstance(x, np.ndarray)`` holds, and ``x.__class__`` is ``np.ndarray``), and
notes what the program does with it:

* **it reaches a leaf unchanged** (``tm.param(x)``, ``tm.const(x)``, a row ``xs[i]``, an
  element ``ys[i]``): nothing to note here; the recorder (:class:`~tapem.replay.Recorder`)
  sees the proxy arrive in the leaf, and the replay rebinds that leaf to whatever array is at
  the same place in the next call's arguments;
* **its structure is read** (``shape``, ``dtype``, ``ndim``, ``size``, ``strides``, ``len(x)``,
  ``np.shape(x)``, ``np.zeros_like(x)``): nothing to note, the signature holds all of it;
* **basic indexing and iteration** (``xs[i]``, ``xs[1:, 0]``, ``for row in xs``,
  ``zip(xs, ys)``): a proxy of the view, which remembers the index, so a per-sample loss's rows
  are rebound by indexing the next call's array the same way;
* **anything else** (arithmetic, ufuncs, ``np.asarray``, methods, ``float(x)``, ``if x:``,
  printing): the program read the values. The proxy is noted as *computed*: its bytes become
  part of the signature, and a call with other values traces again. The program gets the real
  values, so what it computes is exactly what it would compute eagerly.

Limits: ``type(x)`` is :class:`ArgArray` (``isinstance`` and ``x.__class__`` are faithful, so
write ``isinstance(x, np.ndarray)``), and ``id(x)`` / ``x is y`` differ from the caller's.

>>> import numpy as np
>>> usage = Usage()
>>> xs = ArgArray(np.arange(6.0).reshape(3, 2), 0, (), usage)
>>> rows = list(xs)
>>> isinstance(rows[1], np.ndarray), rows[1].shape, rows[1].keys, usage.computed
(True, (2,), ((1,),), {})
>>> float((rows[1] * 2).sum()), [proxy.keys for proxy, _ in usage.computed.values()]
(10.0, [((1,),)])
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

__all__ = ["ArgArray", "Usage", "basic_key", "plain", "unwrap"]

_STRUCTURAL_FUNCTIONS = frozenset(
    {np.shape, np.ndim, np.size, np.result_type, np.zeros_like, np.ones_like, np.full_like}
)
"""numpy functions that read only an array's structure (the ``*_like`` functions keep its
memory layout, which the signature holds too)."""


class Usage:
    """What one trace noted: the proxies whose values the program read, each with a snapshot
    of its bytes taken before the first use (``computed``: ``id(proxy) -> (proxy, bytes)``)."""

    __slots__ = ("computed",)

    def __init__(self) -> None:
        self.computed: dict[int, tuple[ArgArray, bytes]] = {}

    def note(self, proxy: ArgArray) -> None:
        if id(proxy) not in self.computed:
            self.computed[id(proxy)] = (proxy, proxy.real.tobytes())


class ArgArray:
    """An argument array (or a view of one) of a loss being traced; see the module docstring.

    ``real`` is the array itself, or the view it stands for (a 0-d view for one element);
    ``slot`` is the argument array's position among the arguments' arrays, ``keys`` the basic
    indices that lead from it to ``real``; ``kind`` is what the program sees (``np.ndarray``,
    or a numpy scalar type such as ``np.float64`` for one element).
    """

    __slots__ = ("keys", "kind", "real", "slot", "usage")

    def __init__(
        self, real: Any, slot: int, keys: tuple[Any, ...], usage: Usage, kind: type = np.ndarray
    ) -> None:
        self.real = real
        self.slot = slot
        self.keys = keys
        self.usage = usage
        self.kind = kind

    # what isinstance() and x.__class__ see: the array (or scalar) this stands for
    __class__ = property(lambda self: self.kind)

    def value(self) -> Any:
        """What computations see: the array, or the numpy scalar of one element."""
        return self.real if self.kind is np.ndarray else self.real[()]

    def computed(self) -> Any:
        """Note that the program reads the values; return them."""
        self.usage.note(self)
        return self.value()

    def leaf_array(self) -> ArgArray:
        """What a leaf made of this holds: the proxy of the array (of a 0-d array for one
        element, as ``np.asarray`` of a numpy scalar gives); see
        :func:`tapem.requests.leaf_array`."""
        if self.kind is np.ndarray:
            return self
        return ArgArray(self.real, self.slot, self.keys, self.usage)

    __tapem_leaf__ = leaf_array

    def view(self, key: tuple[Any, ...]) -> ArgArray:
        """The proxy of ``real[key]`` (``key`` a normalized basic index)."""
        real = self.real[key]
        kind: type = np.ndarray
        if real.__class__ is not np.ndarray:  # one element: numpy gives a scalar
            kind = real.__class__
            key = (*key, Ellipsis)
            real = self.real[key]
        return ArgArray(real, self.slot, (*self.keys, key), self.usage, kind)

    # --- structure: read without noting anything (a 0-d view's are its element's) ------------

    shape = property(lambda self: self.real.shape)
    dtype = property(lambda self: self.real.dtype)
    ndim = property(lambda self: self.real.ndim)
    size = property(lambda self: self.real.size)
    itemsize = property(lambda self: self.real.itemsize)
    nbytes = property(lambda self: self.real.nbytes)
    strides = property(lambda self: self.real.strides)

    def __getattr__(self, name: str) -> Any:  # anything else (methods, .T, .flags): values
        if name.startswith("__"):  # numpy's protocols (__array_interface__, ...): go by __array__
            raise AttributeError(name)
        return getattr(self.computed(), name)

    def __len__(self) -> int:
        return len(self.value())

    def __iter__(self) -> Iterator[Any]:
        if self.kind is not np.ndarray or self.real.ndim == 0:
            return iter(self.computed())  # raises as numpy does
        return (self.view((i,)) for i in range(len(self.real)))

    def __getitem__(self, key: Any) -> Any:
        if self.kind is np.ndarray:
            basic = basic_key(key)
            if basic is not None:
                return self.view(basic)
        return self.computed()[unwrap(key)]

    # --- numpy's protocols: the values are read ----------------------------------------------

    def __array__(self, dtype: Any = None, copy: Any = None) -> Any:
        if copy is None:
            return np.asarray(self.computed(), dtype=dtype)
        return np.array(self.computed(), dtype=dtype, copy=copy)

    def __array_ufunc__(self, ufunc: np.ufunc, method: str, *inputs: Any, **kwargs: Any) -> Any:
        return getattr(ufunc, method)(*unwrap(inputs), **unwrap(kwargs))

    def __array_function__(self, func: Any, types: Any, args: Any, kwargs: Any) -> Any:
        if func in _STRUCTURAL_FUNCTIONS:
            return func(*plain(args), **plain(kwargs))
        return func(*unwrap(args), **unwrap(kwargs))

    def __setitem__(self, key: Any, value: Any) -> None:
        self.computed()[unwrap(key)] = unwrap(value)

    def __contains__(self, item: Any) -> bool:
        return unwrap(item) in self.computed()

    def __bool__(self) -> bool:
        return bool(self.computed())

    def __float__(self) -> float:
        return float(self.computed())

    def __int__(self) -> int:
        return int(self.computed())

    def __index__(self) -> int:
        return operator.index(self.computed())

    def __complex__(self) -> complex:
        return complex(self.computed())

    def __round__(self, ndigits: int | None = None) -> Any:
        return round(self.computed(), ndigits)

    def __hash__(self) -> int:
        return hash(self.computed())  # a TypeError for arrays, as for numpy's

    def __repr__(self) -> str:
        return repr(self.computed())

    def __str__(self) -> str:
        return str(self.computed())

    def __format__(self, spec: str) -> str:
        return format(self.computed(), spec)

    def __reduce_ex__(self, protocol: Any) -> Any:  # copy and pickle give the real array
        return self.computed().__reduce_ex__(protocol)


def _forward(op: Callable[[Any, Any], Any]) -> Callable[[ArgArray, Any], Any]:
    return lambda self, other: op(self.computed(), unwrap(other))


def _reflected(op: Callable[[Any, Any], Any]) -> Callable[[ArgArray, Any], Any]:
    return lambda self, other: op(unwrap(other), self.computed())


def _unary(op: Callable[[Any], Any]) -> Callable[[ArgArray], Any]:
    return lambda self: op(self.computed())


_BINARY = {
    "add": operator.add, "sub": operator.sub, "mul": operator.mul, "matmul": operator.matmul,
    "truediv": operator.truediv, "floordiv": operator.floordiv, "mod": operator.mod,
    "pow": operator.pow, "and": operator.and_, "or": operator.or_, "xor": operator.xor,
    "lshift": operator.lshift, "rshift": operator.rshift, "divmod": divmod,
}  # fmt: skip
for _name, _op in _BINARY.items():
    setattr(ArgArray, f"__{_name}__", _forward(_op))
    setattr(ArgArray, f"__r{_name}__", _reflected(_op))
for _name in ("lt", "le", "gt", "ge", "eq", "ne"):
    setattr(ArgArray, f"__{_name}__", _forward(getattr(operator, _name)))
for _name in ("add", "sub", "mul", "matmul", "truediv", "floordiv", "mod", "pow", "and", "or",
              "xor", "lshift", "rshift"):  # fmt: skip
    setattr(ArgArray, f"__i{_name}__", _forward(getattr(operator, f"i{_name}")))
for _name in ("neg", "pos", "abs", "invert"):
    setattr(ArgArray, f"__{_name}__", _unary(getattr(operator, _name)))
del _name, _op


def unwrap(tree: Any) -> Any:
    """``tree`` (an argument of a numpy call: lists, tuples and dicts are searched) with each
    proxy replaced by its values, noting that they are read."""
    return _map(tree, ArgArray.computed)


def plain(tree: Any) -> Any:
    """Like :func:`unwrap`, for calls that read only the structure: nothing is noted."""
    return _map(tree, ArgArray.value)


def _map(tree: Any, of_proxy: Callable[[ArgArray], Any]) -> Any:
    """``tree`` with ``of_proxy(p)`` for each proxy ``p`` in it (lists, tuples and dicts are
    searched)."""
    if type(tree) is ArgArray:
        return of_proxy(tree)
    cls = tree.__class__
    if cls is tuple or cls is list:
        return cls(_map(item, of_proxy) for item in tree)
    if cls is dict:
        return {key: _map(item, of_proxy) for key, item in tree.items()}
    return tree


def _component(item: Any) -> Any:
    """One component of an index, normalized (ints as ``int``), or ``_ADVANCED`` if it makes
    the index an advanced one (arrays, lists, booleans)."""
    cls = item.__class__
    if cls is int or item is None or item is Ellipsis:
        return item
    if cls is slice:
        try:
            start, stop, step = (None if b is None else _integer(b) for b in _bounds(item))
        except TypeError:
            return _ADVANCED  # numpy says what is wrong with it
        return slice(start, stop, step)
    try:
        return _integer(item)
    except TypeError:
        return _ADVANCED


def _bounds(item: slice) -> tuple[Any, Any, Any]:
    return item.start, item.stop, item.step


def _integer(item: Any) -> int:
    """An index that is an integer: a Python or numpy integer, or the proxy of one element (its
    value is read); a TypeError otherwise (booleans too: numpy takes them as masks)."""
    if item.__class__ is int:
        return item
    if isinstance(item, (bool, np.bool_)) or not isinstance(item, (int, np.integer)):
        raise TypeError
    return operator.index(item)


_ADVANCED = object()


def basic_key(key: Any) -> tuple[Any, ...] | None:
    """``key`` as a tuple of basic-index components (ints, slices of ints, ``None``, ``...``),
    or ``None`` for an advanced index (arrays, lists, booleans).

    >>> basic_key(3), basic_key((np.int64(1), slice(None, 2))), basic_key([0, 1])
    ((3,), (1, slice(None, 2, None)), None)
    """
    items = key if key.__class__ is tuple else (key,)
    out = tuple(_component(item) for item in items)
    return None if any(item is _ADVANCED for item in out) else out
