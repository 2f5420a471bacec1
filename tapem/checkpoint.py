"""Checkpoints: named parameter arrays and any training state in one ``.npz`` file.

:func:`save_checkpoint` writes parameters and a state tree (optimizer, scheduler, history, ...:
numbers, strings, ``None``, lists, tuples, dicts and numeric arrays); :func:`load_checkpoint`
reads both back, equal and of the same types. :func:`save_params` / :func:`load_params` are the
common case: parameters and an optimizer's state.

The file is a zip, as ``np.savez`` writes it: each parameter is the member ``<name>.npy`` (so
``np.load(path)["W"]`` reads it without tapem); ``__tapem__/checkpoint.json`` holds the format,
the parameter names and the state tree, whose arrays are the members
``__tapem__/arrays/<i>.npy``. In the JSON, lists are lists and the other values are tagged:
``{"tuple": [...]}``, ``{"dict": [[key, value], ...]}`` (keys keep their types),
``{"array": i}``, ``{"scalar": i}`` (a numpy scalar) and ``{"float": "nan"}`` (``inf``, ``-inf``).

Writing is atomic and durable: the file is written next to ``path`` under a temporary name
(with the permissions the umask gives, as ``open`` would), flushed to disk (``fsync``), renamed
over ``path`` and the folder synced, so ``path`` always holds either the old checkpoint or the
complete new one; the temporary file is removed on every failure. Only bool, integer and
floating-point arrays are stored. Reading never unpickles, and every problem with the file is a
:class:`~tapem.CheckpointError` naming it.

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

import contextlib
import json
import math
import os
import secrets
import zipfile
import zlib
from collections.abc import Callable, Mapping
from typing import IO, Any, NamedTuple

import numpy as np

from tapem.errors import CheckpointError, InvalidArgument
from tapem.optim.optimizer import Optimizer

__all__ = [
    "RESERVED_PREFIX",
    "Checkpoint",
    "load_checkpoint",
    "load_params",
    "save_checkpoint",
    "save_params",
]

RESERVED_PREFIX = "__tapem__/"
"""Where a checkpoint keeps everything but the parameters (no parameter name may start so)."""

FORMAT = "tapem-checkpoint"
VERSION = 1
_METADATA = RESERVED_PREFIX + "checkpoint.json"
_ARRAYS = RESERVED_PREFIX + "arrays/"
_ZIP_MAGIC = b"PK\x03\x04"

PathLike = str | os.PathLike[str]


class Checkpoint(NamedTuple):
    """What :func:`load_checkpoint` read: the parameters (name -> array) and the state tree."""

    params: dict[str, np.ndarray]
    state: dict[str, Any]


# ---- writing -------------------------------------------------------------------------------------


def _numeric(where: str, value: Any) -> np.ndarray:
    array = np.asarray(value)
    if array.dtype.kind not in "biuf":
        raise InvalidArgument(
            f"save_checkpoint: {where} is {_describe(value)} (dtype {array.dtype}); checkpoints "
            "hold bool, integer and floating-point arrays only"
        )
    return array


def _describe(value: Any) -> str:
    if isinstance(value, np.ndarray):
        return "an array"
    return f"a {type(value).__name__}"


def _encode(value: Any, where: str, arrays: list[np.ndarray]) -> Any:
    """``value`` as JSON data; its arrays are appended to ``arrays`` and referred to by index."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else {"float": repr(value)}
    if isinstance(value, np.ndarray | np.generic):
        arrays.append(_numeric(where, value))
        return {"array" if isinstance(value, np.ndarray) else "scalar": len(arrays) - 1}
    if isinstance(value, list):
        return [_encode(v, f"{where}[{i}]", arrays) for i, v in enumerate(value)]
    if isinstance(value, tuple):
        return {"tuple": [_encode(v, f"{where}[{i}]", arrays) for i, v in enumerate(value)]}
    if isinstance(value, Mapping):
        pairs = value.items()
        return {
            "dict": [
                [_encode(k, where, arrays), _encode(v, f"{where}[{k!r}]", arrays)] for k, v in pairs
            ]
        }
    raise InvalidArgument(
        f"save_checkpoint: {where} is {_describe(value)}; checkpoints hold numbers, strings, "
        "None, lists, tuples, dicts and numeric arrays"
    )


