"""Kinds of static parameters: what each accepts, checked when a request is built.

An op declares each static parameter with a :class:`Kind` (``params={"c": REAL}``). Building a
request (``ops.scale(x, 2.0)``, ``Op(ops.scale, [x], {"c": 2.0})``) checks every parameter and
turns it into plain Python data (what tape records hold: numbers, strings, ``None`` and tuples
of them), so a bad parameter fails at the line that wrote it, with
:class:`~tapem.InvalidArgument`, whatever the interpreter. What a parameter must satisfy
*given the inputs* (an axis within the input's rank, a reshape that keeps the size) or given
the other parameters (one stride per axis of the kernel) is the shape rule's to check. A kind
that belongs to one op lives with it (``index``'s key: :data:`tapem.ops.selection.KEY`).

>>> REAL.check("scale", "c", np.float32(2.5))
2.5
>>> AXES.check("sum", "axis", [0, 1])
(0, 1)
>>> try:
...     AXES.check("sum", "axis", 1.5)
... except InvalidArgument as error:
...     print(error)
sum: axis must be None, an int or a tuple of ints; got 1.5 (float)
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable
from typing import Any

import numpy as np

from tapem.errors import InvalidArgument

__all__ = [
    "ANY",
    "AXES",
    "BOOL",
    "INT",
    "INTS",
    "Kind",
    "NONNEGATIVE_INTS",
    "NONNEGATIVE_REAL",
    "NONZERO_REAL",
    "OPTIONAL_BOOL",
    "OPTIONAL_INTS",
    "OPTIONAL_POSITIVE_INTS",
    "PERMUTATION",
    "POSITIVE_INT",
    "POSITIVE_INTS",
    "PROBABILITY",
    "REAL",
    "REDUCTION",
    "SEED",
    "SHAPE",
    "WINDOW",
]

NoneType = type(None)


class Kind:
    """A kind of static parameter.

    ``what`` says what it accepts (in error messages and the op reference);
    ``check(op, name, value)`` returns the value as plain data or raises
    :class:`~tapem.InvalidArgument`; a value whose class is in ``ready`` needs no check (the
    fast path of building a request).
    """

    __slots__ = ("_check", "ready", "what")

    def __init__(
        self, what: str, check: Callable[[Any], Any], ready: frozenset[type] = frozenset()
    ) -> None:
        self.what = what
        self._check = check
        self.ready = ready

    def check(self, op: str, name: str, value: Any) -> Any:
        """``value`` as plain data, or :class:`~tapem.InvalidArgument` naming ``op`` and
        ``name``."""
        if value.__class__ in self.ready:
            return value
        try:
            return self._check(value)
        except (TypeError, ValueError, OverflowError) as error:
            detail = f" ({error})" if str(error) else ""
            raise InvalidArgument(
                f"{op}: {name} must be {self.what}; got {value!r} ({type(value).__name__}){detail}",
                op=op,
            ) from None

    def __repr__(self) -> str:
        return f"<kind: {self.what}>"


def _index(value: Any) -> int:
    """An int, from an int or a numpy integer (not a bool, a float or a string)."""
    if isinstance(value, (bool, np.bool_)):
        raise TypeError
    return operator.index(value)


def _real(value: Any) -> float | int:
    if isinstance(value, (bool, np.bool_)):
        raise TypeError
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value[()]
    if isinstance(value, (np.integer, np.floating)):
        return value.item()
    if isinstance(value, float):
        return value
    if isinstance(value, int):
        float(value)  # OverflowError beyond the float range, where numpy would raise it later
        return value
    raise TypeError


def _ints(value: Any) -> tuple[int, ...]:
    if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
        raise TypeError
    return tuple(_index(v) for v in value)


def _int_or_ints(value: Any) -> int | tuple[int, ...]:
    try:
        return _index(value)
    except TypeError:
        return _ints(value)


def _optional(check: Callable[[Any], Any]) -> Callable[[Any], Any]:
    return lambda value: None if value is None else check(value)


def _bool(value: Any) -> bool:
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    raise TypeError


def _positive(value: Any) -> int:
    n = _index(value)
    if n < 1:
        raise ValueError
    return n


def _seed(value: Any) -> int:
    n = _index(value)
    if n < 0:
        raise ValueError
    return n


def _probability(value: Any) -> float | int:
    p = _real(value)
    if not 0 <= p <= 1:
        raise ValueError
    return p


def _finite(value: Any) -> float | int:
    x = _real(value)
    if not math.isfinite(x):
        raise ValueError
    return x


def _nonnegative_real(value: Any) -> float | int:
    x = _finite(value)
    if x < 0:
        raise ValueError
    return x


def _nonzero_real(value: Any) -> float | int:
    x = _finite(value)
    if x == 0:
        raise ValueError
    return x


def _at_least(minimum: int) -> Callable[[Any], int | tuple[int, ...]]:
    """An int or a tuple of ints, each ``>= minimum``."""

    def check(value: Any) -> int | tuple[int, ...]:
        values = _int_or_ints(value)
        if min((values,) if isinstance(values, int) else values, default=minimum) < minimum:
            raise ValueError
        return values

    return check


def _window(value: Any) -> tuple[int, ...]:
    sizes = _ints(value)  # an int is refused: its number of spatial axes would be a guess
    if not sizes:
        raise ValueError
    if min(sizes) < 1:
        raise ValueError
    return sizes


def _shape(value: Any) -> tuple[int, ...]:
    target = _int_or_ints(value)
    return (target,) if isinstance(target, int) else target


def _reduction(value: Any) -> str:
    if value.__class__ is not str or value not in ("mean", "sum", "none"):
        raise ValueError
    return str(value)


def _any(value: Any) -> Any:
    """Plain data as it is; numpy scalars as Python numbers, lists as tuples."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, list):
        return tuple(_any(v) for v in value)
    return value


