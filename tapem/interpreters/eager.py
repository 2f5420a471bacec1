"""The eager interpreter (the default): each node's value computed with numpy as it arrives."""

from __future__ import annotations

from typing import Any

import numpy as np

from tapem.arrays import immutable
from tapem.backward import CotangentCheck, reverse
from tapem.requests import Leaf, Op
from tapem.sites import Site
from tapem.tape import Tape

__all__ = ["Eager", "leaf_value"]


def leaf_value(value: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """The value a leaf of the array ``value`` records: the array itself when it is immutable
    (see :func:`tapem.arrays.immutable`), otherwise a copy, so that changing the array later
    cannot change the tape.

    Optimizers, gradients and ``DataLoader`` batches hand out immutable arrays, so a training
    loop copies nothing.
    """
    if value.flags.writeable or not immutable(value):  # the test of a writable one, inlined
        return value.copy()
    return value


class Eager:
    """Evaluate each request with numpy: the op's forward rule (the recording path has checked
    its shapes).

    >>> import numpy as np
    >>> import tapem as tm
    >>> @tm.tapem
    ... def f():
    ...     x = yield from tm.param(np.array([1.0, 2.0]))
    ...     return (yield x * 3.0)
    >>> out, tape = tm.run(f(), interpreter=Eager()).unwrap()
    >>> assert np.allclose(tape.value(out), [3.0, 6.0])
    """

    def begin(self, tape: Tape, site: Site) -> None:
        pass

    def leaf(self, request: Leaf) -> Any:
        return leaf_value(request._value)

    def op(self, request: Op, xs: tuple[Any, ...]) -> Any:
        args = request._args
        return request._rule.forward(*xs, *args) if args else request._rule.forward(*xs)

    def end(self, tape: Tape) -> None:
        pass

    def backward(
        self, tape: Tape, out: int, seed: Any, check: CotangentCheck | None = None
    ) -> list[Any]:
        return reverse(tape, out, seed, check)
