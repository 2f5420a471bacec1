"""How an op is declared: one :class:`OpDef` holds its forward, VJP, JVP and shape rule.

Rules are pure functions of arrays (no closures on the tape):

* ``forward(*xs, *params) -> out``
* ``vjp[i](g, out, *xs, *params) -> cotangent of input i`` (``None`` for a non-differentiable
  input). Only the cotangents of inputs that need one are computed. A cotangent may have the
  output's broadcast shape: the reverse pass sums it back to the input's shape in one place.
* ``jvp[i](t, out, *xs, *params) -> contribution of input i's tangent t to the output tangent``
  (the forward-mode interpreter sums the contributions, broadcasting each to the output shape).
* ``shape(*avals, *params) -> ShapeDtype``: from anything with ``.shape`` and ``.dtype``; raises
  :class:`~tapem.errors.ShapeMismatch` / :class:`~tapem.errors.InvalidArgument`. The recording
  path runs it before asking any interpreter for a value, so all of them fail on the same
  request. It must depend on nothing but those shapes, dtypes and params: a run remembers the
  signatures that passed and does not check them again.

Static parameters are passed positionally, after the inputs, in the order ``params`` declares;
each has a kind (:mod:`tapem.ops.params`) that checks it when the request is built.

VJP rules must use numpy functions and operators only (no in-place writes): the Hessian code
re-runs them on dual numbers.

A custom op is just another ``OpDef``; no registry is involved. An elementwise op gives its
derivative once (:func:`unary`, :func:`binary`); :mod:`tapem.ops.dtypes` says which dtype an op
computes in:

>>> import numpy as np
>>> cube = unary("cube", lambda x: x**3, lambda v, out, x: 3 * x**2 * v, doc="x ** 3")
>>> cube.arity, cube.name, str(inspect.signature(cube))
(1, 'cube', '(x, /) -> tapem.requests.Op')
"""

from __future__ import annotations

import functools
import inspect
import math
from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType
from typing import Any, TypeAlias

import numpy as np

from tapem.errors import ShapeMismatch
from tapem.ops.dtypes import DtypeRule, float_dtype
from tapem.ops.params import ANY, Kind
from tapem.requests import Op, make_op

__all__ = [
    "Forward",
    "JvpFn",
    "OpDef",
    "ShapeDtype",
    "ShapeFn",
    "Variadic",
    "VjpFn",
    "binary",
    "binary_shape",
    "broadcast_shapes",
    "float_shape",
    "pass_through",
    "same_shape",
    "unary",
    "unary_shape",
]

Forward: TypeAlias = Callable[..., Any]
BatchFn: TypeAlias = Callable[..., Any]
"""A batching rule: ``batch(emit, xs, batched, args) -> handle`` (see :mod:`tapem.batching`)."""
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
        return math.prod(self.shape)  # Python ints: a size never overflows

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
    """The rule of every input of a variadic op: ``rule(i, ...)`` serves input ``i``.

    ``at_once``, if given, returns what ``rule`` gives for every input at once, as a tuple
    (``at_once(g, out, *xs, *params)``): a caller that needs every input's result (a reverse
    pass over a node of ``concat``) pays for the op once instead of once per input. A per-input
    call receives every input too, so it costs at least the number of inputs.
    """

    __slots__ = ("at_once", "rule")

    def __init__(
        self, rule: Callable[..., Any], at_once: Callable[..., tuple[Any, ...]] | None = None
    ) -> None:
        self.rule = rule
        self.at_once = at_once

    def __getitem__(self, i: Any) -> Any:
        return functools.partial(self.rule, i)  # passes the arguments on without a second copy

    def __len__(self) -> int:
        raise TypeError("a variadic rule serves any number of inputs")


_HINTS = {"dim": "axis", "keepdim": "keepdims", "input": "x"}
"""PyTorch's names of parameters that tapem spells as numpy does."""


