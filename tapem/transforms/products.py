"""What every higher derivative is made of: each input's part of a reverse pass, and
Hessian-vector products by forward-over-reverse (shared by the functional API, the program
forms in :mod:`tapem.transforms.by_params`, and :func:`tapem.check_grads`)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from tapem.arrays import readonly
from tapem.backward import seed_for
from tapem.dual.core import tangent_of
from tapem.program import Program
from tapem.protocol import Interpreter
from tapem.transforms.gradients import run_to_node

__all__ = ["hvp_of", "per_input"]

Array = np.ndarray[Any, Any]


def per_input(
    grads: Sequence[Any], xs: Mapping[int, Array], part: Callable[[Any], Any] | None = None
) -> dict[int, Array]:
    """The entry of a reverse pass's ``grads`` for each input (node id -> primal), or its
    ``part`` (:func:`~tapem.dual.tangent_of` for Hessian-vector products), as a read-only array
    of the input's dtype; zeros where nothing arrived (the output does not depend on the input,
    or the input was made after the output, beyond ``grads``).

    >>> import numpy as np
    >>> grads = [np.array([1.0, 2.0]), None]
    >>> got = per_input(grads, {0: np.zeros(2), 1: np.zeros(3), 2: np.zeros(1)})
    >>> assert np.array_equal(got[0], [1.0, 2.0]) and np.array_equal(got[2], [0.0])
    """
    result = {}
    for i, x in xs.items():
        g = grads[i] if i < len(grads) else None
        if g is not None and part is not None:
            g = part(g)
        result[i] = readonly(np.zeros_like(x) if g is None else np.asarray(g, dtype=x.dtype))
    return result


def hvp_of(
    program: Program[Any],
    interpreter: Interpreter,
    xs: Mapping[int, Array],
    who: str = "hvp",
    name: object = None,
) -> dict[int, Array]:
    """H·v for each input of ``xs`` (node id -> primal), where ``interpreter`` is a
    :class:`~tapem.interpreters.Forward` (or wraps one) whose leaves carry the tangents ``v``:
    ``program`` runs on duals, then the reverse pass from its scalar output runs every VJP rule
    on duals. ``who`` and ``name`` word the error for a program that returns no handle."""
    out, tape = run_to_node(program, interpreter, who, name)
    out, seed = seed_for(tape, out, None)
    return per_input(interpreter.backward(tape, out, seed), xs, tangent_of)
