"""Requests: what a program ``yield``s to its interpreter.

There are exactly two kinds, both small and immutable:

* :class:`Leaf` asks for a new leaf node holding a value;
* :class:`Op` asks for one operation on handles the program already holds.

Requests compare by identity: they may hold arrays, and an array has no useful ``==``. This
module knows nothing of the op table: an :class:`Op` names its op by definition (what
``ops.add(a, b)`` builds) or by name (``Op("add", [a, b])``); the recording path
(:mod:`tapem.recording`) resolves a name when the request arrives.

>>> import numpy as np
>>> leaf = Leaf(np.array([1.0, 2.0]), name="w")
>>> leaf.requires_grad, leaf.name, leaf.value.shape
(True, 'w', (2,))
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType
from typing import Any, TypeAlias

import numpy as np

from tapem.errors import InvalidArgument
from tapem.expressions import Arithmetic, binary

__all__ = ["Leaf", "Op", "Request", "leaf_array", "make_leaf", "make_op"]

_LEAF_KINDS = frozenset("biuf")
"""numpy dtype kinds a leaf may hold: bool, signed and unsigned ints, floats."""


def leaf_array(value: Any, name: str | None, requires_grad: bool) -> Any:
    """``value`` as the array a leaf holds, or :class:`~tapem.InvalidArgument`.

    A leaf holds booleans, integers or floats; a trainable leaf (``requires_grad``) is
    floating, so integer and boolean values become float64. Complex, object, string and
    ``None`` values are refused (tapem differentiates real-valued programs). An object with a
    ``__tapem_leaf__`` method is replaced by what it returns first: the proxy of an element of
    a compiled loss's argument gives the proxy of its array (:mod:`tapem.replay.proxy`).
    """
    if value.__class__ is not np.ndarray:
        if getattr(value, "__tapem_per_sample__", False):
            return value  # per-sample data of a batched run: the run makes the leaf
        as_leaf = getattr(value, "__tapem_leaf__", None)
        if as_leaf is not None:  # an argument of a compiled loss being traced (tapem.replay)
            value = as_leaf()
    array = value if value.__class__ is np.ndarray else np.asarray(value)
    kind = array.dtype.kind
    if kind not in _LEAF_KINDS:
        what = "a trainable leaf (param)" if requires_grad else "a data leaf (const)"
        label = f" {name!r}" if name is not None else ""
        raise InvalidArgument(
            f"{what}{label} must hold bools, ints or floats; got {type(value).__name__} "
            f"with dtype {array.dtype}. tapem differentiates real-valued programs: convert the "
            "value (e.g. np.asarray(x, dtype=float)), or keep non-numeric data outside the tape"
        )
    if requires_grad and kind != "f":
        array = array.astype(np.float64)
    return array


def _unresolved(name: str) -> Any:
    return None


resolve_name: Callable[[str], Any] = _unresolved
"""The built-in op of a name, or ``None``: what an expression's operators build their requests
with (``(yield ops.sin(x)) * 0.9`` builds ``Op(scale, ...)``, not ``Op("scale", ...)``, so the
recording path need not look the name up). The op table sits above this module; it installs
its lookup here when it is imported (:mod:`tapem.handle`)."""


class Leaf:
    """Ask for a leaf node holding ``value``.

    ``requires_grad=True`` makes a trainable leaf (what :func:`tapem.param` yields); ``False``
    makes a data leaf that never receives a gradient (what :func:`tapem.const` yields).
    The value is converted with :func:`numpy.asarray` and checked by :func:`leaf_array`. The
    caller's array is never written to: the eager interpreter records a copy of it, unless it
    is a read-only view that nobody can make writable again (what tapem hands out: gradients,
    optimizer results, ``DataLoader`` batches). A ``Leaf`` is immutable by convention (three
    slots) and compares by identity.
    """

    # read-only to users (properties); the recording path reads the slots themselves
    __slots__ = ("_name", "_requires_grad", "_value")
    _value: Any
    _name: str | None
    _requires_grad: bool

    def __new__(cls, value: Any, name: str | None = None, requires_grad: bool = True) -> Leaf:
        flag = bool(requires_grad)
        return make_leaf(leaf_array(value, name, flag), name, flag)

    @property
    def value(self) -> Any:
        """The leaf's value (the caller's array, or a conversion of it)."""
        return self._value

    @property
    def name(self) -> str | None:
        """The leaf's name, if any (``value_and_grad`` keys gradients by it)."""
        return self._name

    @property
    def requires_grad(self) -> bool:
        """Whether the leaf is trainable."""
        return self._requires_grad

    def __repr__(self) -> str:
        kind = "param" if self.requires_grad else "const"
        label = f" {self.name!r}" if self.name is not None else ""
        return f"Leaf({kind}{label}, {self.value.dtype}{list(self.value.shape)})"


