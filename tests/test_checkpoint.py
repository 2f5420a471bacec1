"""save_params / load_params: round trips of parameters and optimizer state through .npz."""

from __future__ import annotations

import json
import math
import os
import re
import stat
import zipfile
from pathlib import Path

import numpy as np
import pytest

import tapem as tm
from tapem import checkpoint
from tapem.checkpoint import load_params, save_params
from tapem.optim import SGD, Adam


def test_params_round_trip(tmp_path: Path) -> None:
    params = {
        "W": np.arange(6.0).reshape(2, 3),
        "b": np.array([0.5, -0.5], dtype=np.float32),
        "scale": np.array(2.0),
        "layer/1.weight": np.ones((1, 1)),
        "file": np.zeros(1),  # names that are np.savez's own keyword arguments still work
        "allow_pickle": np.zeros(2),
    }
    path = tmp_path / "ckpt.npz"
    save_params(path, params)
    loaded = load_params(path)
    assert list(loaded) == list(params)
    for name, value in params.items():
        assert loaded[name].dtype == value.dtype and loaded[name].shape == value.shape
        assert np.array_equal(loaded[name], value)
    with np.load(path) as npz:  # readable without tapem, by name
        assert np.array_equal(npz["W"], params["W"])


def test_path_is_used_as_given(tmp_path: Path) -> None:
    path = tmp_path / "weights.bin"
    save_params(str(path), {"w": np.ones(2)})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["weights.bin"]
    assert load_params(str(path))["w"].tolist() == [1.0, 1.0]


def test_optimizer_state_round_trip_continues_the_trajectory(tmp_path: Path) -> None:
    grads = [{"W": np.full((2, 2), 0.5 * i), "b": np.array([1.0, -1.0]) / i} for i in (1, 2, 3)]
    opt = Adam(lr=0.05, amsgrad=True)
    params = {"W": np.eye(2), "b": np.zeros(2)}
    params = opt.step(params, grads[0])
    save_params(tmp_path / "ckpt.npz", params, optimizer=opt)

    resumed_opt = Adam(amsgrad=True)
    resumed = load_params(tmp_path / "ckpt.npz", optimizer=resumed_opt)
    assert sorted(resumed) == ["W", "b"]  # optimizer entries are not parameters
    assert resumed_opt.lr == 0.05 and resumed_opt.param_groups[0]["amsgrad"] is True
    for g in grads[1:]:
        params = opt.step(params, g)
        resumed = resumed_opt.step(resumed, g)
    for name in params:
        assert np.array_equal(params[name], resumed[name])


def test_loading_optimizer_state_from_a_file_without_it(tmp_path: Path) -> None:
    save_params(tmp_path / "p.npz", {"w": np.ones(1)})
    with pytest.raises(tm.CheckpointError, match=r"p.npz': holds no optimizer state; it was saved"):
        load_params(tmp_path / "p.npz", optimizer=SGD())


def test_loading_another_optimizers_state(tmp_path: Path) -> None:
    save_params(tmp_path / "p.npz", {"w": np.ones(1)}, optimizer=SGD(momentum=0.9))
    with pytest.raises(tm.InvalidArgument, match="from 'SGD'"):
        load_params(tmp_path / "p.npz", optimizer=Adam())


@pytest.mark.parametrize("key", [3, "", "__tapem__/x"])
def test_keys_that_cannot_be_stored(tmp_path: Path, key: object) -> None:
    with pytest.raises(tm.InvalidArgument, match="cannot be stored"):
        save_params(tmp_path / "p.npz", {key: np.ones(1)})  # type: ignore[dict-item]
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize(
    ("value", "what"),
    [
        (np.array([{"a": 1}], dtype=object), "an array (dtype object)"),
        (np.array(["text"]), "an array (dtype <U4)"),
        ("text", "a str (dtype <U4)"),
        (None, "a NoneType (dtype object)"),
        (np.array([1 + 2j]), "an array (dtype complex128)"),
    ],
)
def test_only_numeric_arrays_are_stored(tmp_path: Path, value: object, what: str) -> None:
    with pytest.raises(tm.InvalidArgument, match=rf"parameter 'w' is {re.escape(what)}"):
        save_params(tmp_path / "p.npz", {"w": value})
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize(
    ("state", "where"),
    [
        ({"fn": len}, r"state\['fn'\] is a builtin_function_or_method"),
        ({"a": [1, {2}]}, r"state\['a'\]\[1\] is a set"),
        ({"a": {"b": np.array(["x"])}}, r"state\['a'\]\['b'\] is an array \(dtype <U1\)"),
    ],
)
def test_state_that_cannot_be_stored_is_named(tmp_path: Path, state: dict, where: str) -> None:
    with pytest.raises(tm.InvalidArgument, match=where):
        tm.save_checkpoint(tmp_path / "p.npz", {}, state)
    assert not any(tmp_path.iterdir())