class OpDef:
    """One op: its name, its inputs and static parameters, its rules, and what it computes.

    Calling an ``OpDef`` builds the :class:`~tapem.requests.Op` request, with the signature
    ``name(*inputs, /, *params)``: ``ops.clamp(x, 0.0, 1.0)`` or ``ops.clamp(x, lo=0.0,
    hi=1.0)``. The inputs are handles, given by position; a variadic op (``inputs=None``) takes
    one sequence of handles first (``ops.concat([a, b], axis=0)``). Static parameters are
    checked when the request is built, by their :class:`~tapem.ops.params.Kind`
    (``params={"c": REAL}``; parameters given by name only, as a sequence, are of kind
    ``ANY``), with ``defaults`` for the ones that may be left out.

    The rules (see the module docstring): ``forward``, ``shape``, and the derivative, given
    either as ``vjp`` and ``jvp`` (one rule per input, ``None`` for an input that is not
    differentiable) or, for an op whose every input has a self-adjoint Jacobian (an
    elementwise op: a diagonal one), once, as ``derivative``: one linear map
    ``d(v, out, *inputs, *params)`` per input, applied to the cotangent for the VJP and to the
    tangent for the JVP. ``doc`` says what the op computes (its formula first); it becomes the
    op's docstring, under its signature, so ``help(ops.linear)`` shows both.
    """

    def __init__(
        self,
        name: str,
        *,
        forward: Forward,
        shape: ShapeFn,
        vjp: Sequence[VjpFn | None] | None = None,
        jvp: Sequence[JvpFn | None] | None = None,
        derivative: Sequence[VjpFn | None] | None = None,
        inputs: Sequence[str] | None = ("x",),
        params: Sequence[str] | Mapping[str, Kind] = (),
        defaults: Mapping[str, Any] | None = None,
        doc: str = "",
        batch: BatchFn | None = None,
    ) -> None:
        self.name = name
        self.batch = batch
        self.forward = forward
        self.shape = shape
        # Elementwise ops cannot fail on equal input shapes of a float dtype, and keep that dtype:
        # interpreters may skip the rule then (see unary_shape and binary_shape).
        self.elementwise = shape is same_shape or isinstance(shape, (unary_shape, binary_shape))
        self.inputs = None if inputs is None else tuple(inputs)
        self.arity = None if self.inputs is None else len(self.inputs)
        kinds = dict(params) if isinstance(params, Mapping) else dict.fromkeys(params, ANY)
        self.params = tuple(kinds)
        self.kinds = tuple(kinds.values())
        self.defaults: Mapping[str, Any] = MappingProxyType(
            {k: kinds[k].check(name, k, v) for k, v in (defaults or {}).items()}
        )
        self.doc = doc
        if derivative is not None:
            if vjp is not None or jvp is not None:
                raise TypeError(f"op {name!r}: give either derivative or vjp and jvp, not both")
            vjp = jvp = derivative
        if vjp is None or jvp is None:
            raise TypeError(f"op {name!r}: give its derivative (or its vjp and jvp rules)")
        if self.arity is not None:
            for label, rules in (("vjp", vjp), ("jvp", jvp)):
                if len(rules) != self.arity:
                    raise TypeError(
                        f"op {name!r}: {label} needs one rule (or None) per input, "
                        f"{self.arity} in all; got {len(rules)}"
                    )
        self.vjp = tuple(vjp) if not isinstance(vjp, Variadic) else vjp
        self.jvp = tuple(jvp) if not isinstance(jvp, Variadic) else jvp
        # the fast paths of __call__: the arguments when every parameter takes its default
        # (None if some parameter has none), and the number of arguments that gives them all
        every = all(p in self.defaults for p in self.params)
        self._default_args = tuple(self.defaults[p] for p in self.params) if every else ()
        self._plain = -1 if self.arity is None or not every else self.arity
        self._full = -1 if self.arity is None else self.arity + len(self.params)
        if type(self).bind is not OpDef.bind:  # a subclass binds its own way: no shortcut
            self._full = self._plain = -1
        # what help(), inspect and IDEs read: an op documents itself like a function
        self.__name__ = self.__qualname__ = name
        self.__signature__ = self._signature()
        self.__doc__ = self._docstring()

    def __call__(self, *args: Any, **kwargs: Any) -> Op:
        if not kwargs:  # the common cases first, without a call
            n = len(args)
            if n == self._plain:  # the inputs only, and every parameter has a default
                return make_op(self, args, self._default_args)
            if n == self._full and n - 1 == self.arity:  # the inputs and one parameter
                c = args[-1]
                if c.__class__ in self.kinds[0].ready:
                    return make_op(self, args[:-1], (c,))
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
        return make_op(self, inputs, self.bind(rest, kwargs))

    def bind(self, args: Sequence[Any], kwargs: Mapping[str, Any]) -> tuple[Any, ...]:
        """Static parameters from positional ``args`` and ``kwargs``, checked by their kinds,
        defaults filled in, in declared order."""
        if not args and not kwargs and self._plain >= 0:
            return self._default_args
        if len(args) > len(self.params):
            raise TypeError(
                f"{self.name}() takes parameters ({', '.join(self.params) or 'none'}); got "
                f"{len(args)} positional ones"
            )
        given = dict(zip(self.params, args, strict=False))
        for key, value in kwargs.items():
            if key not in self.params:
                hint = _HINTS.get(key, "")
                hint = f"; numpy's name is `{hint}=`" if hint in self.params else ""
                raise TypeError(f"{self.name}() got an unexpected parameter {key!r}{hint}")
            if key in given:
                raise TypeError(f"{self.name}() got parameter {key!r} twice")
            given[key] = value
        missing = [p for p in self.params if p not in given and p not in self.defaults]
        if missing:
            raise TypeError(f"{self.name}() is missing parameter(s) {', '.join(missing)}")
        return tuple(
            kind.check(self.name, p, given[p]) if p in given else self.defaults[p]
            for p, kind in zip(self.params, self.kinds, strict=True)
        )

    def __get__(self, instance: object, owner: type | None = None) -> OpDef:
        """An op stored on a class is the op itself (and pydoc documents ops as routines)."""
        return self

    def _signature(self) -> inspect.Signature:
        positional = inspect.Parameter.POSITIONAL_ONLY
        if self.inputs is None:
            handles = [inspect.Parameter("xs", positional)]
        else:
            handles = [inspect.Parameter(name, positional) for name in self.inputs]
        parameters: list[inspect.Parameter] = []
        kind: inspect._ParameterKind = inspect.Parameter.POSITIONAL_OR_KEYWORD
        empty = inspect.Parameter.empty
        for p in self.params:
            default = self.defaults.get(p, empty)
            if default is empty and parameters and parameters[-1].default is not empty:
                # a required parameter after optional ones (smooth_max_pool's beta): shown as
                # keyword-only, the call that leaves the optional ones out
                kind = inspect.Parameter.KEYWORD_ONLY
            parameters.append(inspect.Parameter(p, kind, default=default))
        return inspect.Signature([*handles, *parameters], return_annotation=Op)

    def _docstring(self) -> str:
        lines = [self.doc.strip()] if self.doc.strip() else []
        if self.params:
            kinds = ", ".join(
                f"{p}: {k.what}" for p, k in zip(self.params, self.kinds, strict=True)
            )
            lines.append(f"Static parameters: {kinds}.")
        lines.append(
            f"Returns the request for the op; ``yield`` it to get the handle of its node. "
            f"(``tapem.ops.{self.name}``, an :class:`~tapem.ops.opdef.OpDef`.)"
        )
        return "\n\n".join(lines)

    def __repr__(self) -> str:
        return f"<op {self.name}>"


