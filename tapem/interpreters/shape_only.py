"""The shape-only interpreter: run a program on shapes and dtypes alone, before any compute."""

from __future__ import annotations

from typing import Any

from tapem.backward import CotangentCheck, seed_for
from tapem.errors import InvalidArgument, TapeError
from tapem.handle import Handle
from tapem.interpreters.eager import check_inputs
from tapem.interpreters.recording import Recording
from tapem.ops.opdef import ShapeDtype
from tapem.requests import Leaf, Op
from tapem.tape import RECORD_REQUIRES_GRAD, RECORD_VALUE, Tape

__all__ = ["ShapeOnly"]


class ShapeOnly(Recording):
    """Abstract evaluation: every node's value is a :class:`~tapem.ShapeDtype`, nothing else.

    Each op's shape rule decides its output (an elementwise op's rule is skipped only where it
    would return its input: a unary op, or equal operands) and no forward runs: there is no
    array arithmetic and leaf arrays are not copied, so a program with huge arrays is checked
    in microseconds. Every error that the eager interpreter raises from a
    shape rule or from bad inputs (:class:`~tapem.ShapeMismatch`, :class:`~tapem.InvalidArgument`
    for a bad static parameter, :class:`~tapem.InvalidNodeId`, :class:`~tapem.InvalidRequest`)
    is raised at the same request with the same type; otherwise the nodes get the shapes and
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

    def leaf(self, request: Leaf) -> Handle:
        value = request[0]
        aval = ShapeDtype(value.shape, value.dtype)
        nodes = self._nodes
        nodes.append((aval, request[1], request[2], (), None, ()))
        return Handle(len(nodes) - 1, aval)

    def op(self, request: Op) -> Handle:
        rule, inputs, args = request
        nodes = self._nodes
        n = len(inputs)
        try:
            if n == 1:
                i = inputs[0].id
                node = nodes[i]
                if rule.elementwise:  # its rule is same_shape, which returns its input
                    aval = node[0]
                else:
                    aval = rule.shape(node[0], *args) if args else rule.shape(node[0])
                ids: tuple[int, ...] = (i,)
                requires_grad = node[2]
            elif n == 2:
                i, j = inputs[0].id, inputs[1].id
                node, other = nodes[i], nodes[j]
                a, b = node[0], other[0]
                if rule.elementwise and a.shape == b.shape and a.dtype == b.dtype:
                    aval = a  # what its broadcasting rule returns for equal operands
                elif args:
                    aval = rule.shape(a, b, *args)
                else:  # a plain call: cheaper than unpacking an empty tuple
                    aval = rule.shape(a, b)
                ids = (i, j)
                requires_grad = node[2] or other[2]
            else:
                ids, parents = self.gather(inputs)
                aval = rule.shape(*map(RECORD_VALUE, parents), *args)
                requires_grad = any(map(RECORD_REQUIRES_GRAD, parents))
        except TapeError:
            raise
        except Exception:  # not handles, or ids off this tape: the same errors as eager
            check_inputs(request, len(nodes))
            raise
        index = self._rule_ids.get(rule)
        if index is None:
            index = self.rule_index(rule)
        nodes.append((aval, None, requires_grad, ids, index, args))
        return Handle(len(nodes) - 1, aval)

    def backward(
        self, tape: Tape, out: int, seed: Any, check: CotangentCheck | None = None
    ) -> list[Any]:
        seed_for(tape, out, seed)  # raises: the output of a ShapeOnly tape holds a shape
        raise InvalidArgument(
            "backward: the ShapeOnly interpreter computes no values, so it has no gradients; "
            "run the program with a value interpreter (Eager, the default) to differentiate it"
        )
