"""How an op is declared: one :class:`OpDef` holds its forward, VJP, JVP and shape rule.

Rules are pure functions of arrays (no closures on the tape):

* ``forward(*xs, *params) -> out``
* ``vjp[i](g, out, *xs, *params) -> cotangent of input i`` (``None`` for a non-differentiable
  input). Only the cotangents of inputs that need one are computed. A cotangent may have the
  output's broadcast shape: the reverse pass sums it back to the input's shape in one place.
* ``jvp[i](t, out, *xs, *params) -> contribution of input i's tangent t to the output tangent``
  (the forward-mode interpreter sums the contributions, broadcasting each to the output shape).
* ``shape(*avals, *params) -> ShapeDtype``: from anything with ``.shape`` and ``.dtype``; raises
  :class:`~tapem.errors.ShapeMismatch` / :class:`~tapem.errors.InvalidArgument`. Every
  interpreter runs it before the forward, so all of them fail on the same request. It must
  depend on nothing but those shapes, dtypes and params: the eager interpreter remembers the
  signatures that passed during a run and does not check them again.

Static parameters are passed positionally, after the inputs, in the order ``params`` declares.

VJP rules must use numpy functions and operators only (no in-place writes): the Hessian code
re-runs them on dual numbers.

A custom op is just another ``OpDef``; no registry is involved:

>>> import numpy as np
>>> cube = OpDef(
...     "cube",
...     forward=lambda x: x**3,
...     vjp=(lambda g, out, x: 3 * x**2 * g,),
...     jvp=(lambda t, out, x: 3 * x**2 * t,),
...     shape=same_shape,
... )
>>> cube.arity, cube.name
(1, 'cube')
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType
from typing import Any, TypeAlias

import numpy as np

from tapem.errors import ShapeMismatch
from tapem.requests import Op, make_op

_new = tuple.__new__

__all__ = [
    "Forward",
    "JvpFn",
    "OpDef",
    "ShapeDtype",
    "ShapeFn",
    "Variadic",
    "VjpFn",
    "as_float",
    "binary_shape",
    "broadcast_shapes",
    "float_dtype",
    "is_int",
    "is_real",
    "pass_through",
    "same_shape",
]

Forward: TypeAlias = Callable[..., Any]
VjpFn: TypeAlias = Callable[..., Any]
JvpFn: TypeAlias = Callable[..., Any]


_DTYPE_CLASSES = frozenset(type(np.dtype(code)) for code in "?bBhHiIlLqQefdgFDGSUVOMm")
"""The classes of numpy's built-in dtypes (one per kind), recognised without ``isinstance``."""


class ShapeDtype:
    """An abstract value: a shape and a dtype, no data (what shape rules compute).

    ``floating`` says whether the dtype is a float dtype (the shape-only interpreter asks this
    of every elementwise op's input).
    """

    __slots__ = ("dtype", "floating", "shape")

    def __init__(self, shape: Sequence[int], dtype: Any) -> None:
        self.shape: tuple[int, ...] = (
            shape if shape.__class__ is tuple else tuple(int(d) for d in shape)
        )
        if dtype.__class__ not in _DTYPE_CLASSES and not isinstance(dtype, np.dtype):
            dtype = np.dtype(dtype)  # shape rules run per op: the set spares most an isinstance
        self.dtype: np.dtype[Any] = dtype
        self.floating = dtype.kind == "f"

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ShapeDtype):
            return NotImplemented
        return self.shape == other.shape and self.dtype == other.dtype

    def __hash__(self) -> int:
        return hash((self.shape, self.dtype))

    def __repr__(self) -> str:
        return f"ShapeDtype({self.shape}, {self.dtype})"


ShapeFn: TypeAlias = Callable[..., ShapeDtype]


def pass_through(g: Any, out: Any, *inputs: Any) -> Any:
    """The VJP of an input that reaches the output with slope one (``add``'s inputs, ``shift``'s,
    ``linear``'s bias): the cotangent itself. The reverse pass knows it and skips the call."""
    return g


class Variadic(Sequence[Any]):
    """The rule of every input of a variadic op: ``rule(i, ...)`` serves input ``i``."""

    __slots__ = ("rule",)

    def __init__(self, rule: Callable[..., Any]) -> None:
        self.rule = rule

    def __getitem__(self, i: Any) -> Any:
        rule = self.rule
        return lambda *args: rule(i, *args)

    def __len__(self) -> int:
        raise TypeError("a variadic rule serves any number of inputs")


