"""The shape-only interpreter: run a program on shapes and dtypes alone, before any compute."""

from __future__ import annotations

from typing import Any

from tapem.backward import CotangentCheck, seed_for
from tapem.errors import InvalidArgument
from tapem.ops.opdef import ShapeDtype
from tapem.requests import Leaf, Op
from tapem.sites import Site
from tapem.tape import Tape

__all__ = ["ShapeOnly"]


class ShapeOnly:
    """Abstract evaluation: every node's value is a :class:`~tapem.ShapeDtype`, nothing else.

    Each op's shape rule decides its output (an elementwise op's rule is skipped only where it
    would return its float input unchanged: a unary op, or equal operands) and no forward runs:
    there is no array arithmetic and leaf arrays are not copied, so a program with huge arrays
    is checked in microseconds. Every error that the eager interpreter raises from a shape rule
    or from bad inputs (:class:`~tapem.ShapeMismatch`, :class:`~tapem.InvalidArgument` for a
    bad static parameter, :class:`~tapem.InvalidNodeId`, :class:`~tapem.InvalidRequest`) is
    raised at the same request with the same type; otherwise the nodes get the shapes and
    dtypes eager would compute.

    Checks that need values are skipped: the domain of ``log`` (:class:`~tapem.DomainError`),
    the range of ``cross_entropy``'s labels, and anything else an op's forward checks. The tape
    it returns holds shapes, not values, so it cannot be differentiated: ``backward`` raises
    :class:`~tapem.InvalidArgument`.

    >>> import numpy as np
    >>> import tapem as tm
    >>> from tapem import ops
    >>> huge = np.broadcast_to(np.zeros(()), (100_000, 100_000))  # no memory behind it
    >>> @tm.tapem
    ... def f():
    ...     W = yield from tm.param(huge)
    ...     x = yield from tm.const(np.zeros(100_000))
    ...     h = yield ops.tanh((yield W @ x))
    ...     return (yield ops.sum(h))
    >>> out, tape = tm.run(f(), interpreter=ShapeOnly()).unwrap()
    >>> assert tape.node(2).shape == (100_000,) and out.shape == ()
    >>> assert isinstance(tape.node(out).value, tm.ShapeDtype)
    """

    def begin(self, tape: Tape, site: Site) -> None:
        pass

    def leaf(self, request: Leaf) -> Any:
        value = request._value
        return ShapeDtype(value.shape, value.dtype)

    def op(self, request: Op, xs: tuple[Any, ...]) -> Any:
        rule = request._rule
        if rule.elementwise:  # what its rule returns, without the call, where that is certain
            x = xs[0]
            if x.__class__ is ShapeDtype and x.floating:
                if len(xs) == 1:
                    return x
                y = xs[1]
                if y is x or (y.shape == x.shape and y.dtype == x.dtype):
                    return x
        return rule.shape(*xs, *request._args)

    def end(self, tape: Tape) -> None:
        pass

    def backward(
        self, tape: Tape, out: int, seed: Any, check: CotangentCheck | None = None
    ) -> list[Any]:
        seed_for(tape, out, seed)  # raises: the output of a ShapeOnly tape holds a shape
        raise InvalidArgument(
            "backward: the ShapeOnly interpreter computes no values, so it has no gradients; "
            "run the program with a value interpreter (Eager, the default) to differentiate it"
        )
