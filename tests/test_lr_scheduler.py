"""Learning-rate schedules: the optimizer's lr over a few epochs, chaining, state, errors."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest

import tapem as tm
from tapem.optim import SGD, Adam, CosineAnnealingLR, LinearLR, LRScheduler, SequentialLR, StepLR


def lrs_over(opt: SGD | Adam, sched: LRScheduler, epochs: int) -> list[float]:
    """The optimizer's lr in epochs 0..epochs-1 (stepping the scheduler after each epoch)."""
    out = []
    for _ in range(epochs):
        out.append(opt.lr)
        sched.step()
    return out


def test_step_lr() -> None:
    opt = SGD(lr=0.1)
    lrs = lrs_over(opt, StepLR(opt, step_size=2, gamma=0.5), 6)
    assert lrs == pytest.approx([0.1, 0.1, 0.05, 0.05, 0.025, 0.025], rel=1e-15)


def test_step_lr_default_gamma() -> None:
    opt = SGD(lr=1.0)
    assert lrs_over(opt, StepLR(opt, step_size=1), 3) == pytest.approx([1.0, 0.1, 0.01])


def test_cosine_annealing() -> None:
    opt = SGD(lr=1.0)
    lrs = lrs_over(opt, CosineAnnealingLR(opt, T_max=4, eta_min=0.1), 5)
    # 0.1 + 0.9 (1 + cos(pi e / 4)) / 2 with cos = 1, 1/sqrt 2, 0, -1/sqrt 2, -1
    r = 1 / math.sqrt(2)
    expected = [1.0, 0.1 + 0.45 * (1 + r), 0.55, 0.1 + 0.45 * (1 - r), 0.1]
    assert lrs == pytest.approx(expected, rel=1e-12)


def test_linear_warmup() -> None:
    opt = SGD(lr=0.2)
    lrs = lrs_over(opt, LinearLR(opt, start_factor=0.5, total_iters=4), 6)
    # factor 0.5 -> 1 over 4 epochs: 0.5, 0.625, 0.75, 0.875, 1, 1
    assert lrs == pytest.approx([0.1, 0.125, 0.15, 0.175, 0.2, 0.2], rel=1e-12)


def test_linear_lr_pytorch_defaults() -> None:
    opt = SGD(lr=3.0)
    sched = LinearLR(opt)
    assert (sched.start_factor, sched.end_factor, sched.total_iters) == (1 / 3, 1.0, 5)
    assert opt.lr == pytest.approx(1.0)


def test_sequential_warmup_then_cosine() -> None:
    opt = Adam(lr=1.0)
    warmup = LinearLR(opt, start_factor=0.25, total_iters=3)
    cosine = CosineAnnealingLR(opt, T_max=2)
    sched = SequentialLR(opt, [warmup, cosine], milestones=[3])
    # warm-up 0.25, 0.5, 0.75; then the cosine restarts at its epoch 0 from the base lr 1.0
    assert lrs_over(opt, sched, 6) == pytest.approx([0.25, 0.5, 0.75, 1.0, 0.5, 0.0], abs=1e-15)


def test_the_optimizer_uses_the_scheduled_lr() -> None:
    opt = SGD(lr=1.0)
    sched = StepLR(opt, step_size=1, gamma=0.5)
    params = {"w": np.array([0.0])}
    params = opt.step(params, {"w": np.array([1.0])})  # lr 1
    sched.step()
    params = opt.step(params, {"w": np.array([1.0])})  # lr 0.5
    assert params["w"].tolist() == [-1.5]


def test_schedules_start_from_the_optimizers_initial_lr() -> None:
    opt = SGD(lr=0.8)
    StepLR(opt, step_size=1, gamma=0.5).step()
    assert opt.lr == 0.4
    later = CosineAnnealingLR(opt, T_max=10)
    assert later.base_lrs == [0.8] and opt.lr == 0.8


def test_get_last_lr_and_state_dict_round_trip() -> None:
    opt = SGD(lr=0.1)
    sched = StepLR(opt, step_size=2, gamma=0.5)
    for _ in range(3):
        sched.step()
    assert sched.get_last_lr() == [opt.lr] == [pytest.approx(0.05)]
    state = sched.state_dict()
    assert state == {"last_epoch": 3, "base_lrs": [0.1]}

    opt2 = SGD(lr=0.1)
    sched2 = StepLR(opt2, step_size=2, gamma=0.5)
    sched2.load_state_dict(state)
    assert opt2.lr == opt.lr
    sched.step()
    sched2.step()
    assert opt2.lr == opt.lr == pytest.approx(0.025)
    with pytest.raises(tm.InvalidArgument, match="missing"):
        sched2.load_state_dict({"last_epoch": 1})


