"""PyTorch's other schedules, each against values worked out by hand from PyTorch's documented
formulas (the arithmetic is written out here; nothing is computed by tapem), on every group."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import pytest

import tapem as tm
from tapem.optim import (
    SGD,
    Adagrad,
    Adam,
    ConstantLR,
    CosineAnnealingWarmRestarts,
    ExponentialLR,
    LambdaLR,
    MultiStepLR,
    OneCycleLR,
    Optimizer,
    PolynomialLR,
    ReduceLROnPlateau,
    SequentialLR,
    StepLR,
)


def lrs_over(opt: Optimizer, sched: object, epochs: int, group: int = 0) -> list[float]:
    """Group ``group``'s lr in epochs 0..epochs-1 (stepping the scheduler after each epoch)."""
    out = []
    for _ in range(epochs):
        out.append(opt.param_groups[group]["lr"])
        sched.step()  # type: ignore[attr-defined]
    return out


def approx(values: list[float]) -> object:
    return pytest.approx(values, rel=1e-12, abs=1e-15)


def test_exponential() -> None:
    opt = SGD(lr=0.8)
    assert lrs_over(opt, ExponentialLR(opt, gamma=0.5), 4) == approx([0.8, 0.4, 0.2, 0.1])


def test_multistep() -> None:
    opt = SGD(lr=1.0)
    lrs = lrs_over(opt, MultiStepLR(opt, milestones=[2, 5]), 7)  # gamma 0.1 by default
    assert lrs == approx([1.0, 1.0, 0.1, 0.1, 0.1, 0.01, 0.01])


def test_lambda() -> None:
    opt = SGD(lr=0.6)
    assert lrs_over(opt, LambdaLR(opt, lambda e: 1.0 / (e + 1)), 4) == approx([0.6, 0.3, 0.2, 0.15])


def test_polynomial() -> None:
    opt = SGD(lr=1.0)
    # defaults total_iters=5, power=1: 1 - e/5, then 0
    assert lrs_over(opt, PolynomialLR(opt), 7) == approx([1.0, 0.8, 0.6, 0.4, 0.2, 0.0, 0.0])
    opt = SGD(lr=2.0)
    lrs = lrs_over(opt, PolynomialLR(opt, total_iters=4, power=0.5), 5)
    assert lrs == approx([2.0, 2 * math.sqrt(0.75), 2 * math.sqrt(0.5), 1.0, 0.0])


def test_constant() -> None:
    opt = SGD(lr=0.3)
    # defaults factor=1/3, total_iters=5: 0.1 for epochs 0-4, then 0.3
    assert lrs_over(opt, ConstantLR(opt), 7) == approx([0.1] * 5 + [0.3] * 2)


def test_cosine_warm_restarts_fixed_period() -> None:
    opt = SGD(lr=1.0)
    sched = CosineAnnealingWarmRestarts(opt, T_0=3, eta_min=0.1)
    # 0.1 + 0.9 (1 + cos(pi t / 3)) / 2 with t = 0, 1, 2, then a restart
    one, two = 0.1 + 0.9 * 0.75, 0.1 + 0.9 * 0.25
    assert lrs_over(opt, sched, 7) == approx([1.0, one, two, 1.0, one, two, 1.0])


def test_cosine_warm_restarts_growing_periods() -> None:
    opt = SGD(lr=1.0)
    sched = CosineAnnealingWarmRestarts(opt, T_0=1, T_mult=2)
    # periods of 1, 2, 4 epochs; (1 + cos(pi t / T_i)) / 2 within each
    c = math.cos(math.pi / 4)
    expected = [1.0, 1.0, 0.5, 1.0, (1 + c) / 2, 0.5, (1 - c) / 2, 1.0]
    assert lrs_over(opt, sched, 8) == approx(expected)


def test_one_cycle_cosine_with_momentum() -> None:
    opt = SGD(lr=1.0, momentum=0.9)
    sched = OneCycleLR(opt, max_lr=1.0, total_steps=10)  # pct_start 0.3, cos, div 25, 1e4
    initial, low = 1.0 / 25, 1.0 / 25 / 1e4

    # phase 1: steps 0..2 (0.3 * 10 - 1 = 2) from initial to 1; phase 2: steps 2..9 to low
    def cos(start: float, end: float, pct: float) -> float:
        return end + (start - end) * (1 + math.cos(math.pi * pct)) / 2

    expected = [initial, cos(initial, 1.0, 0.5), 1.0]
    expected += [cos(1.0, low, (t - 2) / 7) for t in range(3, 10)]
    momenta = []
    lrs = []
    for _ in range(10):
        lrs.append(opt.param_groups[0]["lr"])
        momenta.append(opt.param_groups[0]["momentum"])
        sched.step()
    assert lrs == approx(expected)
    assert lrs[-1] == pytest.approx(4e-6, rel=1e-12)
    # the momentum mirrors the rate: 0.95 where it is low, 0.85 at the peak
    assert momenta[:3] == approx([0.95, 0.9, 0.85]) and momenta[-1] == pytest.approx(0.95)
    with pytest.raises(tm.InvalidArgument, match="stepped 11 times but total_steps is 10"):
        sched.step()  # step 10 is allowed (as in PyTorch), 11 is not
    assert sched.last_epoch == 10


