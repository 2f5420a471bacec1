"""Per-sample data in a batched loss: the samples stacked, read as one sample.

When a per-sample loss runs once on the whole batch (``mean_scalar_over(..., batched=True)``,
``tm.vmap``), it receives, instead of one sample's arrays, :class:`Stacked` arrays: all the
samples' values stacked on a leading axis, that read like one sample. What a loss commonly
does with its raw sample works, on every sample at once and with the same result as the loop:

* ``x.shape``, ``x.dtype``, ``x.ndim``, ``len(x)``: one sample's;
* arithmetic, comparisons and numpy's elementwise functions (``x / 255``, ``np.log1p(x)``,
  ``y == 3``), with plain numbers and arrays too (broadcast as against one sample);
* indexing (``x[0]``, ``x[:, 1:]``), ``x.astype(...)``, ``x.reshape(...)``, ``x.T``, and
  iterating over the first axis;
* any other numpy function (``np.concatenate``, ``np.sort``, ...), sample by sample.

What needs one sample's *values* in Python (``if x[0] > 0:``, ``float(x)``, ``x.item()``,
``np.asarray(x)``, ``x.tolist()``) cannot be answered once for the whole batch, so it is
refused, at its line, with :class:`~tapem.InvalidArgument`: write the choice with ops on
handles (``ops.where``), or run the loss sample by sample (``batched=False``).

>>> import numpy as np
>>> x = Stacked(np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]))  # 3 samples of shape (2,)
>>> x.shape, len(x), (x / 2)[1].shape
((2,), 2, ())
>>> assert np.array_equal((x / 2)[1].stacked, [1.0, 2.0, 3.0])
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, NoReturn

import numpy as np

from tapem.batching.collated import Collated
from tapem.batching.trees import leaves, stacked, tree_map
from tapem.errors import InvalidArgument
from tapem.expressions import Arithmetic

__all__ = ["Stacked", "refuse", "stack_samples"]


def refuse(what: str) -> NoReturn:
    """Raise the error for per-sample code that needs one sample's values."""
    raise InvalidArgument(
        f"{what} needs the values of one sample, but a batched loss runs once on all the "
        "samples, stacked; write the choice with ops on handles (e.g. ops.where), or run the "
        "loss sample by sample (batched=False)"
    )


class Stacked:
    """All the samples' values of one field, stacked on axis 0, read as one sample's array.

    ``level`` is the batched run it belongs to (what a leaf made from it is batched over).
    """

    __slots__ = ("level", "stacked")
    __tapem_per_sample__ = True  # a leaf of it is made by its batched run (see tapem.requests)
    __array_priority__ = 1000  # numpy arrays on the left defer to our reflected operators

    def __init__(self, stacked: np.ndarray[Any, Any] | Stacked, level: Any = None) -> None:
        # (a Stacked of the outer run: the samples of a batched run nested in another)
        self.stacked: np.ndarray[Any, Any] = stacked  # type: ignore[assignment]
        self.level = level

    # --- what one sample looks like ------------------------------------------------------------

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.stacked.shape[1:])

    @property
    def dtype(self) -> Any:
        return self.stacked.dtype

    @property
    def ndim(self) -> int:
        return self.stacked.ndim - 1

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    def __len__(self) -> int:
        if self.ndim == 0:
            raise TypeError("len() of a 0-d sample")
        return int(self.stacked.shape[1])

    def __repr__(self) -> str:
        return f"Stacked({len(self.stacked)} samples of shape {self.shape}, {self.dtype})"

    # --- per-sample computations, on every sample at once --------------------------------------

    def __getitem__(self, key: Any) -> Stacked:
        items = key if isinstance(key, tuple) else (key,)
        if any(isinstance(item, Stacked) for item in items):
            refuse("indexing with per-sample values")
        return Stacked(self.stacked[(slice(None), *items)], self.level)

    def __iter__(self) -> Iterator[Stacked]:
        for i in range(len(self)):
            yield self[i]

    def astype(self, dtype: Any, *args: Any, **kwargs: Any) -> Stacked:
        return Stacked(self.stacked.astype(dtype, *args, **kwargs), self.level)

    def reshape(self, *shape: Any) -> Stacked:
        target = shape[0] if len(shape) == 1 and not isinstance(shape[0], int) else shape
        target = (target,) if isinstance(target, int) else tuple(target)
        return Stacked(self.stacked.reshape((len(self.stacked), *target)), self.level)

    def transpose(self, *axes: Any) -> Stacked:
        order = axes[0] if len(axes) == 1 and not isinstance(axes[0], int) else axes
        order = tuple(order) if order else tuple(range(self.ndim))[::-1]
        axes = (0, *(a % max(self.ndim, 1) + 1 for a in order))
        return Stacked(self.stacked.transpose(axes), self.level)

    @property
    def T(self) -> Stacked:  # noqa: N802 - numpy's spelling
        return self.transpose()

    def __array_ufunc__(self, ufunc: np.ufunc, method: str, *inputs: Any, **kwargs: Any) -> Any:
        if any(isinstance(x, Arithmetic) for x in inputs):
            return NotImplemented  # with a handle: the handle's ufunc makes it a const leaf
        if method != "__call__" or "out" in kwargs:
            return _per_sample(getattr(ufunc, method), inputs, kwargs)
        level = _level(inputs)
        rank = max(x.ndim if isinstance(x, Stacked) else np.ndim(x) for x in inputs)
        arrays = [_aligned(x, rank) if isinstance(x, Stacked) else x for x in inputs]
        result = ufunc(*arrays, **kwargs)
        if isinstance(result, tuple):
            return tuple(Stacked(r, level) for r in result)
        return Stacked(result, level)

    def __array_function__(self, func: Any, types: Any, args: Any, kwargs: Any) -> Any:
        return _per_sample(func, args, kwargs)

    # --- operators: numpy's ufuncs, per sample ------------------------------------------------

    def __add__(self, other: Any) -> Any:
        return np.add(self, other)

    def __radd__(self, other: Any) -> Any:
        return np.add(other, self)

    def __sub__(self, other: Any) -> Any:
        return np.subtract(self, other)

    def __rsub__(self, other: Any) -> Any:
        return np.subtract(other, self)

    def __mul__(self, other: Any) -> Any:
        return np.multiply(self, other)

    def __rmul__(self, other: Any) -> Any:
        return np.multiply(other, self)

    def __truediv__(self, other: Any) -> Any:
        return np.true_divide(self, other)

    def __rtruediv__(self, other: Any) -> Any:
        return np.true_divide(other, self)

    def __floordiv__(self, other: Any) -> Any:
        return np.floor_divide(self, other)

    def __mod__(self, other: Any) -> Any:
        return np.remainder(self, other)

    def __pow__(self, other: Any) -> Any:
        return np.power(self, other)

    def __rpow__(self, other: Any) -> Any:
        return np.power(other, self)

    def __matmul__(self, other: Any) -> Any:
        return _per_sample(np.matmul, (self, other), {})

    def __rmatmul__(self, other: Any) -> Any:
        return _per_sample(np.matmul, (other, self), {})

    def __lt__(self, other: Any) -> Any:
        return np.less(self, other)

    def __le__(self, other: Any) -> Any:
        return np.less_equal(self, other)

    def __gt__(self, other: Any) -> Any:
        return np.greater(self, other)

    def __ge__(self, other: Any) -> Any:
        return np.greater_equal(self, other)

    def __eq__(self, other: Any) -> Any:
        return np.equal(self, other)

    def __ne__(self, other: Any) -> Any:
        return np.not_equal(self, other)

    def __and__(self, other: Any) -> Any:
        return np.bitwise_and(self, other)

    def __or__(self, other: Any) -> Any:
        return np.bitwise_or(self, other)

    def __neg__(self) -> Any:
        return np.negative(self)

    def __abs__(self) -> Any:
        return np.absolute(self)

    def __invert__(self) -> Any:
        return np.invert(self)

    # --- what needs one sample's values: refused ----------------------------------------------

    def __bool__(self) -> bool:
        refuse("a Python `if` or `bool()` on per-sample data")

    def __float__(self) -> float:
        refuse("float() of per-sample data")

    def __int__(self) -> int:
        refuse("int() of per-sample data")

    def __index__(self) -> int:
        refuse("using per-sample data as an index")

    def __complex__(self) -> complex:
        refuse("complex() of per-sample data")

    def __array__(self, *args: Any, **kwargs: Any) -> NoReturn:
        refuse("np.asarray(), np.array() or a conversion to a plain array of per-sample data")

    def item(self, *args: Any) -> NoReturn:
        refuse(".item() of per-sample data")

    def tolist(self) -> NoReturn:
        refuse(".tolist() of per-sample data")

    __hash__ = None  # type: ignore[assignment]


