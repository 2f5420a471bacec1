"""save_params / load_params: round trips of parameters and optimizer state through .npz."""

from __future__ import annotations

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

    resumed_opt = Adam()
    resumed = load_params(tmp_path / "ckpt.npz", optimizer=resumed_opt)
    assert sorted(resumed) == ["W", "b"]  # optimizer entries are not parameters
    assert resumed_opt.lr == 0.05 and resumed_opt.amsgrad is True
    for g in grads[1:]:
        params = opt.step(params, g)
        resumed = resumed_opt.step(resumed, g)
    for name in params:
        assert np.array_equal(params[name], resumed[name])


def test_loading_optimizer_state_from_a_file_without_it(tmp_path: Path) -> None:
    save_params(tmp_path / "p.npz", {"w": np.ones(1)})
    with pytest.raises(tm.InvalidArgument, match="holds no optimizer state"):
        load_params(tmp_path / "p.npz", optimizer=SGD())


def test_loading_another_optimizers_state(tmp_path: Path) -> None:
    save_params(tmp_path / "p.npz", {"w": np.ones(1)}, optimizer=SGD(momentum=0.9))
    with pytest.raises(tm.InvalidArgument, match="from 'SGD'"):
        load_params(tmp_path / "p.npz", optimizer=Adam())


@pytest.mark.parametrize("key", [3, "", "__optimizer__/lr"])
def test_keys_that_cannot_be_stored(tmp_path: Path, key: object) -> None:
    with pytest.raises(tm.InvalidArgument, match="cannot be stored"):
        save_params(tmp_path / "p.npz", {key: np.ones(1)})  # type: ignore[dict-item]
    assert not any(tmp_path.iterdir())


def test_object_arrays_are_refused(tmp_path: Path) -> None:
    with pytest.raises(tm.InvalidArgument, match="dtype object"):
        save_params(tmp_path / "p.npz", {"w": np.array([{"a": 1}], dtype=object)})


def test_a_failed_write_keeps_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "ckpt.npz"
    save_params(path, {"w": np.array([1.0])})

    def broken(file: object, entries: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(checkpoint, "_write_npz", broken)
    with pytest.raises(OSError, match="disk full"):
        save_params(path, {"w": np.array([2.0])})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt.npz"]  # no temporary left
    assert load_params(path)["w"].tolist() == [1.0]
