"""Arrays that nobody can change: how tapem records values without copying them.

A tape must never change after the fact, and no array a caller passes in is ever written to. So
a leaf records the caller's array itself only when it is :func:`immutable` (nobody can write to
it, nor make it writable again), and a copy otherwise. Everything tapem hands out goes through
:func:`readonly` (node values, gradients, optimizer results, ``DataLoader`` batches), which makes
it immutable without copying: a training loop that feeds tapem's own results back copies nothing.

numpy lets the owner of an array's memory turn its ``writeable`` flag back on at any time, but
refuses that for a read-only *view* of read-only arrays. So an immutable array is such a view
(or rests on a read-only buffer such as ``bytes``), and :func:`readonly` hands out exactly that:
a read-only view of an array it marks read-only.

>>> import numpy as np
>>> mine = np.arange(3.0)
>>> mine.flags.writeable = False          # the owner can undo this at any time
>>> immutable(mine)
False
>>> frozen = readonly(np.arange(3.0))
>>> immutable(frozen)
True
>>> try:
...     frozen.flags.writeable = True
... except ValueError:
...     print("refused")
refused
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["immutable", "readonly"]


def immutable(array: np.ndarray[Any, Any]) -> bool:
    """Whether nobody can write to ``array``, nor make it writable again through its flags:
    a read-only view of read-only arrays all the way down, resting on an array or on a
    read-only buffer. An array that owns its memory never counts, even when it is read-only
    now (its owner may turn the flag back on)."""
    if array.flags.writeable:
        return False
    base: object = array.base
    if base is None:
        return False
    while isinstance(base, np.ndarray):
        if base.flags.writeable:
            return False
        base = base.base
    if base is None:
        return True
    try:  # a foreign buffer (bytes, bytearray, mmap): only a read-only one is safe
        return memoryview(base).readonly  # type: ignore[arg-type]
    except TypeError:
        return False


def readonly(value: Any) -> Any:
    """``value`` as an array its receiver cannot write to, nor make writable (0-d for numpy
    scalars); never a copy of a large array.

    ``value`` must be an array tapem owns (nobody else writes to it after this call), and so
    must the arrays it is a view of: they are all marked read-only (numpy lets a view be made
    writable again while any array under it is writable), and ``value`` is handed out as a
    read-only view of itself. Anything that is not a numpy array or scalar (a shape, a dual
    number) is returned as it is.
    """
    if isinstance(value, np.ndarray):
        if immutable(value):
            return value
        array: object = value
        while isinstance(array, np.ndarray):
            if array.flags.writeable:
                array.flags.writeable = False
            array = array.base
        view = value.view()
        view.flags.writeable = False
        return view
    if isinstance(value, np.generic):
        array = np.asarray(value)
        array.flags.writeable = False
        view = array.view()
        view.flags.writeable = False
        return view
    return value