def _aligned(x: Stacked, rank: int) -> np.ndarray[Any, Any]:
    """``x``'s stacked array with size-1 axes after the batch axis, so that numpy's
    broadcasting lines its sample axes up as against one sample of rank ``rank``."""
    missing = rank - x.ndim
    if missing <= 0:
        return x.stacked
    return x.stacked.reshape((len(x.stacked), *(1,) * missing, *x.shape))


def _level(values: Any) -> Any:
    """The one batched run the :class:`Stacked` among ``values`` belong to."""
    levels = {id(x.level): x.level for x in leaves(values) if isinstance(x, Stacked)}
    if len(levels) > 1:
        refuse("computing with the per-sample data of two nested batched runs")
    return next(iter(levels.values()), None)


def _per_sample(func: Callable[..., Any], args: Any, kwargs: Any) -> Stacked:
    """``func`` applied to each sample in turn, the results stacked (what any numpy function on
    per-sample data means)."""
    level = _level((args, kwargs))
    (n,) = {len(x.stacked) for x in leaves((args, kwargs)) if isinstance(x, Stacked)}

    def pick(i: int) -> Callable[[Any], Any]:  # each Stacked's sample i
        return lambda x: x.stacked[i] if isinstance(x, Stacked) else x

    results = [func(*tree_map(args, pick(i)), **tree_map(kwargs, pick(i))) for i in range(n)]
    return Stacked(np.stack([np.asarray(r) for r in results]), level)


def stack_samples(samples: Any, level: Any, tag: str) -> Any:
    """The samples (a sequence of arrays, or of tuples, lists or dicts of arrays, all alike)
    as one sample of :class:`Stacked` arrays of ``level``. An array, and each field of a
    :class:`~tapem.batching.collated.Collated` batch, is taken as it is: its axis 0 runs over
    the samples. Samples of different structures or shapes are an
    :class:`~tapem.InvalidArgument` naming the first that differs."""
    if isinstance(samples, (np.ndarray, Stacked)):  # (a Stacked: a batched run inside another)
        return Stacked(samples, level)
    if isinstance(samples, Collated):
        # (an array as it is: a compiled loss's argument stays its proxy, and its leaf rebound)
        return samples.map(
            lambda a: Stacked(a if a.__class__ is np.ndarray else np.asarray(a), level)
        )
    hint = (
        "; a batched loss runs on the samples stacked, so they must be alike, with equal shapes "
        "(pad them), or run the loss sample by sample: batched=False"
    )
    return tree_map(stacked(samples, tag, hint), lambda a: Stacked(a, level))
