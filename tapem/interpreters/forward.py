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
from tapem.errors import InvalidArgument, ShapeMismatch
from tapem.interpreters.eager import Eager, leaf_value
from tapem.requests import Leaf, Op
from tapem.sites import Site
from tapem.tape import Tape

__all__ = ["Forward", "Tangents"]

Tangents = Mapping[str | int, Any] | Sequence[Any]
"""Leaf tangents: by leaf name (``str``) or node id (``int``), or a sequence in the order the
run creates its trainable leaves (``param``\\ s)."""


class Forward:
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
    >>> assert np.isclose(tape.node(out).value.tangent, 2.0)       # d/dt sum((x + t v)^2)
    >>> grads = interp.backward(tape, out.id, np.ones(()))           # forward-over-reverse
    >>> assert np.allclose(grads[0].tangent, [2.0, 0.0])             # H v = 2 v
    """

    def __init__(self, tangents: Tangents = ()) -> None:
        if isinstance(tangents, str):
            raise TypeError("Forward(tangents): give a mapping or a sequence of arrays")
        self._keyed: dict[str | int, Any] = dict(tangents) if isinstance(tangents, Mapping) else {}
        self._ordered: list[Any] = [] if isinstance(tangents, Mapping) else list(tangents)
        self._shapes = Eager()  # checks shapes as eager does
        self._site = Site(None)
        self._used: set[str | int] = set()
        self._params = 0

    def begin(self, tape: Tape, site: Site) -> None:
        self._shapes.begin(tape, site)
        self._site = site
        self._used = set()
        self._params = 0

    def _tangent_for(self, request: Leaf, i: int) -> tuple[str | int, Any] | None:
        k = self._params  # this leaf's position among the run's trainable leaves
        if request._requires_grad:
            self._params += 1
        if i in self._keyed:
            return i, self._keyed[i]
        if request.name is not None and request.name in self._keyed:
            return request.name, self._keyed[request.name]
        if request._requires_grad and k < len(self._ordered):
            return f"param #{k}", self._ordered[k]
        return None

    def leaf(self, request: Leaf) -> Any:
        value: Any = leaf_value(request._value)
        found = self._tangent_for(request, self._site.node())
        if found is not None:
            key, tangent = found
            self._used.add(key)
            value = make(value, _leaf_tangent(request, value, key, tangent))
        return value

    def op(self, request: Op, xs: tuple[Any, ...]) -> Any:
        rule, args = request._rule, request._args
        primals = tuple(v.primal if v.__class__ is Dual else v for v in xs)
        out = self._shapes.op(request, primals)  # shape rule and forward, as eager
        tangent = None
        jvps = rule.jvp
        for k, v in enumerate(xs):
            if v.__class__ is Dual:
                jvp = jvps[k]
                if jvp is not None:
                    c = jvp(v.tangent, out, *primals, *args)
                    tangent = c if tangent is None else tangent + c
        if tangent is None or out.dtype.kind not in "fc":
            return out
        if not isinstance(tangent, (np.ndarray, np.generic)):
            tangent = np.asarray(tangent)
        if tangent.shape != out.shape or tangent.dtype != out.dtype:
            tangent = conform(tangent, out)
        return make(out, tangent)

    def end(self, tape: Tape) -> None:
        unused: list[object] = [k for k in self._keyed if k not in self._used]
        unused += [f"param #{k}" for k in range(self._params, len(self._ordered))]
        if unused:
            raise InvalidArgument(
                f"Forward: tangents given for {', '.join(map(repr, unused))}, but the run made "
                f"no such leaf ({self._params} trainable leaves); key tangents by leaf name, "
                "node id, or give one per param in order"
            )

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
