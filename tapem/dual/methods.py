"""The ``ndarray`` methods of :class:`~tapem.dual.Dual`, each the numpy function of its name.

Reductions, reshapes and casts go through the dual tables (so they carry the tangent); the
``arg*``/``any``/``all``/``nonzero`` methods look at the primal only. ``item()`` and
``tolist()`` raise: they would drop the tangent.

>>> import numpy as np
>>> from tapem.dual import Dual
>>> x = Dual(_np.array([[1.0, 3.0], [2.0, 0.0]]), _np.eye(2))
>>> assert _np.allclose(x.sum(axis=0).tangent, [1.0, 1.0]) and x.argmax() == 1
>>> assert _np.allclose(x.reshape(4).astype(_np.float32).tangent, [1, 0, 0, 1])
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["ArrayMethods"]

_np: Any = np  # numpy's stubs do not know that its functions accept duals


class ArrayMethods:
    """Mixin: the ``ndarray``-style methods of :class:`~tapem.dual.Dual`."""

    __slots__ = ()

    primal: Any
    tangent: Any

    def sum(
        self, axis: Any = None, dtype: Any = None, out: Any = None, keepdims: bool = False
    ) -> Any:
        return _np.sum(self, axis=axis, dtype=dtype, out=out, keepdims=keepdims)

    def mean(
        self, axis: Any = None, dtype: Any = None, out: Any = None, keepdims: bool = False
    ) -> Any:
        return _np.mean(self, axis=axis, dtype=dtype, out=out, keepdims=keepdims)

    def max(self, axis: Any = None, out: Any = None, keepdims: bool = False, **kw: Any) -> Any:
        return _np.max(self, axis=axis, out=out, keepdims=keepdims, **kw)

    def min(self, axis: Any = None, out: Any = None, keepdims: bool = False, **kw: Any) -> Any:
        return _np.min(self, axis=axis, out=out, keepdims=keepdims, **kw)

    def var(self, axis: Any = None, **kw: Any) -> Any:
        return _np.var(self, axis=axis, **kw)

    def std(self, axis: Any = None, **kw: Any) -> Any:
        return _np.std(self, axis=axis, **kw)

    def cumsum(self, axis: Any = None, dtype: Any = None) -> Any:
        return _np.cumsum(self, axis=axis, dtype=dtype)

    def reshape(self, *shape: Any, **kw: Any) -> Any:
        target = shape[0] if len(shape) == 1 else shape
        return _np.reshape(self, target, **kw)

    def transpose(self, *axes: Any) -> Any:
        perm = axes[0] if len(axes) == 1 else (axes or None)
        return _np.transpose(self, perm)

    def swapaxes(self, a: int, b: int) -> Any:
        return _np.swapaxes(self, a, b)

    def squeeze(self, axis: Any = None) -> Any:
        return _np.squeeze(self, axis)

    def ravel(self, order: str = "C") -> Any:
        return _np.ravel(self, order)

    def flatten(self, order: str = "C") -> Any:
        return _np.copy(_np.ravel(self, order))

    def repeat(self, repeats: Any, axis: Any = None) -> Any:
        return _np.repeat(self, repeats, axis)

    def take(self, indices: Any, axis: Any = None) -> Any:
        return _np.take(self, indices, axis)

    def clip(self, min: Any = None, max: Any = None) -> Any:
        return _np.clip(self, min, max)

    def dot(self, other: Any) -> Any:
        return _np.dot(self, other)

    def copy(self) -> Any:
        from tapem.dual.core import make  # core defines Dual on top of this mixin

        return make(self.primal.copy(), np.array(self.tangent, copy=True))

    def astype(self, dtype: Any, copy: bool = True, **kw: Any) -> Any:
        """Cast both parts; a non-floating dtype gives the plain primal (no derivative)."""
        target = np.dtype(dtype)
        primal = self.primal.astype(target, copy=copy, **kw)
        if target.kind not in "fc":
            return primal
        from tapem.dual.core import make  # core defines Dual on top of this mixin

        return make(primal, self.tangent.astype(target, copy=copy, **kw))

    def conj(self) -> Any:
        return _np.conjugate(self)

    conjugate = conj

    def fill(self, value: Any) -> None:
        _np.copyto(self, value)

    def argmax(self, axis: Any = None, **kw: Any) -> Any:
        return _np.argmax(self.primal, axis=axis, **kw)

    def argmin(self, axis: Any = None, **kw: Any) -> Any:
        return _np.argmin(self.primal, axis=axis, **kw)

    def argsort(self, axis: Any = -1, **kw: Any) -> Any:
        return _np.argsort(self.primal, axis=axis, **kw)

    def nonzero(self) -> Any:
        return _np.nonzero(self.primal)

    def any(self, *args: Any, **kw: Any) -> Any:
        return _np.any(self.primal, *args, **kw)

    def all(self, *args: Any, **kw: Any) -> Any:
        return _np.all(self.primal, *args, **kw)