def test_one_cycle_three_linear_phases_on_adam() -> None:
    opt = Adam(lr=1.0, betas=(0.9, 0.99))
    sched = OneCycleLR(
        opt, max_lr=1.0, epochs=2, steps_per_epoch=5, anneal_strategy="linear", three_phase=True
    )
    initial, low = 0.04, 0.04 / 1e4
    # up over steps 0..2, back down to initial over 2..4, then down to low over 4..9
    expected = [initial, 0.52, 1.0, 0.52, initial]
    expected += [initial + (low - initial) * (t - 4) / 5 for t in range(5, 10)]
    assert lrs_over(opt, sched, 10) == approx(expected)
    assert opt.param_groups[0]["betas"] == (pytest.approx(0.95), 0.99)  # beta1 cycles, not beta2


def test_one_cycle_errors() -> None:
    with pytest.raises(tm.InvalidArgument, match="give total_steps, or epochs and steps_per_epoch"):
        OneCycleLR(SGD(), max_lr=0.1)
    with pytest.raises(tm.InvalidArgument, match="pass cycle_momentum=False"):
        OneCycleLR(Adagrad(), max_lr=0.1, total_steps=10)
    opt = Adagrad()
    OneCycleLR(opt, max_lr=0.5, total_steps=10, cycle_momentum=False)
    assert opt.lr == pytest.approx(0.02)
    with pytest.raises(tm.InvalidArgument, match="anneal_strategy must be 'cos' or 'linear'"):
        OneCycleLR(SGD(), max_lr=0.1, total_steps=10, anneal_strategy="exp")  # type: ignore[arg-type]
    with pytest.raises(tm.InvalidArgument, match="max_lr has 2 values but the optimizer has 1"):
        OneCycleLR(SGD(), max_lr=[0.1, 0.2], total_steps=10)


def test_reduce_on_plateau_relative_threshold_and_patience() -> None:
    opt = SGD(lr=1.0)
    sched = ReduceLROnPlateau(opt, patience=2, factor=0.5)
    lrs = []
    # improvements must beat best * (1 - 1e-4): 0.99995 does not beat 1.0
    for loss in [1.0, 1.0, 0.99995, 0.9, 0.9, 0.9, 0.9]:
        sched.step(loss)
        lrs.append(opt.lr)
    # bad epochs: -, 1, 2, (best 0.9) 0, 1, 2, 3 > patience -> halve
    assert lrs == [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.5]
    assert sched.best == 0.9 and sched.num_bad_epochs == 0


def test_reduce_on_plateau_cooldown_and_min_lr() -> None:
    opt = SGD(lr=1.0)
    sched = ReduceLROnPlateau(opt, patience=0, cooldown=2, factor=0.5)
    lrs = []
    for _ in range(6):
        sched.step(1.0)
        lrs.append(opt.lr)
    # reduce at epoch 2, then two cooldown epochs count nothing, reduce again at epoch 5
    assert lrs == [1.0, 0.5, 0.5, 0.5, 0.25, 0.25]

    opt = SGD([{"params": ["a"]}, {"params": ["b"], "lr": 0.5}], lr=1.0)
    sched = ReduceLROnPlateau(opt, patience=0, min_lr=[0.05, 0.2])  # factor 0.1
    for _ in range(4):
        sched.step(1.0)
    assert sched.get_last_lr() == [0.05, 0.2]  # 1 -> 0.1 -> max(0.01, 0.05); 0.5 -> 0.2


def test_reduce_on_plateau_max_mode_absolute_threshold() -> None:
    opt = SGD(lr=1.0)
    sched = ReduceLROnPlateau(opt, mode="max", threshold=0.5, threshold_mode="abs", patience=0)
    sched.step(1.0)
    sched.step(1.4)  # not above 1.0 + 0.5: a bad epoch
    assert opt.lr == pytest.approx(0.1)
    sched.step(1.6)  # above 1.5: the new best
    assert sched.best == 1.6 and opt.lr == pytest.approx(0.1)