def save_checkpoint(
    path: PathLike, params: Mapping[str, Any], state: Mapping[str, Any] | None = None
) -> None:
    """Write ``params`` (name -> numeric array) and ``state`` (a dict of numbers, strings,
    ``None``, lists, tuples, dicts and numeric arrays) to ``path``, atomically.

    ``path`` is used exactly as given (no ``.npz`` is appended). Parameter names must be
    non-empty strings not starting with ``"__tapem__/"``. Anything else is an
    :class:`~tapem.InvalidArgument` naming the entry, raised before the file is touched. An
    existing file at ``path`` is replaced only once the new one is complete and on disk.

    >>> import tempfile, os
    >>> import numpy as np
    >>> state = {"epoch": 3, "best": float("inf"), "sizes": (2, 3), "by_id": {7: np.ones(2)}}
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     save_checkpoint(os.path.join(folder, "run.npz"), {"w": np.zeros(2)}, state)
    ...     loaded = load_checkpoint(os.path.join(folder, "run.npz"))
    >>> assert loaded.state["sizes"] == (2, 3) and loaded.state["best"] == float("inf")
    >>> assert loaded.state["by_id"][7].tolist() == [1.0, 1.0]
    """
    entries: list[tuple[str, np.ndarray]] = []
    for name, value in params.items():
        if not isinstance(name, str) or not name or name.startswith(RESERVED_PREFIX):
            raise InvalidArgument(
                f"save_checkpoint: parameter key {name!r} cannot be stored; use a non-empty name "
                f"(give each tm.param a name=...) that does not start with {RESERVED_PREFIX!r}"
            )
        entries.append((name + ".npy", _numeric(f"parameter {name!r}", value)))
    arrays: list[np.ndarray] = []
    tree = _encode(dict(state or {}), "state", arrays)
    entries += [(f"{_ARRAYS}{i}.npy", array) for i, array in enumerate(arrays)]
    metadata = {"format": FORMAT, "version": VERSION, "params": list(params), "state": tree}
    text = json.dumps(metadata, allow_nan=False).encode("utf-8")
    _replace_atomically(os.fspath(path), lambda file: _write_zip(file, entries, text))


def _write_zip(file: IO[bytes], entries: list[tuple[str, np.ndarray]], metadata: bytes) -> None:
    """The ``.npz`` layout (a zip of ``.npy`` members) that ``np.load`` reads, plus the metadata.
    Written here rather than with ``np.savez(file, **params)``, whose own keyword arguments
    (``file``, ``allow_pickle``) would clash with parameters of those names."""
    with zipfile.ZipFile(file, mode="w", compression=zipfile.ZIP_STORED) as archive:
        for name, array in entries:
            with archive.open(name, mode="w", force_zip64=True) as member:
                np.lib.format.write_array(member, array, allow_pickle=False)
        archive.writestr(_METADATA, metadata)


def _replace_atomically(target: str, write: Callable[[IO[bytes]], None]) -> None:
    """Write a file with ``write`` and move it to ``target`` in one step, durably."""
    folder = os.path.dirname(os.path.abspath(target))
    tmp = os.path.join(folder, f".{os.path.basename(target)}.{secrets.token_hex(4)}.tmp")
    # mode 0o666 minus the umask, as open() gives (mkstemp would make it 0o600)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with os.fdopen(fd, "wb") as file:
            write(file)
            file.flush()
            os.fsync(file.fileno())  # the data is on disk before the name points at it
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    _fsync_folder(folder)  # and the rename itself survives a crash


def _fsync_folder(folder: str) -> None:
    if os.name != "posix":  # Windows cannot open a folder to sync it
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# ---- reading -------------------------------------------------------------------------------------


def load_checkpoint(path: PathLike) -> Checkpoint:
    """The parameters and state that :func:`save_checkpoint` wrote to ``path`` (new arrays).

    A plain ``.npz`` of arrays (as ``np.savez`` writes it) loads too, as parameters with an
    empty state. A missing, empty, truncated or corrupted file, a file that is not a
    checkpoint, or one holding pickled objects is a :class:`~tapem.CheckpointError` naming the
    file and the problem. Nothing is ever unpickled.
    """
    name = os.fspath(path)
    try:
        file = open(name, "rb")  # noqa: SIM115 (closed below, after the zip is read)
    except FileNotFoundError as error:
        raise CheckpointError(name, "no such file", "check the path") from error
    except IsADirectoryError as error:
        raise CheckpointError(name, "is a folder, not a file") from error
    except OSError as error:
        raise CheckpointError(name, f"cannot be read ({error.strerror})") from error
    with file:
        head = file.read(len(_ZIP_MAGIC))
        if not head:
            raise CheckpointError(name, "is empty (0 bytes)", "it was never completely written")
        if head != _ZIP_MAGIC:
            raise CheckpointError(
                name,
                f"is not a checkpoint: not an .npz (zip) file, it starts with {head!r}",
                "pass a file written by tm.save_params, tm.save_checkpoint or fit(checkpoint=...)",
            )
        file.seek(0)
        try:
            with zipfile.ZipFile(file) as archive:
                return _read(name, archive)
        except (zipfile.BadZipFile, zlib.error, EOFError) as error:
            raise CheckpointError(
                name, f"is truncated or corrupted ({error})", "use an older copy of it"
            ) from error


def _read(name: str, archive: zipfile.ZipFile) -> Checkpoint:
    members = archive.namelist()
    if _METADATA not in members:
        stray = [m for m in members if not m.endswith(".npy") or m.startswith(RESERVED_PREFIX)]
        if stray:
            raise CheckpointError(
                name,
                f"is not a tapem checkpoint: it has no {_METADATA!r} and member {stray[0]!r} is "
                "not a parameter array",
                "pass a file written by tm.save_params, tm.save_checkpoint or fit(checkpoint=...)",
            )
        return Checkpoint({m[: -len(".npy")]: _array(name, archive, m) for m in members}, {})
    metadata = _metadata(name, archive.read(_METADATA))
    params = {p: _array(name, archive, p + ".npy") for p in metadata["params"]}
    state = _decode(name, metadata["state"], lambda i: _array(name, archive, f"{_ARRAYS}{i}.npy"))
    if not isinstance(state, dict):
        raise _corrupted(name, "the state is not a dict")
    return Checkpoint(params, state)