REAL = Kind("a real number", _real, frozenset({float}))
INT = Kind("an int", _index, frozenset({int}))
POSITIVE_INT = Kind("an int >= 1", _positive)
SEED = Kind("an int >= 0", _seed)
PROBABILITY = Kind("a number in [0, 1]", _probability)
BOOL = Kind("True or False", _bool, frozenset({bool}))
OPTIONAL_BOOL = Kind("None, True or False", _optional(_bool), frozenset({bool, NoneType}))
AXES = Kind("None, an int or a tuple of ints", _optional(_int_or_ints), frozenset({NoneType, int}))
SHAPE = Kind("an int or a tuple of ints", _shape)
PERMUTATION = Kind("None or a tuple of ints", _optional(_ints), frozenset({NoneType}))
INTS = Kind("an int or a tuple of ints", _int_or_ints, frozenset({int}))
OPTIONAL_INTS = Kind(
    "None, an int or a tuple of ints", _optional(_int_or_ints), frozenset({NoneType, int})
)
NONNEGATIVE_REAL = Kind("a finite number >= 0", _nonnegative_real)
NONZERO_REAL = Kind("a finite non-zero number", _nonzero_real)
POSITIVE_INTS = Kind("an int >= 1 or a tuple of ints >= 1", _at_least(1))
OPTIONAL_POSITIVE_INTS = Kind(
    "None, an int >= 1 or a tuple of ints >= 1", _optional(_at_least(1)), frozenset({NoneType})
)
NONNEGATIVE_INTS = Kind("an int >= 0 or a tuple of ints >= 0", _at_least(0))
WINDOW = Kind("a non-empty tuple of ints >= 1 (one window size per spatial axis)", _window)
REDUCTION = Kind("'mean', 'sum' or 'none'", _reduction, frozenset())
"""How a loss reduces its per-element terms, as PyTorch's ``reduction=``."""
ANY = Kind("any value", _any, frozenset({float, int, str, bool, NoneType}))
"""The kind of a parameter declared by name only (custom ops): numpy scalars become Python
numbers and lists tuples, and anything else is taken as it is."""