def test_reduce_on_plateau_state_round_trip(tmp_path: Path) -> None:
    opt = SGD(lr=1.0)
    sched = ReduceLROnPlateau(opt, patience=1)
    state = sched.state_dict()
    assert state["best"] == math.inf
    tm.save_checkpoint(tmp_path / "s.npz", {}, {"scheduler": state})
    fresh = ReduceLROnPlateau(SGD(lr=1.0), patience=1)
    fresh.load_state_dict(tm.load_checkpoint(tmp_path / "s.npz").state["scheduler"])
    assert fresh.state_dict() == state
    sched.step(2.0)
    sched.step(3.0)
    fresh.load_state_dict(sched.state_dict())
    assert fresh.best == 2.0 and fresh.num_bad_epochs == 1 and fresh.last_epoch == 2
    with pytest.raises(tm.InvalidArgument, match="missing"):
        fresh.load_state_dict({"best": 1.0})


@pytest.mark.parametrize(
    "bad",
    [
        {"last_epoch": 7, "best": "low", "num_bad_epochs": 0, "cooldown_counter": 0},
        {"last_epoch": 7, "best": 0.5, "num_bad_epochs": -1, "cooldown_counter": 0},
    ],
)
def test_reduce_on_plateau_a_bad_state_dict_changes_nothing(bad: dict[str, object]) -> None:
    sched = ReduceLROnPlateau(SGD(lr=1.0), patience=1)
    sched.step(2.0)
    sched.step(3.0)
    before = sched.state_dict()
    with pytest.raises((tm.InvalidArgument, ValueError)):
        sched.load_state_dict(bad)
    assert sched.state_dict() == before


def test_schedulers_act_on_every_group() -> None:
    opt = SGD([{"params": ["W"], "lr": 0.1}, {"params": ["b"]}], lr=1.0)
    sched = StepLR(opt, step_size=1, gamma=0.5)
    assert sched.base_lrs == [0.1, 1.0]
    sched.step()
    assert [g["lr"] for g in opt.param_groups] == [0.05, 0.5] == sched.get_last_lr()
    cycle = OneCycleLR(
        SGD([{"params": ["W"]}, {"params": ["b"]}]), max_lr=[1.0, 2.0], total_steps=4
    )
    assert cycle.lr_at(0) == approx([1.0 / 25, 2.0 / 25])
    lambdas = LambdaLR(opt, [lambda e: 1.0, lambda e: 0.5])
    assert lambdas.get_last_lr() == [0.1, 0.5]  # each from its group's initial_lr
    with pytest.raises(tm.InvalidArgument, match="lr_lambda has 1 values but the optimizer has 2"):
        LambdaLR(opt, [lambda e: 1.0])


def test_sequential_of_one_cycle_drives_the_momentum_too() -> None:
    opt = SGD(lr=1.0, momentum=0.9)
    warm = ConstantLR(opt, factor=0.5, total_iters=2)
    cycle = OneCycleLR(opt, max_lr=1.0, total_steps=4, anneal_strategy="linear", pct_start=0.5)
    sched = SequentialLR(opt, [warm, cycle], milestones=[2])
    assert lrs_over(opt, sched, 2) == approx([0.5, 0.5])
    # epoch 2 is the cycle's step 0, epoch 3 its peak (0.5 * 4 - 1 = step 1)
    assert (opt.lr, opt.param_groups[0]["momentum"]) == (pytest.approx(0.04), pytest.approx(0.95))
    sched.step()
    assert (opt.lr, opt.param_groups[0]["momentum"]) == (pytest.approx(1.0), pytest.approx(0.85))


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda o: ExponentialLR(o, gamma=-1.0), "gamma must be in"),
        (lambda o: MultiStepLR(o, milestones=[3, 3]), "milestones must increase"),
        (lambda o: MultiStepLR(o, milestones=[0]), "milestones"),
        (lambda o: ConstantLR(o, factor=1.5), "factor must be in"),
        (lambda o: PolynomialLR(o, total_iters=0), "total_iters must be a positive integer"),
        (lambda o: CosineAnnealingWarmRestarts(o, T_0=0), "T_0 must be a positive integer"),
        (lambda o: CosineAnnealingWarmRestarts(o, T_0=2, T_mult=0), "T_mult must be a positive"),
        (lambda o: LambdaLR(o, 0.5), "lr_lambda must be a function"),  # type: ignore[arg-type]
        (lambda o: ReduceLROnPlateau(o, factor=1.0), r"factor must be in \[0.0, 1.0\)"),
        (lambda o: ReduceLROnPlateau(o, mode="avg"), "mode must be 'min' or 'max'"),  # type: ignore[arg-type]
        (lambda o: ReduceLROnPlateau(o, threshold_mode="x"), "threshold_mode must be"),  # type: ignore[arg-type]
        (lambda o: ReduceLROnPlateau(o, patience=-1), "patience must be an integer >= 0"),
    ],
)
def test_bad_arguments(build: Callable[[SGD], object], message: str) -> None:
    with pytest.raises(tm.InvalidArgument, match=message):
        build(SGD(lr=0.1))