def _corrupted(name: str, what: str) -> CheckpointError:
    return CheckpointError(name, f"is corrupted: {what}", "use an older copy of it")


def _metadata(name: str, raw: bytes) -> dict[str, Any]:
    try:
        metadata = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise _corrupted(name, f"{_METADATA!r} is not JSON ({error})") from error
    if not isinstance(metadata, dict) or metadata.get("format") != FORMAT:
        raise CheckpointError(name, f"is not a tapem checkpoint: {_METADATA!r} is not tapem's")
    version = metadata.get("version")
    if isinstance(version, int) and version > VERSION:
        raise CheckpointError(
            name, f"was written by a newer tapem (format {version})", "upgrade tapem to read it"
        )
    params = metadata.get("params")
    if version != VERSION or not isinstance(params, list) or "state" not in metadata:
        raise _corrupted(name, f"{_METADATA!r} lacks the format version, params or state")
    if not all(isinstance(p, str) and p for p in params):
        raise _corrupted(name, f"parameter names {params!r} are not all strings")
    return metadata


def _array(name: str, archive: zipfile.ZipFile, member: str) -> np.ndarray:
    try:
        info = archive.getinfo(member)
    except KeyError as error:
        raise _corrupted(name, f"member {member!r} is missing") from error
    with archive.open(info) as stream:
        try:
            array = np.lib.format.read_array(stream, allow_pickle=False)
        except ValueError as error:
            if "allow_pickle" in str(error):
                raise CheckpointError(
                    name,
                    f"member {member!r} holds pickled Python objects, which tapem never loads "
                    "(unpickling can run any code)",
                    "save plain numeric arrays",
                ) from error
            raise _corrupted(name, f"member {member!r} is not an .npy array ({error})") from error
        stream.read()  # to its end: the zip checks the member's CRC there
    if array.dtype.kind not in "biuf":
        raise CheckpointError(
            name, f"member {member!r} holds {array.dtype} values, not numbers", "save numbers"
        )
    return array


def _decode(name: str, data: Any, array_at: Callable[[int], np.ndarray]) -> Any:
    """The value :func:`_encode` turned into ``data``."""
    if data is None or isinstance(data, bool | int | float | str):
        return data
    if isinstance(data, list):
        return [_decode(name, item, array_at) for item in data]
    if isinstance(data, dict) and len(data) == 1:
        ((tag, body),) = data.items()
        if tag == "tuple" and isinstance(body, list):
            return tuple(_decode(name, item, array_at) for item in body)
        if tag == "dict" and isinstance(body, list) and all(_is_pair(p) for p in body):
            try:
                return {_decode(name, k, array_at): _decode(name, v, array_at) for k, v in body}
            except TypeError as error:  # an unhashable key
                raise _corrupted(name, f"a dict key is not hashable ({error})") from error
        if tag in ("array", "scalar") and isinstance(body, int) and not isinstance(body, bool):
            array = array_at(body)
            return array if tag == "array" else array[()]
        if tag == "float" and body in ("nan", "inf", "-inf"):
            return float(body)
    raise _corrupted(name, f"unexpected value {data!r} in the state")


def _is_pair(item: Any) -> bool:
    return isinstance(item, list) and len(item) == 2


# ---- parameters and an optimizer ----------------------------------------------------------------


def save_params(
    path: PathLike, params: Mapping[str, Any], *, optimizer: Optimizer | None = None
) -> None:
    """Write ``params`` (name -> array) and, if given, ``optimizer``'s
    :meth:`~tapem.optim.Optimizer.state_dict` to ``path`` (see :func:`save_checkpoint`)."""
    state = {} if optimizer is None else {"optimizer": optimizer.state_dict()}
    save_checkpoint(path, params, state)


def load_params(path: PathLike, *, optimizer: Optimizer | None = None) -> dict[str, np.ndarray]:
    """The parameters saved at ``path`` (name -> new array, in saved order).

    With ``optimizer``, also restore its state from the file: a
    :class:`~tapem.CheckpointError` if the file has none, an :class:`~tapem.InvalidArgument`
    if it is another optimizer's (or has other parameter groups). Any file that
    :func:`load_checkpoint` reads works, e.g. one written by ``fit(..., checkpoint=path)``.
    """
    checkpoint = load_checkpoint(path)
    if optimizer is not None:
        state = checkpoint.state.get("optimizer")
        if not isinstance(state, Mapping):
            raise CheckpointError(
                os.fspath(path),
                "holds no optimizer state",
                "it was saved without save_params(..., optimizer=opt); load the parameters alone",
            )
        optimizer.load_state_dict(state)
    return checkpoint.params