def unary(
    name: str,
    forward: Forward,
    derivative: VjpFn,
    *,
    doc: str,
    params: Mapping[str, Kind] | None = None,
    defaults: Mapping[str, Any] | None = None,
    shape: ShapeFn | None = None,
) -> OpDef:
    """An elementwise op of one input ``x``: its forward, and its derivative once, as the map
    ``d(v, out, x, *params)`` that multiplies ``v`` by ``f'(x)`` (the Jacobian is diagonal, so
    the same map is the VJP and the JVP). The shape rule is ``same_shape`` unless given."""
    return OpDef(name, inputs=("x",), params=params or {}, defaults=defaults, forward=forward,
                 shape=shape or same_shape, derivative=(derivative,), doc=doc)  # fmt: skip


def binary(
    name: str,
    forward: Forward,
    derivative: tuple[VjpFn | None, VjpFn | None],
    *,
    doc: str,
    inputs: tuple[str, str] = ("a", "b"),
    dtype: DtypeRule | None = None,
) -> OpDef:
    """An elementwise op of two inputs that broadcast like numpy, with its derivative once: one
    map ``d(v, out, a, b)`` per input (the VJP's cotangent may keep the broadcast shape: the
    reverse pass sums it back to the input's shape). ``dtype(a_dtype, b_dtype)`` gives the
    output's dtype where it is not numpy's promotion of the two (see :class:`binary_shape`)."""
    return OpDef(name, inputs=inputs, forward=forward, shape=binary_shape(name, dtype),
                 derivative=derivative, doc=doc)  # fmt: skip


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


class unary_shape:  # noqa: N801 - used like a function
    """The shape rule of an elementwise op of one input: ``x``'s shape, with the dtype
    ``dtype(x.dtype, *params)`` gives (see :data:`DtypeRule`).

    >>> rule = unary_shape(float_dtype)
    >>> rule(ShapeDtype((2,), np.int8))
    ShapeDtype((2,), float64)
    """

    __slots__ = ("dtype",)

    def __init__(self, dtype: DtypeRule) -> None:
        self.dtype = dtype

    def __call__(self, x: Any, *params: Any) -> ShapeDtype:
        dtype = self.dtype(x.dtype, *params)
        return same_shape(x) if dtype == x.dtype else ShapeDtype(x.shape, dtype)


float_shape = unary_shape(float_dtype)
"""The shape rule of an elementwise op that computes in floating point (ints and bools give
float64)."""


class binary_shape:  # noqa: N801 - used like a function
    """The shape rule of a broadcasting binary op named ``name``: the broadcast shape, and
    numpy's promotion of the two dtypes, or what ``dtype(a_dtype, b_dtype)`` gives (see
    :data:`DtypeRule`)."""

    __slots__ = ("dtype", "name")

    def __init__(self, name: str, dtype: DtypeRule | None = None) -> None:
        self.name = name
        self.dtype = dtype

    def __call__(self, a: Any, b: Any, *params: Any) -> ShapeDtype:
        sa, sb = a.shape, b.shape
        da, db = a.dtype, b.dtype
        if sa == sb and da == db and self.dtype is None:
            return a if a.__class__ is ShapeDtype else ShapeDtype(sa, da)
        dtype = np.result_type(da, db) if self.dtype is None else self.dtype(da, db)
        return ShapeDtype(sa if sa == sb else broadcast_shapes(self.name, sa, sb), dtype)
