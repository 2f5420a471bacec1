"""EarlyStopping on its own: improvement by more than min_delta, patience, state round trips."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import tapem as tm


def updates(stopper: tm.EarlyStopping, losses: list[float]) -> list[bool]:
    return [stopper.update(e, loss, {"w": np.array([e])}) for e, loss in enumerate(losses, 1)]


def test_an_improvement_must_beat_best_by_min_delta() -> None:
    stopper = tm.EarlyStopping(patience=2, min_delta=0.1)
    # 1.0 is the first best; 0.95 is not below 1.0 - 0.1 (wait 1); 0.85 is (best, wait 0);
    # 0.8 and 0.76 are not below 0.75: wait 1, 2 -> stop
    assert updates(stopper, [1.0, 0.95, 0.85, 0.8, 0.76]) == [False, False, False, False, True]
    assert (stopper.best, stopper.best_epoch, stopper.stopped_epoch) == (0.85, 3, 5)
    assert stopper.best_params is not None and stopper.best_params["w"].tolist() == [3]


def test_patience_zero_stops_at_the_first_epoch_without_improvement() -> None:
    stopper = tm.EarlyStopping(patience=0)
    assert updates(stopper, [2.0, 1.0, 1.0]) == [False, False, True]
    assert stopper.update(4, 0.1, {}) is True and stopper.best == 1.0  # stopped stays stopped


def test_a_nan_loss_is_no_improvement() -> None:
    stopper = tm.EarlyStopping(patience=1)
    assert updates(stopper, [1.0, float("nan")]) == [False, True]


def test_state_round_trips_through_a_checkpoint(tmp_path: Path) -> None:
    stopper = tm.EarlyStopping(patience=3)
    updates(stopper, [1.0, 0.5, 0.7])
    tm.save_checkpoint(tmp_path / "s.npz", {}, {"stop": stopper.state_dict()})
    fresh = tm.EarlyStopping(patience=3)
    fresh.load_state_dict(tm.load_checkpoint(tmp_path / "s.npz").state["stop"])
    assert (fresh.best, fresh.best_epoch, fresh.wait, fresh.stopped_epoch) == (0.5, 2, 1, 0)
    assert fresh.best_params is not None and fresh.best_params["w"].tolist() == [2]
    assert updates(fresh, [0.6, 0.6]) == updates(stopper, [0.6, 0.6]) == [False, True]
    with pytest.raises(tm.InvalidArgument, match=r"EarlyStopping.load_state_dict: missing"):
        fresh.load_state_dict({"best": 1.0})


@pytest.mark.parametrize(
    "bad",
    [
        {"wait": "two"},  # the best loss, epoch and params were taken before the wait failed
        {"stopped_epoch": None},
        {"best_params": 3},
        {"best": "low"},
    ],
)
def test_a_bad_state_dict_changes_nothing(bad: dict[str, object]) -> None:
    stopper = tm.EarlyStopping(patience=3)
    updates(stopper, [1.0, 0.5, 0.7])
    before = stopper.state_dict()
    other = {"best": 0.1, "best_epoch": 9, "best_params": {"w": np.array([9])}, "wait": 0}
    with pytest.raises((TypeError, ValueError)):
        stopper.load_state_dict({**other, "stopped_epoch": 0, **bad})
    after = stopper.state_dict()
    assert after.keys() == before.keys()
    for key in ("best", "best_epoch", "wait", "stopped_epoch"):
        assert after[key] == before[key]
    assert after["best_params"]["w"] is before["best_params"]["w"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"patience": -1}, "patience must be an integer >= 0"),
        ({"patience": 1.5}, "patience must be an integer >= 0"),
        ({"min_delta": -0.1}, "min_delta must be in"),
    ],
)
def test_bad_arguments(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(tm.InvalidArgument, match=message):
        tm.EarlyStopping(**kwargs)  # type: ignore[arg-type]
