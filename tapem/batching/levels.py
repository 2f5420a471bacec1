"""Batched runs of a per-sample program: levels, the handles a batched program holds, and the
requests that open and close a level.

A **level** is one batched run of a per-sample program (``tm.vmap``,
``mean_scalar_over(..., batched=True)``, ``tm.per_sample_grads``): its batch size, and whether
trainable leaves made inside it are per sample (for per-sample gradients). Levels nest.

Inside a level the program holds **per-sample handles**: a handle whose value is a
:class:`Batched` marker, with the shape and dtype of one sample and the handle of the real,
batched node (batch axis first). The recording path sees the marker (it is no node's value),
and batches the op by its rule instead of recording it as it is (:mod:`tapem.batching.apply`).

:class:`Begin` and :class:`End` are the requests ``tm.vmap`` yields around the per-sample
program: the recording path opens the level, and closes it, handing back the real, batched
handles of the program's result.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tapem.handle import Handle
from tapem.ops.opdef import ShapeDtype

__all__ = ["Batched", "Begin", "End", "Level", "per_sample", "real_handle"]


class Level:
    """One batched run: ``size`` samples; ``per_sample_params``: trainable leaves made inside
    it are broadcast to one copy per sample (their gradients are then per sample)."""

    __slots__ = ("depth", "per_sample_params", "size")

    def __init__(self, size: int, *, per_sample_params: bool = False) -> None:
        self.size = size
        self.per_sample_params = per_sample_params
        self.depth = -1  # set when the recording path opens it

    def __repr__(self) -> str:
        return f"<batched run of {self.size} samples>"


class Batched:
    """What a per-sample handle holds: one sample's ``shape`` and ``dtype``, and the ``handle``
    of the real node, whose axis 0 runs over the samples of ``level``."""

    __slots__ = ("dtype", "handle", "level", "shape")

    def __init__(self, handle: Handle, level: Level) -> None:
        self.handle = handle
        self.level = level
        self.shape: tuple[int, ...] = handle.shape[1:]
        self.dtype: np.dtype[Any] = handle.dtype

    def __repr__(self) -> str:
        return f"Batched({ShapeDtype(self.shape, self.dtype)}, {self.handle!r}, {self.level})"


def per_sample(handle: Handle, level: Level) -> Handle:
    """The per-sample handle of ``handle``, a real node whose axis 0 runs over ``level``'s
    samples (its id is the real node's)."""
    return Handle(handle.id, Batched(handle, level))


def real_handle(handle: Any, level: Level) -> Any:
    """The real handle behind a per-sample handle of ``level`` (``None`` for a handle that is
    not batched over ``level``)."""
    value = getattr(handle, "_value", None)
    if value.__class__ is Batched and value.level is level:
        return value.handle
    return None


class Begin:
    """Open ``level``: the requests that follow are the per-sample program's."""

    __slots__ = ("level",)

    def __init__(self, level: Level) -> None:
        self.level = level


class End:
    """Close ``level`` and hand back ``result`` (handles, or tuples, lists and dicts of them)
    with every per-sample handle replaced by its real, batched handle."""

    __slots__ = ("level", "result")

    def __init__(self, level: Level, result: Any) -> None:
        self.level = level
        self.result = result