class Op(Arithmetic):
    """Ask for one operation ``rule`` on ``inputs`` (handles) with static ``params``.

    ``rule`` is an :class:`~tapem.ops.OpDef` or the name of a built-in op. Programs rarely
    build an ``Op`` by hand: ``ops.add(a, b)``, the operator sugar on handles (``a + b``) and
    numpy's functions on handles (``np.exp(h)``) do it. With a definition, ``params`` (a
    mapping of the op's parameter names) are bound at once, defaults filled in, and checked;
    with a name, they are bound when the request reaches the recording path, and a name that
    is no op fails there, at its ``yield``. An input may itself be a request: the ``Op`` is
    then an expression, which the recording path records op by op (see
    :mod:`tapem.expressions`), so requests have the same operators as handles.

    An ``Op`` has three slots: ``rule``, ``inputs`` and ``args`` (the static parameters in the
    op's declared order; for a request by name, the ``(name, value)`` pairs given). It is
    immutable by convention and compares by identity.
    """

    # read-only to users (properties); the recording path reads the slots themselves
    __slots__ = ("_args", "_inputs", "_rule")
    _rule: Any
    _inputs: tuple[Any, ...]
    _args: tuple[Any, ...]

    def __new__(
        cls,
        rule: Any,
        inputs: Sequence[Any],
        params: Mapping[str, Any] | None = None,
    ) -> Op:
        if isinstance(rule, str):
            return make_op(rule, tuple(inputs), tuple((params or {}).items()))
        return make_op(rule, tuple(inputs), rule.bind((), params or {}))

    @property
    def rule(self) -> Any:
        """The op's definition (an :class:`~tapem.ops.OpDef`), or its name if the request was
        made by name and not yet resolved."""
        return self._rule

    @property
    def inputs(self) -> tuple[Any, ...]:
        """The handles (or requests) the op reads, in argument order."""
        return self._inputs

    @property
    def args(self) -> tuple[Any, ...]:
        """The static parameters, in the op's declared order."""
        return self._args

    @property
    def op(self) -> str:
        """The op's name, e.g. ``"add"``."""
        rule = self._rule
        return rule if isinstance(rule, str) else rule.name

    @property
    def params(self) -> Mapping[str, Any]:
        """The static parameters by name (read-only)."""
        if isinstance(self._rule, str):
            return MappingProxyType(dict(self._args))
        return MappingProxyType(dict(zip(self._rule.params, self._args, strict=True)))

    @classmethod
    def _build(cls, name: str, inputs: Any, params: dict[str, Any]) -> Op:
        rule = resolve_name(name)
        return Op(name if rule is None else rule, inputs, params)

    @classmethod
    def _plain(cls, name: str, inputs: tuple[Any, ...], args: tuple[Any, ...]) -> Op:
        return make_op(resolve_name(name), inputs, args)  # (a built-in op's name)

    # The operators of an expression, as a handle's: the common operands without a detour
    # (a float is a scalar op's parameter, already in its canonical form).

    def __add__(self, other: Any) -> Any:
        if other.__class__ is float:
            return self._plain("shift", (self,), (other,))
        if isinstance(other, Arithmetic):
            return self._plain("add", (self, other), ())
        return binary("+", self, other)

    def __radd__(self, other: Any) -> Any:
        if other.__class__ is float:
            return self._plain("shift", (self,), (other,))
        return binary("+", other, self)

    def __sub__(self, other: Any) -> Any:
        if other.__class__ is float:
            return self._plain("shift", (self,), (-other,))
        if isinstance(other, Arithmetic):
            return self._plain("sub", (self, other), ())
        return binary("-", self, other)

    def __rsub__(self, other: Any) -> Any:
        if other.__class__ is float:
            return self._plain("rsub", (self,), (other,))
        return binary("-", other, self)

    def __mul__(self, other: Any) -> Any:
        if other.__class__ is float:
            return self._plain("scale", (self,), (other,))
        if isinstance(other, Arithmetic):
            return self._plain("mul", (self, other), ())
        return binary("*", self, other)

    def __rmul__(self, other: Any) -> Any:
        if other.__class__ is float:
            return self._plain("scale", (self,), (other,))
        return binary("*", other, self)

    @classmethod
    def _const(cls, value: Any) -> Leaf:
        return Leaf(value, None, False)

    def __repr__(self) -> str:
        args = [repr(h) for h in self.inputs]
        args += [f"{k}={v!r}" for k, v in self.params.items()]
        return f"Op({self.op}, {', '.join(args)})"


_alloc = object.__new__  # a module global: cheaper than looking it up on ``object``


def make_op(rule: Any, inputs: tuple[Any, ...], args: tuple[Any, ...]) -> Op:
    """Build an ``Op`` from already-normalized parts (an op definition, a tuple of handles,
    bound arguments), skipping the checks of ``Op(...)``."""
    op: Op = _alloc(Op)
    op._rule = rule
    op._inputs = inputs
    op._args = args
    return op


def make_leaf(value: Any, name: str | None, requires_grad: bool) -> Leaf:
    """Build a ``Leaf`` from a checked value (see :func:`leaf_array`)."""
    leaf: Leaf = _alloc(Leaf)
    leaf._value = value
    leaf._name = name
    leaf._requires_grad = requires_grad
    return leaf


Request: TypeAlias = Leaf | Op