class OpDef:
    """One op: its name, the names of its inputs and static parameters, and its four rules.

    Calling an ``OpDef`` builds the :class:`~tapem.requests.Op` request:
    ``ops.clamp(x, 0.0, 1.0)`` or ``ops.clamp(x, lo=0.0, hi=1.0)``. The first ``arity``
    positional arguments are handles; the rest bind to ``params`` in order, with ``defaults``.
    A variadic op (``inputs=None``) takes a sequence of handles first.
    """

    __slots__ = (
        "_plain",
        "arity",
        "defaults",
        "doc",
        "elementwise",
        "forward",
        "inputs",
        "jvp",
        "name",
        "params",
        "shape",
        "vjp",
    )

    def __init__(
        self,
        name: str,
        *,
        forward: Forward,
        vjp: Sequence[VjpFn | None],
        jvp: Sequence[JvpFn | None],
        shape: ShapeFn,
        inputs: Sequence[str] | None = ("x",),
        params: Sequence[str] = (),
        defaults: Mapping[str, Any] | None = None,
        doc: str = "",
    ) -> None:
        self.name = name
        self.forward = forward
        self.shape = shape
        # Elementwise ops cannot fail on equal input shapes; interpreters may skip the rule then.
        self.elementwise = shape is same_shape or isinstance(shape, binary_shape)
        self.inputs = None if inputs is None else tuple(inputs)
        self.arity = None if inputs is None else len(self.inputs or ())
        self.params = tuple(params)
        # the number of arguments of a call that is just the handles (-1: no such call)
        self._plain = self.arity if self.arity is not None and not self.params else -1
        self.defaults: Mapping[str, Any] = MappingProxyType(dict(defaults or {}))
        self.doc = doc
        if self.arity is not None:
            for label, rules in (("vjp", vjp), ("jvp", jvp)):
                if len(rules) != self.arity:
                    raise TypeError(
                        f"op {name!r}: {label} needs one rule (or None) per input, "
                        f"{self.arity} in all; got {len(rules)}"
                    )
        self.vjp = tuple(vjp) if not isinstance(vjp, Variadic) else vjp
        self.jvp = tuple(jvp) if not isinstance(jvp, Variadic) else jvp

    def __call__(self, *args: Any, **kwargs: Any) -> Op:
        if len(args) == self._plain and not kwargs:  # the common case, first
            # make_op inlined: the call would add a tenth to ``ops.sin(h)``
            return _new(Op, (self, args, ()))
        arity = self.arity
        if arity is None:
            if not args:
                raise TypeError(f"{self.name}() needs a sequence of handles")
            inputs: tuple[Any, ...] = tuple(args[0])
            rest = args[1:]
        else:
            if len(args) < arity:
                raise TypeError(
                    f"{self.name}() takes {arity} handle(s) "
                    f"({', '.join(self.inputs or ())}); got {len(args)} argument(s)"
                )
            inputs, rest = args[:arity], args[arity:]
        if not rest and not kwargs and not self.params:
            return make_op(self, inputs, ())
        return make_op(self, inputs, self.bind(rest, kwargs))

    def bind(self, args: Sequence[Any], kwargs: Mapping[str, Any]) -> tuple[Any, ...]:
        """Static parameters from positional ``args`` and ``kwargs``, defaults filled in,
        in declared order."""
        if len(args) > len(self.params):
            raise TypeError(
                f"{self.name}() takes parameters ({', '.join(self.params)}); got {len(args)} "
                "positional ones"
            )
        bound = dict(self.defaults)
        bound.update(zip(self.params, args, strict=False))
        for key, value in kwargs.items():
            if key not in self.params:
                raise TypeError(f"{self.name}() got an unexpected parameter {key!r}")
            bound[key] = value
        missing = [p for p in self.params if p not in bound]
        if missing:
            raise TypeError(f"{self.name}() is missing parameter(s) {', '.join(missing)}")
        return tuple(_static(bound[p]) for p in self.params)

    def __repr__(self) -> str:
        return f"<op {self.name}>"


def _static(value: Any) -> Any:
    """Static parameters are plain Python values (a numpy scalar would change result dtypes)."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, list):
        return tuple(_static(v) for v in value)
    return value


# --- checks of static parameters, float dtypes ---------------------------------------------------


def is_int(value: Any) -> bool:
    """Whether a static parameter is an int (``True`` and ``False`` are not)."""
    return isinstance(value, int) and not isinstance(value, bool)


def is_real(value: Any) -> bool:
    """Whether a static parameter is an int or a float (``True`` and ``False`` are not)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def float_dtype(dtype: Any) -> Any:
    """The dtype an op that computes in floating point gives: ``dtype`` itself if it is a
    float dtype, float64 otherwise (ints and bools)."""
    return dtype if dtype.kind == "f" else np.dtype(np.float64)


def as_float(x: Any) -> Any:
    """``x`` itself if its dtype is a float dtype, else ``x`` converted to float64 (forward
    rules only: a VJP must not convert a cotangent)."""
    return x if x.dtype.kind == "f" else x.astype(np.float64)


# --- shape-rule building blocks ------------------------------------------------------------------


def same_shape(x: Any, *params: Any) -> ShapeDtype:
    """The shape rule of an elementwise unary op."""
    if x.__class__ is ShapeDtype:
        return x  # immutable, and already the answer (saves the shape-only interpreter a copy)
    return ShapeDtype(x.shape, x.dtype)


def broadcast_shapes(op: str, *shapes: tuple[int, ...]) -> tuple[int, ...]:
    """numpy's broadcast of the operand shapes, or :class:`ShapeMismatch`."""
    try:
        return tuple(np.broadcast_shapes(*shapes))
    except ValueError:
        raise ShapeMismatch(op, shapes, "the shapes do not broadcast") from None


def result_dtype(*avals: Any) -> np.dtype[Any]:
    """The dtype numpy gives an elementwise op on these operands."""
    first = avals[0].dtype
    for a in avals:
        if a.dtype != first:
            return np.result_type(*(a.dtype for a in avals))
    return first  # type: ignore[no-any-return]


class binary_shape:  # noqa: N801 - used like a function
    """The shape rule of a broadcasting binary op named ``name``."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __call__(self, a: Any, b: Any, *params: Any) -> ShapeDtype:
        sa, sb = a.shape, b.shape
        da, db = a.dtype, b.dtype
        if sa == sb and da == db:
            return a if a.__class__ is ShapeDtype else ShapeDtype(sa, da)
        shape = sa if sa == sb else broadcast_shapes(self.name, sa, sb)
        return ShapeDtype(shape, da if da == db else np.result_type(da, db))
