"""The eager interpreter (the default): computes values with numpy and records the tape."""

from __future__ import annotations

from typing import Any

import numpy as np

from tapem.backward import CotangentCheck, reverse
from tapem.errors import InvalidNodeId, InvalidRequest, TapeError
from tapem.handle import Handle
from tapem.interpreters.recording import Recording
from tapem.requests import Leaf, Op
from tapem.sites import Site
from tapem.tape import RECORD_REQUIRES_GRAD, RECORD_VALUE, Tape

__all__ = ["Eager", "check_inputs", "leaf_value"]


def frozen(array: np.ndarray[Any, Any]) -> bool:
    """Whether nobody can write to ``array``: it, and every array it is a view of, is read-only.

    (Read-only memory that is not an ndarray, e.g. ``bytes``, counts as frozen too.)
    """
    base: object = array
    while isinstance(base, np.ndarray):
        if base.flags.writeable:
            return False
        base = base.base
    return base is None or isinstance(base, bytes)


def leaf_value(request: Leaf) -> np.ndarray[Any, Any]:
    """The value a leaf records: the caller's array itself when it is frozen (see
    :func:`frozen`), otherwise a copy, so that changing the array later cannot change the tape.

    Optimizers, gradients and ``DataLoader`` batches hand out frozen arrays, so a training loop
    copies nothing.
    """
    value: np.ndarray[Any, Any] = request[0]
    if value.flags.writeable or not frozen(value):
        return value.copy()
    return value


def check_inputs(request: Op, length: int) -> None:
    """Raise the typed error for inputs that are not handles on a tape of ``length`` nodes."""
    for h in request.inputs:
        if not isinstance(h, Handle):
            raise InvalidRequest(
                request,
                f"input of {request.name} is a {type(h).__name__}, not a handle; "
                "wrap arrays with `yield from tm.const(...)` first",
            )
        if not 0 <= h.id < length:
            raise InvalidNodeId(h.id, length, request.name)


class Eager(Recording):
    """Evaluate each request with numpy as it arrives and append it to the tape.

    Each op's shape rule runs before its forward. Shape rules are pure functions of the
    inputs' shapes and dtypes and the op's parameters, so for ops without parameters a run
    checks each (op, shapes, dtypes) once: a per-sample loss checks ``linear`` once, not once
    per sample. A request that fails its rule is never remembered, so it fails every time.

    >>> import numpy as np
    >>> import tapem as tm
    >>> @tm.tapem
    ... def f():
    ...     x = yield from tm.param(np.array([1.0, 2.0]))
    ...     return (yield x * 3.0)
    >>> out, tape = tm.run(f(), interpreter=Eager()).unwrap()
    >>> assert np.allclose(tape.value(out), [3.0, 6.0])
    """

    def __init__(self) -> None:
        super().__init__()
        self._checked: set[tuple[Any, ...]] = set()

    def begin(self, tape: Tape, site: Site) -> None:
        super().begin(tape, site)
        self._checked = set()

    def leaf(self, request: Leaf) -> Handle:
        value = request[0]
        if value.flags.writeable or not frozen(value):  # as leaf_value, inlined: per sample
            value = value.copy()
        nodes = self._nodes
        nodes.append((value, request[1], request[2], (), None, ()))
        return Handle(len(nodes) - 1, value)

    def op(self, request: Op) -> Handle:
        # The hot loop of every eager run: ops of one, two and three inputs take a path
        # without lists or star-unpacking.
        rule, inputs, args = request
        nodes = self._nodes
        n = len(inputs)
        try:
            if n == 2:
                i, j = inputs[0].id, inputs[1].id
                node, other = nodes[i], nodes[j]
                a, b = node[0], other[0]
                if args:
                    if not rule.elementwise or a.shape != b.shape:
                        rule.shape(a, b, *args)
                    value = rule.forward(a, b, *args)
                else:
                    if not rule.elementwise or a.shape != b.shape:
                        key: tuple[Any, ...] = (rule, a.shape, b.shape, a.dtype, b.dtype)
                        if key not in self._checked:
                            rule.shape(a, b)
                            self._checked.add(key)
                    value = rule.forward(a, b)
                ids: tuple[int, ...] = (i, j)
                requires_grad = node[2] or other[2]
            elif n == 1:
                i = inputs[0].id
                node = nodes[i]
                x = node[0]
                requires_grad = node[2]
                if not rule.elementwise:
                    rule.shape(x, *args)
                value = rule.forward(x, *args)
                ids = (i,)
            elif n == 3:  # linear, layer_norm, conv, ...
                ids = (inputs[0].id, inputs[1].id, inputs[2].id)
                n0, n1, n2 = nodes[ids[0]], nodes[ids[1]], nodes[ids[2]]
                a, b, c = n0[0], n1[0], n2[0]
                if args:
                    rule.shape(a, b, c, *args)
                    value = rule.forward(a, b, c, *args)
                else:
                    key = (rule, a.shape, b.shape, c.shape, a.dtype, b.dtype, c.dtype)
                    if key not in self._checked:
                        rule.shape(a, b, c)
                        self._checked.add(key)
                    value = rule.forward(a, b, c)
                requires_grad = n0[2] or n1[2] or n2[2]
            else:
                ids, parents = self.gather(inputs)
                xs = list(map(RECORD_VALUE, parents))
                rule.shape(*xs, *args)
                value = rule.forward(*xs, *args)
                requires_grad = any(map(RECORD_REQUIRES_GRAD, parents))
        except TapeError:
            raise
        except Exception:
            check_inputs(request, len(nodes))
            raise
        index = self._rule_ids.get(rule)
        if index is None:
            index = self.rule_index(rule)
        nodes.append((value, None, requires_grad, ids, index, args))
        return Handle(len(nodes) - 1, value)

    def backward(
        self, tape: Tape, out: int, seed: Any, check: CotangentCheck | None = None
    ) -> list[Any]:
        return reverse(tape, out, seed, check)
