"""Requests: what a program ``yield``s to its interpreter.

There are exactly two kinds, both small and immutable:

* :class:`Leaf` asks for a new leaf node holding a value;
* :class:`Op` asks for one operation on handles the program already holds.

Requests compare by identity: they may hold arrays, and an array has no useful ``==``.

>>> import numpy as np
>>> leaf = Leaf(np.array([1.0, 2.0]), name="w")
>>> leaf.requires_grad, leaf.name, leaf.value.shape
(True, 'w', (2,))
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, TypeAlias

import numpy as np

if TYPE_CHECKING:
    from tapem.handle import Handle
    from tapem.ops.opdef import OpDef

__all__ = ["Leaf", "Op", "Request", "make_op"]


class Leaf(tuple):  # type: ignore[type-arg]
    """Ask for a leaf node holding ``value``.

    ``requires_grad=True`` makes a trainable leaf (what :func:`tapem.param` yields); ``False``
    makes a data leaf that never receives a gradient (what :func:`tapem.const` yields).
    The value is converted with :func:`numpy.asarray`; a trainable leaf must be floating point,
    so integer and boolean values are converted to float64. The caller's array is never written
    to. The eager interpreter records a copy of a writable array (so that changing it later
    cannot change the tape) and the array itself when it is read-only all the way down, as
    optimizer results, gradients and ``DataLoader`` batches are. A ``Leaf`` is a tuple
    ``(value, name, requires_grad)`` underneath (cheap and immutable); it compares by identity.
    """

    __slots__ = ()
    __eq__ = object.__eq__
    __ne__ = object.__ne__
    __hash__ = object.__hash__

    def __new__(cls, value: Any, name: str | None = None, requires_grad: bool = True) -> Leaf:
        array = value if value.__class__ is np.ndarray else np.asarray(value)
        if requires_grad:
            if array.dtype.kind in "biu":
                array = array.astype(np.float64)
            return tuple.__new__(cls, (array, name, True))
        return tuple.__new__(cls, (array, name, False))

    @property
    def value(self) -> np.ndarray[Any, Any]:
        """The leaf's value (the caller's array, or a conversion of it)."""
        return self[0]  # type: ignore[no-any-return]

    @property
    def name(self) -> str | None:
        """The leaf's name, if any (``value_and_grad`` keys gradients by it)."""
        return self[1]  # type: ignore[no-any-return]

    @property
    def requires_grad(self) -> bool:
        """Whether the leaf is trainable."""
        return self[2]  # type: ignore[no-any-return]

    def __repr__(self) -> str:
        kind = "param" if self.requires_grad else "const"
        label = f" {self.name!r}" if self.name is not None else ""
        return f"Leaf({kind}{label}, {self.value.dtype}{list(self.value.shape)})"


class Op(tuple):  # type: ignore[type-arg]
    """Ask for one operation ``rule`` on ``inputs`` (handles) with static ``params``.

    ``rule`` is an :class:`~tapem.ops.OpDef` or the name of a built-in op; ``params`` maps the
    op's parameter names to values (defaults filled in). Programs rarely build an ``Op`` by
    hand: ``ops.add(a, b)`` and the operator sugar on handles (``a + b``) do it.
    An ``Op`` is a tuple ``(rule, inputs, args)`` underneath, ``args`` being the static
    parameters in the op's declared order; that makes it cheap to build and immutable. It
    compares by identity.
    """

    __slots__ = ()
    __eq__ = object.__eq__
    __ne__ = object.__ne__
    __hash__ = object.__hash__

    def __new__(
        cls,
        rule: OpDef | str,
        inputs: Sequence[Handle],
        params: Mapping[str, Any] | None = None,
    ) -> Op:
        if isinstance(rule, str):
            from tapem.ops import TABLE

            if rule not in TABLE:
                from tapem.errors import InvalidRequest

                raise InvalidRequest(rule, f"there is no built-in op named {rule!r}")
            rule = TABLE[rule]
        args = rule.bind((), params or {})
        return tuple.__new__(cls, (rule, tuple(inputs), args))

    @property
    def rule(self) -> OpDef:
        """The op's definition (forward, VJP, JVP, shape rule)."""
        return self[0]  # type: ignore[no-any-return]

    @property
    def inputs(self) -> tuple[Handle, ...]:
        """The handles the op reads, in argument order."""
        return self[1]  # type: ignore[no-any-return]

    @property
    def args(self) -> tuple[Any, ...]:
        """The static parameters, in the op's declared order."""
        return self[2]  # type: ignore[no-any-return]

    @property
    def params(self) -> Mapping[str, Any]:
        """The static parameters by name (read-only)."""
        return MappingProxyType(dict(zip(self[0].params, self[2], strict=True)))

    @property
    def name(self) -> str:
        """The op's name, e.g. ``"add"``."""
        return self[0].name  # type: ignore[no-any-return]

    def __repr__(self) -> str:
        args = [repr(h) for h in self.inputs]
        args += [f"{k}={v!r}" for k, v in self.params.items()]
        return f"Op({self.name}, {', '.join(args)})"


_new = tuple.__new__  # a module global: cheaper than looking ``__new__`` up on ``tuple``


def make_op(rule: OpDef, inputs: tuple[Handle, ...], args: tuple[Any, ...]) -> Op:
    """Build an ``Op`` from already-normalized parts, skipping the checks of ``Op(...)``."""
    return _new(Op, (rule, inputs, args))


Request: TypeAlias = Leaf | Op