@pytest.mark.parametrize(
    "bad",
    [
        {"last_epoch": 5, "base_lrs": [-1.0]},  # the epoch was taken before the rate was checked
        {"last_epoch": 5, "base_lrs": ["fast"]},
        {"last_epoch": -1, "base_lrs": [0.5]},
        {"last_epoch": 5, "base_lrs": [0.5, 0.5]},
    ],
)
def test_a_bad_state_dict_changes_nothing(bad: dict[str, object]) -> None:
    opt = SGD(lr=0.1)
    sched = StepLR(opt, step_size=2, gamma=0.5)
    for _ in range(3):
        sched.step()
    before, lr = sched.state_dict(), opt.lr
    with pytest.raises(tm.InvalidArgument):
        sched.load_state_dict(bad)
    assert sched.state_dict() == before and opt.lr == lr


def test_sequential_state_dict_round_trip() -> None:
    def build() -> tuple[SGD, SequentialLR]:
        opt = SGD(lr=1.0)
        parts = [LinearLR(opt, start_factor=0.5, total_iters=2), StepLR(opt, step_size=1)]
        return opt, SequentialLR(opt, parts, milestones=[2])

    opt, sched = build()
    for _ in range(3):
        sched.step()
    state = sched.state_dict()
    # the base's state: the inner schedulers' never changes (they are applied, never stepped)
    assert state == {"last_epoch": 3, "base_lrs": [1.0]}
    opt2, sched2 = build()
    sched2.load_state_dict(state)
    assert sched2.state_dict() == state
    assert opt2.lr == opt.lr == pytest.approx(0.1)
    lrs, resumed = [], []
    for _ in range(4):  # through the rest of the second schedule, identically
        sched.step()
        sched2.step()
        lrs.append(opt.lr)
        resumed.append(opt2.lr)
    assert resumed == lrs == pytest.approx([0.01, 0.001, 1e-4, 1e-5])
    # a state saved with the inner schedulers' states (before they were dropped) still loads
    opt3, sched3 = build()
    inner = [{"last_epoch": 0, "base_lrs": [1.0]}] * 2
    sched3.load_state_dict({**sched.state_dict(), "schedulers": inner})
    assert sched3.state_dict() == sched.state_dict() and opt3.lr == opt.lr


def test_sequential_a_bad_state_dict_changes_nothing() -> None:
    """Loading the inner schedulers' states first used to set their epoch 0's rate before the
    outer state was checked."""
    opt = SGD(lr=1.0)
    parts = [LinearLR(opt, start_factor=0.5, total_iters=2), StepLR(opt, step_size=1)]
    sched = SequentialLR(opt, parts, milestones=[2])
    for _ in range(3):
        sched.step()
    before, lr = sched.state_dict(), opt.lr
    inner = [{"last_epoch": 0, "base_lrs": [1.0]}] * 2
    with pytest.raises(tm.InvalidArgument, match="base_lrs"):
        sched.load_state_dict({"last_epoch": 5, "base_lrs": [-1.0], "schedulers": inner})
    assert sched.state_dict() == before and opt.lr == lr


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda o: StepLR(o, step_size=0), "step_size must be a positive integer"),
        (lambda o: CosineAnnealingLR(o, T_max=0), "T_max must be a positive integer"),
        (lambda o: LinearLR(o, start_factor=0.0), r"start_factor must be in \(0, 1\]"),
        (lambda o: LinearLR(o, end_factor=1.5), "end_factor must be in"),
        (lambda o: LinearLR(o, total_iters=0), "total_iters must be a positive integer"),
        (lambda o: SequentialLR(o, [StepLR(o, 1)], milestones=[2]), "one milestone between"),
        (
            lambda o: SequentialLR(o, [StepLR(o, 1), StepLR(o, 1), StepLR(o, 1)], [3, 2]),
            "milestones must increase",
        ),
        (
            lambda o: SequentialLR(o, [StepLR(o, 1), StepLR(SGD(), 1)], [2]),
            "same optimizer",
        ),
    ],
)
def test_bad_arguments(build: Callable[[SGD], LRScheduler], message: str) -> None:
    with pytest.raises(tm.InvalidArgument, match=message):
        build(SGD(lr=0.1))


def test_load_state_dict_names_the_missing_entries() -> None:
    sched = StepLR(SGD(lr=0.1), step_size=2)
    with pytest.raises(tm.InvalidArgument, match=r"StepLR.load_state_dict: missing \['base_lrs'\]"):
        sched.load_state_dict({"last_epoch": 3})
    with pytest.raises(tm.InvalidArgument, match="the state has 2 base_lrs"):
        sched.load_state_dict({"last_epoch": 3, "base_lrs": [0.1, 0.2]})
    assert sched.last_epoch == 0
