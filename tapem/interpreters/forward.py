"""The forward-mode interpreter: node values carry tangents (:class:`~tapem.dual.Dual` numbers).

Each op's primal is its forward rule on the primal inputs; its tangent is the sum of the op's
JVP rules over the inputs that carry a tangent, broadcast to the output's shape and cast to its
dtype. A node whose inputs carry no tangent stays a plain array. Leaves get their tangents from
the mapping given to :class:`Forward`.

Running the reverse pass over a tape this interpreter built gives **forward-over-reverse**:
every VJP rule runs on duals, so each cotangent is a dual whose primal is the gradient and whose
tangent is the gradient's directional derivative (a Hessian-vector product for a scalar loss).
:meth:`Forward.backward` does that, with a seed whose tangent is zero.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from tapem.backward import CotangentCheck, reverse
from tapem.dual.core import Dual, conform, make
from tapem.errors import InvalidArgument, ShapeMismatch, TapeError
from tapem.handle import Handle
from tapem.interpreters.eager import check_inputs, leaf_value
from tapem.interpreters.protocol import Site
from tapem.interpreters.recording import Recording
from tapem.requests import Leaf, Op
from tapem.tape import RECORD_REQUIRES_GRAD, RECORD_VALUE, Tape

__all__ = ["Forward", "Tangents"]

Tangents = Mapping[str | int, Any] | Sequence[Any]
"""Leaf tangents: by leaf name (``str``) or node id (``int``), or a sequence in the order the
run creates its trainable leaves (``param``\\ s)."""


class Forward(Recording):
    """Evaluate each request on dual numbers: values with tangents, by the ops' JVP rules.

    ``tangents`` names the leaves that carry a tangent: a mapping from leaf name or node id to
    an array of the leaf's shape, or a sequence giving the run's trainable leaves their
    tangents in creation order. Other leaves have a zero tangent. A key that matches no leaf is
    an :class:`~tapem.errors.InvalidArgument`; a tangent of the wrong shape a
    :class:`~tapem.errors.ShapeMismatch`.

    >>> import numpy as np
    >>> import tapem as tm
    >>> @tm.tapem
    ... def f():
    ...     x = yield from tm.param(np.array([1.0, 2.0]), name="x")
    ...     y = yield x * x
    ...     return (yield tm.ops.sum(y))
    >>> interp = Forward({"x": np.array([1.0, 0.0])})
    >>> out, tape = tm.run(f(), interpreter=interp).unwrap()
    >>> assert np.isclose(tape.value(out).tangent, 2.0)            # d/dt sum((x + t v)^2)
    >>> grads = interp.backward(tape, out.id, np.ones(()))           # forward-over-reverse
    >>> assert np.allclose(grads[0].tangent, [2.0, 0.0])             # H v = 2 v
    """

    def __init__(self, tangents: Tangents = ()) -> None:
        if isinstance(tangents, str):
            raise TypeError("Forward(tangents): give a mapping or a sequence of arrays")
        self._keyed: dict[str | int, Any] = dict(tangents) if isinstance(tangents, Mapping) else {}
        self._ordered: list[Any] = [] if isinstance(tangents, Mapping) else list(tangents)
        super().__init__()
        self._used: set[str | int] = set()
        self._params = 0

    def begin(self, tape: Tape, site: Site) -> None:
        super().begin(tape, site)
        self._used = set()
        self._params = 0

    def _tangent_for(self, request: Leaf, i: int) -> tuple[str | int, Any] | None:
        k = self._params  # this leaf's position among the run's trainable leaves
        if request.requires_grad:
            self._params += 1
        if i in self._keyed:
            return i, self._keyed[i]
        if request.name is not None and request.name in self._keyed:
            return request.name, self._keyed[request.name]
        if request.requires_grad and k < len(self._ordered):
            return f"param #{k}", self._ordered[k]
        return None

    def leaf(self, request: Leaf) -> Handle:
        value: Any = leaf_value(request)
        nodes = self._nodes
        i = len(nodes)
        found = self._tangent_for(request, i)
        if found is not None:
            key, tangent = found
            self._used.add(key)
            value = make(value, _leaf_tangent(request, value, key, tangent))
        nodes.append((value, request.name, request.requires_grad, (), None, ()))
        return Handle(i, value)

    def op(self, request: Op) -> Handle:
        # The hot loop of an HVP: unary and binary ops take a path without lists, as in Eager.
        rule, inputs, args = request
        nodes = self._nodes
        try:
            if len(inputs) == 1:
                i = inputs[0].id
                node = nodes[i]
                v = node[0]
                x = v.primal if v.__class__ is Dual else v
                if not rule.elementwise:
                    rule.shape(x, *args)
                out = rule.forward(x, *args)
                tangent = None
                if v.__class__ is Dual and rule.jvp[0] is not None:
                    tangent = rule.jvp[0](v.tangent, out, x, *args)
                ids: tuple[int, ...] = (i,)
                requires_grad = node[2]
            elif len(inputs) == 2:
                i, j = inputs[0].id, inputs[1].id
                node, other = nodes[i], nodes[j]
                v, w = node[0], other[0]
                a = v.primal if v.__class__ is Dual else v
                b = w.primal if w.__class__ is Dual else w
                if not rule.elementwise or a.shape != b.shape:
                    rule.shape(a, b, *args)
                out = rule.forward(a, b, *args)
                tangent = None
                if v.__class__ is Dual and rule.jvp[0] is not None:
                    tangent = rule.jvp[0](v.tangent, out, a, b, *args)
                if w.__class__ is Dual and rule.jvp[1] is not None:
                    c = rule.jvp[1](w.tangent, out, a, b, *args)
                    tangent = c if tangent is None else tangent + c
                ids = (i, j)
                requires_grad = node[2] or other[2]
            else:
                ids, parents = self.gather(inputs)
                values = list(map(RECORD_VALUE, parents))
                primals = [u.primal if u.__class__ is Dual else u for u in values]
                rule.shape(*primals, *args)
                out = rule.forward(*primals, *args)
                tangent = None
                for k, u in enumerate(values):
                    jvp_k = rule.jvp[k] if u.__class__ is Dual else None
                    if jvp_k is not None:
                        c = jvp_k(u.tangent, out, *primals, *args)
                        tangent = c if tangent is None else tangent + c
                requires_grad = any(map(RECORD_REQUIRES_GRAD, parents))
        except TapeError:
            raise
        except Exception:
            check_inputs(request, len(nodes))
            raise
        value = out
        if tangent is not None and out.dtype.kind in "fc":
            if not isinstance(tangent, (np.ndarray, np.generic)):
                tangent = np.asarray(tangent)
            if tangent.shape != out.shape or tangent.dtype != out.dtype:
                tangent = conform(tangent, out)
            value = make(out, tangent)
        nodes.append((value, None, requires_grad, ids, self.rule_index(rule), args))
        return Handle(len(nodes) - 1, value)

    def end(self) -> Tape:
        unused: list[object] = [k for k in self._keyed if k not in self._used]
        unused += [f"param #{k}" for k in range(self._params, len(self._ordered))]
        if unused:
            raise InvalidArgument(
                f"Forward: tangents given for {', '.join(map(repr, unused))}, but the run made "
                f"no such leaf ({self._params} trainable leaves); key tangents by leaf name, "
                "node id, or give one per param in order"
            )
        return super().end()

    def backward(
        self, tape: Tape, out: int, seed: Any, check: CotangentCheck | None = None
    ) -> list[Any]:
        """Forward-over-reverse: dual cotangents (gradient, its derivative along the tangents)."""
        if seed.__class__ is not Dual:
            seed = make(seed, np.zeros_like(seed))
        return reverse(tape, out, seed, check)


def _leaf_tangent(request: Leaf, value: Any, key: str | int, tangent: Any) -> Any:
    if value.dtype.kind not in "fc":
        raise InvalidArgument(
            f"Forward: leaf {key!r} has dtype {value.dtype}; only floating-point leaves carry "
            "tangents"
        )
    if isinstance(tangent, Dual):
        raise TypeError("Forward: a leaf's tangent must be a plain array")
    t = np.array(tangent, dtype=value.dtype, copy=True)
    if t.shape != value.shape:
        raise ShapeMismatch(
            "forward",
            [value.shape, t.shape],
            f"the tangent of leaf {key!r} must have the leaf's shape",
        )
    t.flags.writeable = False
    return t
