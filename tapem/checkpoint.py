"""Checkpoints: named parameter arrays (and optionally an optimizer's state) in one ``.npz`` file.

Each parameter is stored under its own name, so ``np.load(path)["W"]`` reads it back without
tapem. An optimizer's :meth:`~tapem.optim.Optimizer.state_dict` entries are stored under the
reserved prefix ``"__optimizer__/"``. Files are written atomically (to a temporary file in the
same folder, then renamed over ``path``) and read with ``allow_pickle=False``.

>>> import tempfile, os
>>> import numpy as np
>>> from tapem.optim import Adam
>>> params = {"W": np.ones((2, 3)), "b": np.zeros(2)}
>>> opt = Adam(lr=0.01)
>>> params = opt.step(params, {"W": np.ones((2, 3)), "b": np.ones(2)})
>>> with tempfile.TemporaryDirectory() as folder:
...     path = os.path.join(folder, "ckpt.npz")
...     save_params(path, params, optimizer=opt)
...     resumed = Adam()
...     loaded = load_params(path, optimizer=resumed)
>>> assert sorted(loaded) == ["W", "b"] and np.array_equal(loaded["W"], params["W"])
>>> assert resumed.lr == 0.01 and resumed.state["W"]["step"] == 1
"""

from __future__ import annotations

import os
import tempfile
import zipfile
from collections.abc import Mapping
from typing import IO, Any

import numpy as np

from tapem.errors import InvalidArgument
from tapem.optim.optimizer import Optimizer

__all__ = ["OPTIMIZER_PREFIX", "load_params", "save_params"]

OPTIMIZER_PREFIX = "__optimizer__/"
"""Where a checkpoint keeps the optimizer's state entries (no parameter name may start so)."""

PathLike = str | os.PathLike[str]


def _array(owner: str, name: str, value: Any) -> np.ndarray:
    array = np.asarray(value)
    if array.dtype.hasobject:
        raise InvalidArgument(
            f"{owner}: {name!r} is not a numeric array (dtype object); checkpoints hold numbers, "
            "strings and arrays only"
        )
    return array


def save_params(
    path: PathLike, params: Mapping[str, Any], *, optimizer: Optimizer | None = None
) -> None:
    """Write ``params`` (name -> array) and, if given, ``optimizer``'s state to ``path``.

    ``path`` is used exactly as given (no ``.npz`` is appended). Parameter names must be
    non-empty strings not starting with ``"__optimizer__/"``; values must be numeric arrays (or
    numbers). An existing file at ``path`` is replaced only once the new one is complete.
    """
    entries: dict[str, np.ndarray] = {}
    for name, value in params.items():
        if not isinstance(name, str) or not name or name.startswith(OPTIMIZER_PREFIX):
            raise InvalidArgument(
                f"save_params: parameter key {name!r} cannot be stored; use a non-empty name "
                f"(give each tm.param a name=...) that does not start with {OPTIMIZER_PREFIX!r}"
            )
        entries[name] = _array("save_params", name, value)
    if optimizer is not None:
        for key, value in optimizer.state_dict().items():
            entries[OPTIMIZER_PREFIX + key] = _array("save_params", key, value)
    target = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(target))
    with tempfile.NamedTemporaryFile(dir=folder, suffix=".tmp", delete=False) as tmp:
        try:
            _write_npz(tmp, entries)
        except BaseException:
            tmp.close()
            os.unlink(tmp.name)
            raise
    os.replace(tmp.name, target)


def _write_npz(file: IO[bytes], entries: Mapping[str, np.ndarray]) -> None:
    """The ``.npz`` layout (a zip of ``<name>.npy`` members) that ``np.load`` reads. Written
    here rather than with ``np.savez(file, **entries)``, whose own keyword arguments (``file``,
    ``allow_pickle``) would clash with parameters of those names."""
    with zipfile.ZipFile(file, mode="w", compression=zipfile.ZIP_STORED) as archive:
        for name, array in entries.items():
            with archive.open(name + ".npy", mode="w", force_zip64=True) as member:
                np.lib.format.write_array(member, array, allow_pickle=False)


def load_params(path: PathLike, *, optimizer: Optimizer | None = None) -> dict[str, np.ndarray]:
    """The parameters saved by :func:`save_params` (name -> new array, in saved order).

    With ``optimizer``, also restore its state from the file (an
    :class:`~tapem.InvalidArgument` if the file has none, or if it is another optimizer's).
    """
    with np.load(os.fspath(path), allow_pickle=False) as npz:
        entries = {name: npz[name] for name in npz.files}
    params = {k: v for k, v in entries.items() if not k.startswith(OPTIMIZER_PREFIX)}
    if optimizer is not None:
        state = {
            k.removeprefix(OPTIMIZER_PREFIX): v
            for k, v in entries.items()
            if k.startswith(OPTIMIZER_PREFIX)
        }
        if not state:
            raise InvalidArgument(
                f"load_params: {os.fspath(path)!r} holds no optimizer state; it was saved "
                "without save_params(..., optimizer=opt)"
            )
        optimizer.load_state_dict(state)
    return params
