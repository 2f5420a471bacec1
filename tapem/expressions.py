"""Expressions: arithmetic, numpy functions and array methods on handles and requests.

A loss reads like numpy: ``yield np.mean((X @ W.T + b - Y) ** 2)``. Every operator, numpy
ufunc, numpy function and array method that tapem has an op for builds the matching request;
one whose inputs are requests themselves is an **expression**, which the recording path
submits op by op, in evaluation order, each an ordinary request (recorded as its own node, seen
by every interpreter, at the line of the ``yield``), and answers with the handle of its root.
Anything without an op is refused with :class:`~tapem.UnsupportedOperation`, naming the
closest op.

The requests are built by op name (``Op("exp", ...)``), resolved when they are yielded; this
module knows nothing else of the op table, and nothing of the request classes either:
:class:`Arithmetic` is the mixin that gives :class:`~tapem.Op` and :class:`~tapem.Handle` their
operators, and each operand's class builds the requests (``_build``, ``_const``). ``Handle``
keeps fast paths of its own for the common cases.

>>> import numpy as np
>>> from tapem.requests import Op
>>> e = np.exp(Op("sin", [None])) * 2.0
>>> e.op, e.inputs[0].op, e.params
('scale', 'exp', mappingproxy({'c': 2.0}))
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NoReturn

import numpy as np

from tapem.errors import UnsupportedOperation

__all__ = ["Arithmetic", "unsupported"]


def unsupported(what: str, closest: str = "") -> NoReturn:
    """Raise the error for a numpy function or method without a tapem op."""
    hint = f"; the closest: {closest}" if closest else ""
    raise UnsupportedOperation(
        f"{what} has no tapem op{hint}; or declare one with tm.OpDef (see `help(tm.OpDef)`)"
    )


def _is_real(value: Any) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(
        value, (bool, np.bool_)
    )


def _is_expression(value: Any) -> bool:
    """A handle or a request: something that stands for a node."""
    return isinstance(value, Arithmetic)


def _request(name: str, inputs: Any, params: dict[str, Any] | None = None) -> Any:
    """The request for op ``name``, built by the class of its first input that stands for a
    node (an ``Op``, or a ``Handle``)."""
    builder = next(x for x in inputs if _is_expression(x))
    return builder._build(name, inputs, params or {})


def _operand(value: Any, symbol: str) -> Any:
    if _is_expression(value) or _is_real(value):
        return value
    if isinstance(value, np.ndarray):
        raise UnsupportedOperation(
            f"an array in `{symbol}` with a tapem handle: put it on the tape first, "
            "e.g. `c = yield from tm.const(array)`, then combine handles"
        )
    raise UnsupportedOperation(
        f"unsupported operand for {symbol} with a tapem handle: {type(value).__name__}; "
        "combine handles with handles or with numbers"
    )


def _with_per_sample_data(symbol: str, a: Any, b: Any) -> Any:
    """``a <symbol> b`` where one of them is per-sample data of a batched run (it stands for
    one sample's array or number there): the data made a const leaf, an input of the op."""
    if symbol not in _BINARY:
        unsupported(f"`{symbol}` with per-sample data", "ops.exp(s * ops.log(x)) for x > 0")
    if getattr(a, "__tapem_per_sample__", False):
        return _request(_BINARY[symbol], (b._const(a), b))
    return _request(_BINARY[symbol], (a, a._const(b)))


def binary(symbol: str, a: Any, b: Any) -> Any:
    """The request for ``a <symbol> b`` where one of them stands for a node, by name."""
    if getattr(a, "__tapem_per_sample__", False) or getattr(b, "__tapem_per_sample__", False):
        return _with_per_sample_data(symbol, a, b)
    a, b = _operand(a, symbol), _operand(b, symbol)
    if _is_expression(a) and _is_expression(b):
        return _request(_BINARY[symbol], (a, b))
    if _is_expression(a):
        if symbol == "+":
            return _request("shift", (a,), {"c": b})
        if symbol == "-":
            return _request("shift", (a,), {"c": -b})
        if symbol == "*":
            return _request("scale", (a,), {"c": b})
        if symbol == "/":
            return _request("scale", (a,), {"c": 1.0 / b})
        if symbol == "**":
            return _request("pow", (a,), {"p": b})
    else:
        if symbol == "+":
            return _request("shift", (b,), {"c": a})
        if symbol == "-":
            return _request("rsub", (b,), {"c": a})
        if symbol == "*":
            return _request("scale", (b,), {"c": a})
        if symbol == "/":
            return _request("rdiv", (b,), {"c": a})
    unsupported(f"a number {symbol} a handle" if symbol == "**" else f"`{symbol}` with a number")


_BINARY = {"+": "add", "-": "sub", "*": "mul", "/": "div", "@": "matmul"}

_UNARY_UFUNCS: dict[Any, str] = {
    np.exp: "exp", np.log: "log", np.sin: "sin", np.cos: "cos", np.tanh: "tanh",
    np.sqrt: "sqrt", np.absolute: "abs", np.negative: "neg", np.reciprocal: "inv",
}  # fmt: skip
_BINARY_UFUNCS: dict[Any, Callable[[Any, Any], Any]] = {  # not operator.*: numpy scalars on
    # the left would hand the operation back to numpy, and so to us, for ever
    np.add: lambda a, b: binary("+", a, b), np.subtract: lambda a, b: binary("-", a, b),
    np.multiply: lambda a, b: binary("*", a, b), np.true_divide: lambda a, b: binary("/", a, b),
    np.power: lambda a, b: binary("**", a, b), np.matmul: lambda a, b: binary("@", a, b),
    np.maximum: lambda a, b: _request("max", _with_consts((a, b))),
    np.minimum: lambda a, b: _request("min", _with_consts((a, b))),
}  # fmt: skip
_CLOSEST: dict[str, str] = {
    "log1p": "ops.log((yield x + 1.0)), or ops.softplus", "expm1": "ops.exp(x) - 1.0",
    "square": "x ** 2 (ops.pow)", "max": "ops.max (elementwise), ops.softmax_last",
    "amax": "ops.max (elementwise)", "min": "ops.min (elementwise)",
    "amin": "ops.min (elementwise)", "dot": "np.matmul (ops.matmul)",
    "tensordot": "np.matmul (ops.matmul)", "einsum": "np.matmul, ops.linear",
    "log10": "ops.log(x) / ln 10", "log2": "ops.log(x) / ln 2", "exp2": "ops.exp",
    "sign": "ops.abs", "mod": "none (not differentiable)", "floor": "none (not differentiable)",
    "ceil": "none (not differentiable)", "round": "none (not differentiable)",
    "var": "np.mean((x - np.mean(x)) ** 2)", "std": "the square root of the variance",
    "prod": "ops.exp(ops.sum(ops.log(x))) for positive x", "cumsum": "none yet",
}  # fmt: skip


def _with_consts(values: Any) -> list[Any]:
    """``values`` with each number made a const leaf request (an input of an expression), by
    the class of the first value that stands for a node."""
    builder = next(x for x in values if _is_expression(x))
    out = []
    for value in values:
        if _is_expression(value):
            out.append(value)
        elif _is_real(value) or getattr(value, "__tapem_per_sample__", False):
            out.append(builder._const(value))
        else:
            _operand(value, "a numpy function")
    return out


def _no_extras(name: str, kwargs: dict[str, Any], allowed: tuple[str, ...] = ()) -> None:
    for key, value in kwargs.items():
        if key in allowed or value is None:
            continue
        if key == "dim":
            raise UnsupportedOperation(f"{name}: numpy's name for the axis is `axis=`, not `dim=`")
        if key == "keepdim":
            raise UnsupportedOperation(f"{name}: numpy's name is `keepdims=`, not `keepdim=`")
        raise UnsupportedOperation(f"{name} on a tapem handle does not take `{key}=`")


def _reduction(name: str) -> Callable[..., Any]:
    def reduce(a: Any, axis: Any = None, dtype: Any = None, out: Any = None,
               keepdims: Any = False, **kwargs: Any) -> Any:  # fmt: skip
        _no_extras(f"np.{name}", {"dtype": dtype, "out": out, **kwargs})
        return _request(name, (a,), {"axis": axis, "keepdims": bool(keepdims)})

    return reduce


def _dot(a: Any, b: Any, out: Any = None) -> Any:
    _no_extras("np.dot", {"out": out})
    for x in (a, b):
        if _is_expression(x) and hasattr(x, "ndim") and x.ndim > 2:
            unsupported("np.dot of arrays of more than 2 axes", "np.matmul (ops.matmul)")
    return binary("@", a, b)


def _where(condition: Any, a: Any, b: Any) -> Any:
    if not _is_expression(condition):
        raise UnsupportedOperation(
            "np.where on tapem handles takes its condition as a handle (a bool const): "
            "`mask = yield from tm.const(values > 0)`"
        )
    return _request("where", _with_consts((condition, a, b)))


def _joined(name: str) -> Callable[..., Any]:
    def join(arrays: Any, axis: Any = 0, out: Any = None, **kwargs: Any) -> Any:
        _no_extras(f"np.{name}", {"out": out, **kwargs})
        return _request(name, _with_consts(list(arrays)), {"axis": axis})

    return join


_FUNCTIONS: dict[Any, Callable[..., Any]] = {
    np.sum: _reduction("sum"),
    np.mean: _reduction("mean"),
    np.matmul: lambda a, b, **kwargs: binary("@", a, b),
    np.dot: _dot,
    np.where: _where,
    np.concatenate: _joined("concat"),
    np.stack: _joined("stack"),
    np.reshape: lambda a, *shape, **kwargs: Arithmetic.reshape(a, *shape, **kwargs),
    np.transpose: lambda a, axes=None: _request("transpose", (a,), {"axes": axes}),
    np.clip: lambda a, a_min=None, a_max=None, **kwargs: Arithmetic.clip(a, a_min, a_max),
    np.shape: lambda a: a.shape,
    np.ndim: lambda a: a.ndim,
    np.size: lambda a, axis=None: int(np.prod(a.shape)) if axis is None else a.shape[axis],
}


class Arithmetic:
    """Operators, numpy's protocols and array methods that build requests, by op name.

    A subclass stands for a node and says how requests are built: ``_build(name, inputs,
    params)`` returns the request for an op by name, ``_const(number)`` that of a const leaf.
    """

    __slots__ = ()

    @classmethod
    def _build(cls, name: str, inputs: Any, params: dict[str, Any]) -> Any:
        raise NotImplementedError

    @classmethod
    def _plain(cls, name: str, inputs: tuple[Any, ...], args: tuple[Any, ...]) -> Any:
        """The request for op ``name`` with parameters ``args`` already in canonical form."""
        raise NotImplementedError

    @classmethod
    def _const(cls, value: Any) -> Any:
        raise NotImplementedError

    def __add__(self, other: Any) -> Any:
        return binary("+", self, other)

    def __radd__(self, other: Any) -> Any:
        return binary("+", other, self)

    def __sub__(self, other: Any) -> Any:
        return binary("-", self, other)

    def __rsub__(self, other: Any) -> Any:
        return binary("-", other, self)

    def __mul__(self, other: Any) -> Any:
        return binary("*", self, other)

    def __rmul__(self, other: Any) -> Any:
        return binary("*", other, self)

    def __truediv__(self, other: Any) -> Any:
        return binary("/", self, other)

    def __rtruediv__(self, other: Any) -> Any:
        return binary("/", other, self)

    def __pow__(self, other: Any) -> Any:
        return binary("**", self, other)

    def __rpow__(self, other: Any) -> Any:
        return binary("**", other, self)

    def __matmul__(self, other: Any) -> Any:
        return binary("@", self, other)

    def __rmatmul__(self, other: Any) -> Any:
        return binary("@", other, self)

    def __neg__(self) -> Any:
        return _request("neg", (self,))

    def __pos__(self) -> Any:
        return self

    def __abs__(self) -> Any:
        return _request("abs", (self,))

    def __getitem__(self, key: Any) -> Any:
        """Basic indexing (ints, slices, ``None``, ``...``): ``ops.index``."""
        return _request("index", (self,), {"key": key})

    # --- array methods ----------------------------------------------------------------------

    def sum(self, axis: Any = None, keepdims: bool = False, **kwargs: Any) -> Any:
        """``np.sum``: ``ops.sum(x, axis, keepdims)``."""
        _no_extras("sum", kwargs)
        return _request("sum", (self,), {"axis": axis, "keepdims": keepdims})

    def mean(self, axis: Any = None, keepdims: bool = False, **kwargs: Any) -> Any:
        """``np.mean``: ``ops.mean(x, axis, keepdims)``."""
        _no_extras("mean", kwargs)
        return _request("mean", (self,), {"axis": axis, "keepdims": keepdims})

    def reshape(self, *shape: Any, **kwargs: Any) -> Any:
        """``x.reshape(2, 3)`` or ``x.reshape((2, 3))``: ``ops.reshape``."""
        _no_extras("reshape", kwargs, ("order", "newshape", "shape"))
        if kwargs.get("order", "C") != "C":
            unsupported("reshape with order='F'", "ops.transpose, then ops.reshape")
        if not shape:
            shape = (kwargs.get("shape", kwargs.get("newshape")),)
        target = shape[0] if len(shape) == 1 else shape
        return _request("reshape", (self,), {"shape": target})

    def transpose(self, *axes: Any) -> Any:
        """``x.transpose()``, ``x.transpose(1, 0)`` or ``x.transpose((1, 0))``: ops.transpose."""
        order = axes[0] if len(axes) == 1 else (axes or None)
        return _request("transpose", (self,), {"axes": order})

    @property
    def T(self) -> Any:  # noqa: N802 - numpy's spelling
        """Reverse the axes (``ops.transpose``)."""
        return _request("transpose", (self,), {"axes": None})

    def clip(self, lo: Any = None, hi: Any = None, **kwargs: Any) -> Any:
        """``np.clip``: ``ops.clamp(x, lo, hi)`` (``None`` is unbounded)."""
        _no_extras("clip", kwargs)
        low = -np.inf if lo is None else lo
        high = np.inf if hi is None else hi
        return _request("clamp", (self,), {"lo": low, "hi": high})

    # --- numpy's protocols ------------------------------------------------------------------

    def __array_ufunc__(self, ufunc: Any, method: str, *inputs: Any, **kwargs: Any) -> Any:
        unary = _UNARY_UFUNCS.get(ufunc)
        if unary is not None and method == "__call__" and not kwargs:  # np.tanh(h): at once
            return self._plain(unary, inputs, ())
        name = getattr(ufunc, "__name__", str(ufunc))
        if method != "__call__":
            unsupported(f"np.{name}.{method}")
        _no_extras(f"np.{name}", kwargs)
        if ufunc in _UNARY_UFUNCS:
            return self._plain(_UNARY_UFUNCS[ufunc], inputs, ())
        if ufunc in _BINARY_UFUNCS:
            return _BINARY_UFUNCS[ufunc](*inputs)
        unsupported(f"np.{name}", _CLOSEST.get(name, ""))

    def __array_function__(self, func: Any, types: Any, args: Any, kwargs: Any) -> Any:
        if func in _FUNCTIONS:
            return _FUNCTIONS[func](*args, **kwargs)
        name = getattr(func, "__name__", str(func))
        unsupported(f"np.{name}", _CLOSEST.get(name, ""))

    def __array__(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise UnsupportedOperation(
            "a tapem handle holds no values in the program (they are on the tape): build the "
            "array with ops, e.g. np.stack([h1, h2]) (ops.stack), or read a value after the "
            "run with tape.value(handle)"
        )

    def __iter__(self) -> NoReturn:
        raise TypeError(
            "a tapem handle is not iterable (its values are on the tape, not in the program); "
            "index it one request at a time, e.g. `row = yield h[i]`"
        )

    def __bool__(self) -> bool:
        raise UnsupportedOperation(
            "a tapem handle has no truth value in the program (its values are on the tape); "
            "write the choice with ops.where, or decide outside the loss"
        )
