"""The :class:`Dual` array: a primal value and a tangent of the same shape, ``x + t·ε``, ``ε² = 0``.

numpy functions, ufuncs and operators applied to a ``Dual`` compute the primal as usual and
carry the tangent along by the chain rule, so a VJP rule written with numpy alone, run on duals,
returns its own directional derivative. That is how tapem gets Hessian-vector products from
first-order rules (forward-over-reverse).

The derivative rules live in two tables: :mod:`tapem.dual.ufuncs` (one row per ufunc) and
:mod:`tapem.dual.functions` (one row per numpy function). Anything not in a table raises a
``TypeError`` naming the function, so a tangent is never dropped silently. Converting a dual to a
plain array (``np.asarray``, ``float()``, writing it into a plain array) raises for the same
reason. Comparisons look at primals and return plain boolean arrays.

In-place writes (``d[idx] = v``, ``d[idx] += v``, ``np.add.at(d, idx, v)``) write both parts.
A tangent may be shared with another dual (a read-only view, e.g. after ``x + 0``); the first
write into it makes a private copy.

>>> import numpy as np
>>> x = Dual(np.array([0.5, 2.0]), np.array([1.0, 0.0]))
>>> y = np.sin(x) * x
>>> assert np.allclose(y.tangent, [np.cos(0.5) * 0.5 + np.sin(0.5), 0.0])
>>> buf = np.zeros_like(x, shape=(3,))
>>> buf[1:] += x * x
>>> assert np.allclose(buf.primal, [0.0, 0.25, 4.0]) and np.allclose(buf.tangent, [0, 1, 0])
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from tapem.dual.methods import ArrayMethods

__all__ = ["Dual", "conform", "make", "primal_of", "tangent_of", "unsupported"]

_PLAIN_SCALARS = (int, float, bool, np.ndarray, np.generic)


def make(primal: Any, tangent: Any) -> Dual:
    """A dual from parts already of one shape and dtype (no checks; the fast constructor)."""
    d = object.__new__(Dual)
    d.primal = primal
    d.tangent = tangent
    return d


def primal_of(x: Any) -> Any:
    """``x``'s primal if it is a dual, else ``x`` itself."""
    return x.primal if x.__class__ is Dual else x


def tangent_of(x: Any) -> Any:
    """``x``'s tangent if it is a dual, else ``None`` (a zero tangent)."""
    return x.tangent if x.__class__ is Dual else None


def conform(t: Any, y: Any) -> Any:
    """Tangent ``t`` (a numpy array or scalar) with ``y``'s shape and dtype (broadcast views are
    read-only)."""
    shape = y.shape
    if t.shape != shape:
        t = np.broadcast_to(t, shape)
    dtype = y.dtype
    if t.dtype != dtype:
        t = t.astype(dtype)
    return t


def shared(t: Any, y: Any) -> Any:
    """``t`` reused as the tangent of a new result ``y``: fitted, and read-only if it is ``t``."""
    out = conform(t, y)
    if out is t and isinstance(t, np.ndarray) and t.flags.writeable:
        out = t.view()
        out.flags.writeable = False
    return out


def unsupported(what: str, detail: str = "") -> TypeError:
    """The error for an operation with no derivative rule (it would drop the tangent)."""
    extra = f" ({detail})" if detail else ""
    return TypeError(
        f"{what} is not supported on tapem.Dual numbers{extra}: it has no derivative rule in "
        "tapem/dual, and running it on the primal alone would silently drop the tangent. "
        "Write the rule with supported numpy functions (see tapem.dual) or add a row to "
        "tapem/dual/ufuncs.py or tapem/dual/functions.py"
    )


def _plain(other: Any) -> bool:
    return isinstance(other, _PLAIN_SCALARS)


