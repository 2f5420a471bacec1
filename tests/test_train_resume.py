"""fit(..., checkpoint=path, resume=True): a run interrupted after any epoch, or during one,
and resumed ends bit for bit where the uninterrupted run ends (shuffling loader, Adam, a
schedule, evaluation, early stopping); a checkpoint that does not fit the run is refused and
changes nothing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from train_cases import least_squares

import tapem as tm
from tapem import ops
from tapem.optim import SGD, Adam, CosineAnnealingLR, StepLR

EPOCHS = 4


def data() -> tuple[list[tuple[np.ndarray, np.ndarray]], tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((40, 3))
    y = x @ rng.standard_normal((3, 2)) + 0.1 * rng.standard_normal((40, 2))
    return list(zip(x, y, strict=True)), (x[:10], y[:10])


def mae(params, batch):
    x, y = batch
    return float(np.mean(np.abs(x @ params["W"].T + params["b"] - y)))


class Interrupting(tm.DataLoader):
    """A loader whose iteration raises KeyboardInterrupt at one batch of one epoch."""

    def __init__(self, *args: Any, at: tuple[int, int] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.at = at

    def __iter__(self) -> Iterator[Any]:
        batches = super().__iter__()
        for i, batch in enumerate(batches, start=1):
            if (self.epoch, i) == self.at:
                raise KeyboardInterrupt
            yield batch


def run(epochs: int, path: Path | None = None, resume: bool = False, at=None) -> dict[str, Any]:
    """One call of fit with new objects (as a restarted process builds them)."""
    samples, held_out = data()
    loader = Interrupting(samples, batch_size=8, shuffle=True, seed=5, at=at)
    opt = Adam([{"params": ["W"]}, {"params": ["b"], "lr": 0.02}], lr=0.05)
    sched = CosineAnnealingLR(opt, T_max=EPOCHS)
    stopper = tm.EarlyStopping(patience=10)
    history = tm.fit(
        least_squares,
        {"W": np.zeros((2, 3)), "b": np.zeros(2)},
        loader,
        opt,
        epochs,
        eval_data=[held_out],
        metrics={"mae": mae},
        scheduler=sched,
        early_stopping=stopper,
        checkpoint=path,
        resume=resume,
        progress=False,
    )
    return {"history": history, "opt": opt, "loader": loader, "sched": sched, "stop": stopper}


def assert_same(a: dict[str, Any], b: dict[str, Any]) -> None:
    ha, hb = a["history"], b["history"]
    assert ha.params.keys() == hb.params.keys()
    assert all(np.array_equal(ha.params[k], hb.params[k]) for k in ha.params)  # bit for bit
    assert ha.train_loss == hb.train_loss and ha.eval_loss == hb.eval_loss
    assert ha.metrics == hb.metrics and ha.learning_rate == hb.learning_rate
    assert a["loader"].state_dict() == b["loader"].state_dict()
    assert a["sched"].state_dict() == b["sched"].state_dict()
    sa, sb = a["opt"].state_dict(), b["opt"].state_dict()
    assert sa["param_groups"] == sb["param_groups"]
    for key in sa["state"]:
        assert all(np.array_equal(v, sb["state"][key][f]) for f, v in sa["state"][key].items())
    assert a["stop"].best == b["stop"].best and a["stop"].best_epoch == b["stop"].best_epoch


@pytest.fixture(scope="module")
def uninterrupted() -> dict[str, Any]:
    return run(EPOCHS)


@pytest.mark.parametrize("after", range(1, EPOCHS))
def test_resuming_after_any_epoch_equals_the_uninterrupted_run(
    tmp_path: Path, uninterrupted: dict[str, Any], after: int
) -> None:
    path = tmp_path / "run.npz"
    first = run(after, path)
    assert first["history"].epochs == after and first["loader"].epoch == after
    resumed = run(EPOCHS, path, resume=True)
    assert resumed["history"].epochs == EPOCHS and resumed["loader"].epoch == EPOCHS
    assert_same(resumed, uninterrupted)


def test_an_interruption_during_an_epoch_keeps_the_last_complete_checkpoint(
    tmp_path: Path, uninterrupted: dict[str, Any]
) -> None:
    path = tmp_path / "run.npz"
    with pytest.raises(KeyboardInterrupt) as info:
        run(EPOCHS, path, at=(3, 2))  # the second batch of epoch 3
    assert info.value.history.epochs == 2  # type: ignore[attr-defined]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.npz"]  # no temporary left
    saved = tm.load_checkpoint(path)
    assert saved.state["fit"]["epoch"] == 2 and saved.state["loader"]["epoch"] == 2
    assert_same(run(EPOCHS, path, resume=True), uninterrupted)


def test_resume_without_a_file_starts_and_a_finished_run_returns(
    tmp_path: Path, uninterrupted: dict[str, Any]
) -> None:
    path = tmp_path / "run.npz"
    assert_same(run(EPOCHS, path, resume=True), uninterrupted)  # no file yet: a new run
    again = run(EPOCHS, path, resume=True)  # all epochs done: nothing to train
    assert again["loader"].epoch == EPOCHS
    assert_same(again, uninterrupted)


def test_the_checkpoint_is_a_params_file_too(tmp_path: Path, uninterrupted: dict[str, Any]) -> None:
    run(EPOCHS, tmp_path / "run.npz")
    params = tm.load_params(tmp_path / "run.npz")
    assert all(np.array_equal(params[k], uninterrupted["history"].params[k]) for k in params)


@tm.tapem
def distance(params, target):
    w = yield from tm.param(params["w"], name="w")
    return (yield ops.mse_loss(w, (yield from tm.const(target))))


def test_a_stopped_run_stays_stopped(tmp_path: Path) -> None:
    def stopped_run(epochs: int) -> tm.History:
        return tm.fit(
            distance,
            {"w": np.zeros(1)},
            [np.array([1.0])],
            SGD(lr=0.25),
            epochs,
            eval_data=[np.array([0.5])],
            early_stopping=tm.EarlyStopping(patience=1),
            checkpoint=tmp_path / "run.npz",
            resume=True,
        )

    first = stopped_run(10)  # best after epoch 1 (w = 0.5), stopped after epoch 2
    assert first.epochs == 2 and first.params["w"].tolist() == [0.5]
    again = stopped_run(10)
    assert again.epochs == 2 and again.params["w"].tolist() == [0.5]


# ---- checkpoints that do not fit the run --------------------------------------------------------


def saved_run(folder: Path) -> Path:
    path = folder / "run.npz"
    opt = SGD(lr=0.1)
    tm.fit(
        least_squares,
        {"W": np.zeros((2, 3)), "b": np.zeros(2)},
        tm.DataLoader(data()[0], batch_size=8),
        opt,
        1,
        scheduler=StepLR(opt, step_size=1),
        checkpoint=path,
    )
    return path


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"optimizer": Adam}, "this state_dict is from 'SGD'"),
        ({"scheduler": None}, "the run had scheduler StepLR, this one has None"),
        ({"scheduler": "cosine"}, "the run had scheduler StepLR, this one has CosineAnnealingLR"),
        ({"loader": "list"}, "the run's loader had state .*this one \\(list\\) has no"),
        ({"params": {"W": np.zeros((2, 3))}}, r"holds parameters \['W', 'b'\], but params has"),
        ({"params": {"W": np.zeros((3, 2)), "b": np.zeros(2)}}, r"holds 'W' as float64\[2, 3\]"),
        ({"metrics": {"mae": mae}}, r"the run recorded metrics \[\], this one has \['mae'\]"),
    ],
)
def test_a_checkpoint_of_another_run_is_refused_and_changes_nothing(
    tmp_path: Path, change: dict[str, Any], message: str
) -> None:
    path = saved_run(tmp_path)
    opt = change.get("optimizer", SGD)(lr=0.1)
    kind = change.get("scheduler", "step")
    sched = (
        None if kind is None else StepLR(opt, 1) if kind == "step" else CosineAnnealingLR(opt, 3)
    )
    loader: Any = tm.DataLoader(data()[0], batch_size=8)
    if change.get("loader") == "list":
        loader = list(loader)
    metrics = change.get("metrics")
    before = (opt.state_dict(), None if sched is None else sched.state_dict())
    with pytest.raises(tm.CheckpointError, match=message):
        tm.fit(
            least_squares,
            change.get("params", {"W": np.zeros((2, 3)), "b": np.zeros(2)}),
            loader,
            opt,
            2,
            eval_data=[data()[1]] if metrics else None,
            metrics=metrics,
            scheduler=sched,
            checkpoint=path,
            resume=True,
        )
    assert opt.state_dict() == before[0]  # restoring is all or nothing
    assert (None if sched is None else sched.state_dict()) == before[1]
    if isinstance(loader, tm.DataLoader):
        assert loader.epoch == 0


def test_a_params_file_is_not_a_run(tmp_path: Path) -> None:
    tm.save_params(tmp_path / "p.npz", {"W": np.zeros((2, 3)), "b": np.zeros(2)})
    with pytest.raises(tm.CheckpointError, match="holds no training run.*resume=False"):
        tm.fit(
            least_squares,
            {"W": np.zeros((2, 3)), "b": np.zeros(2)},
            [data()[1]],
            SGD(),
            1,
            checkpoint=tmp_path / "p.npz",
            resume=True,
        )