def test_state_round_trips_with_its_types(tmp_path: Path) -> None:
    state = {
        "none": None,
        "flags": [True, False],
        "ints": (1, -(2**40)),
        "floats": [0.1, float("inf"), float("-inf")],
        "text": "épochs",
        "by_key": {3: "int key", "x": 1.5, (1, "t"): "tuple key"},
        "arrays": [np.arange(3, dtype=np.int8), np.ones((2, 0)), np.array(True)],
        "scalar": np.float32(2.5),
        "nested": {"empty": {}, "deep": [[{"a": ()}]]},
    }
    tm.save_checkpoint(tmp_path / "s.npz", {"w": np.zeros(1)}, state)
    loaded = tm.load_checkpoint(tmp_path / "s.npz").state
    assert loaded.keys() == state.keys()
    for key in ("none", "flags", "ints", "text", "by_key", "nested"):
        assert loaded[key] == state[key] and type(loaded[key]) is type(state[key]), key
    assert loaded["floats"][0] == 0.1 and loaded["floats"][1:] == [math.inf, -math.inf]
    nan = tm.load_checkpoint(_saved(tmp_path, {"nan": math.nan})).state["nan"]
    assert math.isnan(nan)
    for got, want in zip(loaded["arrays"], state["arrays"], strict=True):
        assert got.dtype == want.dtype and got.shape == want.shape and np.array_equal(got, want)
    assert type(loaded["scalar"]) is np.float32 and loaded["scalar"] == 2.5


def _saved(folder: Path, state: dict) -> Path:
    path = folder / "other.npz"
    tm.save_checkpoint(path, {}, state)
    return path


def test_the_file_is_plain_json_and_npy(tmp_path: Path) -> None:
    tm.save_checkpoint(tmp_path / "s.npz", {"w": np.ones(2)}, {"best": math.inf, "e": 3})
    with zipfile.ZipFile(tmp_path / "s.npz") as archive:
        assert archive.namelist() == ["w.npy", "__tapem__/checkpoint.json"]
        metadata = json.loads(archive.read("__tapem__/checkpoint.json"))  # strict JSON: no NaN
    assert metadata["format"] == "tapem-checkpoint" and metadata["params"] == ["w"]
    assert metadata["state"] == {"dict": [["best", {"float": "inf"}], ["e", 3]]}


def test_a_plain_npz_loads_as_parameters(tmp_path: Path) -> None:
    np.savez(tmp_path / "plain.npz", W=np.eye(2), b=np.zeros(2))
    checkpoint = tm.load_checkpoint(tmp_path / "plain.npz")
    assert sorted(checkpoint.params) == ["W", "b"] and checkpoint.state == {}
    assert np.array_equal(checkpoint.params["W"], np.eye(2))


def test_a_failed_write_keeps_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "ckpt.npz"
    save_params(path, {"w": np.array([1.0])})

    def broken(file: object, entries: object, metadata: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(checkpoint, "_write_zip", broken)
    with pytest.raises(OSError, match="disk full"):
        save_params(path, {"w": np.array([2.0])})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt.npz"]  # no temporary left
    assert load_params(path)["w"].tolist() == [1.0]


@pytest.mark.parametrize("failing", ["fsync", "replace", "interrupt"])
def test_the_temporary_file_goes_on_every_failure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failing: str
) -> None:
    path = tmp_path / "ckpt.npz"
    save_params(path, {"w": np.array([1.0])})

    def fail(*args: object) -> None:
        raise KeyboardInterrupt if failing == "interrupt" else OSError(f"{failing} failed")

    monkeypatch.setattr(os, "fsync" if failing != "replace" else "replace", fail)
    if failing == "interrupt":
        monkeypatch.setattr(checkpoint, "_write_zip", fail)
    with pytest.raises(KeyboardInterrupt if failing == "interrupt" else OSError):
        save_params(path, {"w": np.array([2.0])})
    monkeypatch.undo()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt.npz"]
    assert load_params(path)["w"].tolist() == [1.0]


def test_the_file_then_the_folder_are_synced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    events: list[str] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        events.append("fsync folder" if stat.S_ISDIR(os.fstat(fd).st_mode) else "fsync file")
        real_fsync(fd)

    def replace(src: str, dst: str) -> None:
        events.append("replace")
        real_replace(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    save_params(tmp_path / "c.npz", {"w": np.ones(1)})
    assert events == ["fsync file", "replace", "fsync folder"]


def test_permissions_come_from_the_umask(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        save_params(tmp_path / "c.npz", {"w": np.ones(1)})
        os.umask(0o077)
        save_params(tmp_path / "private.npz", {"w": np.ones(1)})
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "c.npz").stat().st_mode) == 0o644  # not mkstemp's 0o600
    assert stat.S_IMODE((tmp_path / "private.npz").stat().st_mode) == 0o600