class Dual(ArrayMethods):
    """An array ``primal`` with a ``tangent`` of the same shape and dtype (floating point).

    ``Dual(primal, tangent=None)`` converts both with :func:`numpy.asarray`, broadcasts the
    tangent to the primal's shape (``None`` means zero) and casts it to the primal's dtype.
    """

    __slots__ = ("primal", "tangent")
    __hash__ = None  # type: ignore[assignment]  # == is elementwise, as for arrays

    primal: Any
    tangent: Any

    def __init__(self, primal: Any, tangent: Any = None) -> None:
        if isinstance(primal, Dual) or isinstance(tangent, Dual):
            raise TypeError("nested Dual numbers are not supported")
        p = np.asarray(primal)
        if p.dtype.kind not in "fc":
            raise TypeError(f"a Dual's primal must be floating point, got dtype {p.dtype}")
        if tangent is None:
            t = np.zeros_like(p)
        else:
            t = np.asarray(tangent, dtype=p.dtype)
            if t.shape != p.shape:
                try:
                    t = np.broadcast_to(t, p.shape)
                except ValueError:
                    raise ValueError(
                        f"tangent of shape {t.shape} does not fit a primal of shape {p.shape}"
                    ) from None
        self.primal = p
        self.tangent = t

    # --- array attributes ------------------------------------------------------------------

    @property
    def shape(self) -> tuple[int, ...]:
        shape: tuple[int, ...] = self.primal.shape
        return shape

    @property
    def ndim(self) -> int:
        ndim: int = self.primal.ndim
        return ndim

    @property
    def size(self) -> int:
        size: int = self.primal.size
        return size

    @property
    def dtype(self) -> np.dtype[Any]:
        dtype: np.dtype[Any] = self.primal.dtype
        return dtype

    @property
    def T(self) -> Dual:  # noqa: N802 - numpy's spelling
        return make(self.primal.T, self.tangent.T)

    @property
    def mT(self) -> Dual:  # noqa: N802 - numpy's spelling
        return make(self.primal.mT, self.tangent.mT)

    @property
    def real(self) -> Dual:
        return make(self.primal.real, self.tangent.real)

    def __len__(self) -> int:
        return len(self.primal)

    def __iter__(self) -> Iterator[Dual]:
        for i in range(len(self.primal)):
            yield self[i]

    def __repr__(self) -> str:
        return f"Dual(primal={self.primal!r}, tangent={self.tangent!r})"

    # --- numpy protocols ---------------------------------------------------------------------

    def __array_ufunc__(self, ufunc: np.ufunc, method: str, *inputs: Any, **kwargs: Any) -> Any:
        return ufuncs.apply(ufunc, method, inputs, kwargs)

    def __array_function__(
        self, func: Any, types: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        return functions.apply(func, args, kwargs)

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray[Any, Any]:
        raise TypeError(
            "converting a tapem.Dual to a plain numpy array (np.asarray, np.array, storing it "
            "into a plain array, ...) would drop its tangent; keep it a Dual, or make buffers "
            "with np.zeros_like(g, shape=...) so they are duals too"
        )

    def __float__(self) -> float:
        raise unsupported("float()", "use the primal explicitly if the tangent is not needed")

    def __int__(self) -> int:
        raise unsupported("int()")

    def __complex__(self) -> complex:
        raise unsupported("complex()")

    def __bool__(self) -> bool:
        return bool(self.primal)

    def item(self, *args: Any) -> Any:
        raise unsupported("Dual.item()")

    def tolist(self) -> Any:
        raise unsupported("Dual.tolist()")

    # --- indexing ----------------------------------------------------------------------------

    def __getitem__(self, index: Any) -> Dual:
        _check_index(index)
        return make(self.primal[index], self.tangent[index])

    def __setitem__(self, index: Any, value: Any) -> None:
        _check_index(index)
        self.primal[index] = primal_of(value)
        self.writable_tangent()[index] = value.tangent if value.__class__ is Dual else 0

    def writable_tangent(self) -> Any:
        """The tangent, copied first if it is shared or read-only (before an in-place write)."""
        t = self.tangent
        if not (isinstance(t, np.ndarray) and t.flags.writeable):
            t = np.array(t, dtype=self.primal.dtype, copy=True)
            self.tangent = t
        return t

    def _assign(self, result: Any) -> Dual:
        """In-place update (``x += y``): write ``result`` into this dual's own arrays."""
        if not isinstance(self.primal, np.ndarray):  # a numpy scalar: rebind, as numpy does
            return result if result.__class__ is Dual else make(result, np.zeros_like(result))
        self[...] = result
        return self

    # --- arithmetic (fast paths for the four operations VJP rules use most) ----------------

    def __add__(self, other: Any) -> Any:
        if other.__class__ is Dual:
            return make(self.primal + other.primal, self.tangent + other.tangent)
        if not _plain(other):
            return NotImplemented
        p = self.primal + other
        return make(p, shared(self.tangent, p))

    __radd__ = __add__

    def __sub__(self, other: Any) -> Any:
        if other.__class__ is Dual:
            return make(self.primal - other.primal, self.tangent - other.tangent)
        if not _plain(other):
            return NotImplemented
        p = self.primal - other
        return make(p, shared(self.tangent, p))

    def __rsub__(self, other: Any) -> Any:
        if not _plain(other):
            return NotImplemented
        p = other - self.primal
        return make(p, conform(-self.tangent, p))

    def __mul__(self, other: Any) -> Any:
        if other.__class__ is Dual:
            a, b = self.primal, other.primal
            return make(a * b, self.tangent * b + a * other.tangent)
        if not _plain(other):
            return NotImplemented
        return make(self.primal * other, self.tangent * other)

    def __rmul__(self, other: Any) -> Any:
        if not _plain(other):
            return NotImplemented
        return make(other * self.primal, other * self.tangent)

    def __truediv__(self, other: Any) -> Any:
        if other.__class__ is Dual:
            b = other.primal
            p = self.primal / b
            return make(p, (self.tangent - p * other.tangent) / b)
        if not _plain(other):
            return NotImplemented
        return make(self.primal / other, self.tangent / other)

    def __rtruediv__(self, other: Any) -> Any:
        if not _plain(other):
            return NotImplemented
        b = self.primal
        p = other / b
        return make(p, -p * self.tangent / b)

    def __neg__(self) -> Dual:
        return make(-self.primal, -self.tangent)

    def __pos__(self) -> Any:
        return np.positive(self)

    def __abs__(self) -> Any:
        return np.absolute(self)

    def __pow__(self, other: Any) -> Any:
        return _binary(np.power, self, other)

    def __rpow__(self, other: Any) -> Any:
        return _binary(np.power, other, self)

    def __matmul__(self, other: Any) -> Any:
        return _binary(np.matmul, self, other)

    def __rmatmul__(self, other: Any) -> Any:
        return _binary(np.matmul, other, self)

    def __floordiv__(self, other: Any) -> Any:
        return _binary(np.floor_divide, self, other)

    def __rfloordiv__(self, other: Any) -> Any:
        return _binary(np.floor_divide, other, self)

    def __mod__(self, other: Any) -> Any:
        return _binary(np.remainder, self, other)

    def __rmod__(self, other: Any) -> Any:
        return _binary(np.remainder, other, self)

    def __iadd__(self, other: Any) -> Any:
        return self._assign(self + other)

    def __isub__(self, other: Any) -> Any:
        return self._assign(self - other)

    def __imul__(self, other: Any) -> Any:
        return self._assign(self * other)

    def __itruediv__(self, other: Any) -> Any:
        return self._assign(self / other)

    # --- comparisons: on primals, plain boolean results ------------------------------------

    def __lt__(self, other: Any) -> Any:
        return _compare(np.less, self, other)

    def __le__(self, other: Any) -> Any:
        return _compare(np.less_equal, self, other)

    def __gt__(self, other: Any) -> Any:
        return _compare(np.greater, self, other)

    def __ge__(self, other: Any) -> Any:
        return _compare(np.greater_equal, self, other)

    def __eq__(self, other: Any) -> Any:
        return _compare(np.equal, self, other)

    def __ne__(self, other: Any) -> Any:
        return _compare(np.not_equal, self, other)


def _check_index(index: Any) -> None:
    parts = index if isinstance(index, tuple) else (index,)
    if any(p.__class__ is Dual for p in parts):
        raise unsupported("indexing with a Dual", "index with integers or plain boolean masks")


def _binary(ufunc: np.ufunc, a: Any, b: Any) -> Any:
    other = b if a.__class__ is Dual else a
    if other.__class__ is not Dual and not _plain(other):
        return NotImplemented
    return ufunc(a, b)


def _compare(ufunc: np.ufunc, a: Any, b: Any) -> Any:
    if b.__class__ is not Dual and not _plain(b):
        return NotImplemented
    return ufunc(a.primal, primal_of(b))


from tapem.dual import functions, ufuncs  # noqa: E402  (the tables build duals)