# ---- files that are not (complete) checkpoints ---------------------------------------------------


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def good_file(tmp_path: Path) -> Path:
    path = tmp_path / "good.npz"
    tm.save_checkpoint(path, {"w": np.arange(1000.0)}, {"epoch": 3, "m": np.ones(100)})
    return path


def test_missing_file_and_folder(tmp_path: Path) -> None:
    with pytest.raises(tm.CheckpointError, match=r"'.*nothing.npz': no such file; check the path"):
        load_params(tmp_path / "nothing.npz")
    with pytest.raises(tm.CheckpointError, match="is a folder, not a file"):
        load_params(tmp_path)


def test_empty_and_foreign_files(tmp_path: Path) -> None:
    with pytest.raises(tm.CheckpointError, match=r"is empty \(0 bytes\)"):
        load_params(write(tmp_path / "empty.npz", b""))
    with pytest.raises(
        tm.CheckpointError, match=r"not an .npz \(zip\) file, it starts with b'\\x89PNG'"
    ):
        load_params(write(tmp_path / "image.npz", b"\x89PNG\r\n\x1a\n" + bytes(100)))
    with pytest.raises(tm.CheckpointError, match="not an .npz"):
        load_params(write(tmp_path / "text.npz", b"W = [1, 2, 3]\n"))
    other = tmp_path / "other.zip"
    with zipfile.ZipFile(other, "w") as archive:
        archive.writestr("readme.txt", "hello")
    with pytest.raises(tm.CheckpointError, match="not a tapem checkpoint.*'readme.txt'"):
        load_params(other)
    foreign = tmp_path / "foreign.npz"
    with zipfile.ZipFile(foreign, "w") as archive:
        archive.writestr("__tapem__/checkpoint.json", json.dumps({"format": "something else"}))
    with pytest.raises(tm.CheckpointError, match="is not a tapem checkpoint"):
        load_params(foreign)


def test_pickled_objects_are_never_loaded(tmp_path: Path) -> None:
    path = tmp_path / "pickle.npz"
    np.savez(path, w=np.array([{"run": "code"}], dtype=object))  # np.savez pickles objects
    with pytest.raises(tm.CheckpointError, match="'w.npy' holds pickled Python objects"):
        load_params(path)


def test_string_arrays_are_not_parameters(tmp_path: Path) -> None:
    np.savez(tmp_path / "text.npz", w=np.array(["a", "b"]))
    with pytest.raises(tm.CheckpointError, match="'w.npy' holds <U1 values, not numbers"):
        load_params(tmp_path / "text.npz")


@pytest.mark.parametrize("keep", [0.2, 0.5, 0.9, 0.99])
def test_truncated_files(tmp_path: Path, keep: float) -> None:
    data = good_file(tmp_path).read_bytes()
    path = write(tmp_path / "cut.npz", data[: int(len(data) * keep)])
    with pytest.raises(tm.CheckpointError, match="cut.npz': is truncated or corrupted"):
        tm.load_checkpoint(path)


@pytest.mark.parametrize("where", [0.1, 0.5, 0.8])
def test_corrupted_bytes_are_detected(tmp_path: Path, where: float) -> None:
    data = bytearray(good_file(tmp_path).read_bytes())
    data[int(len(data) * where)] ^= 0xFF  # one flipped byte in an array, the JSON or the index
    path = write(tmp_path / "flipped.npz", bytes(data))
    with pytest.raises(tm.CheckpointError, match="flipped.npz': is (truncated or )?corrupted"):
        tm.load_checkpoint(path)


def test_corrupted_metadata(tmp_path: Path) -> None:
    def with_metadata(text: str) -> Path:
        path = tmp_path / "meta.npz"
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("__tapem__/checkpoint.json", text)
        return path

    base = {"format": "tapem-checkpoint", "version": 1, "params": [], "state": {"dict": []}}
    with pytest.raises(tm.CheckpointError, match="is not JSON"):
        load_params(with_metadata("{not json"))
    with pytest.raises(tm.CheckpointError, match="written by a newer tapem"):
        load_params(with_metadata(json.dumps(base | {"version": 99})))
    with pytest.raises(tm.CheckpointError, match=r"member 'W.npy' is missing"):
        load_params(with_metadata(json.dumps(base | {"params": ["W"]})))
    with pytest.raises(tm.CheckpointError, match=r"unexpected value \{'set': \[\]\}"):
        load_params(with_metadata(json.dumps(base | {"state": {"set": []}})))
    with pytest.raises(tm.CheckpointError, match="member '__tapem__/arrays/0.npy' is missing"):
        load_params(with_metadata(json.dumps(base | {"state": {"dict": [["a", {"array": 0}]]}})))
