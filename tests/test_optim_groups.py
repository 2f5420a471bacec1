"""Parameter groups as torch.optim takes them, named by key: per-group lr and hyper-parameters,
parameters in no group left alone, state round trips, and typed errors for every misuse."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import tapem as tm
from tapem.optim import SGD, Adagrad, Adam, AdamW, RMSprop


def ones(**shapes: tuple[int, ...]) -> dict[str, np.ndarray]:
    return {name: np.ones(shape) for name, shape in shapes.items()}


def test_adam_groups_with_their_own_lr() -> None:
    opt = Adam([{"params": ["W"], "lr": 0.1}, {"params": ["b"]}], lr=0.01)
    params = {"W": np.zeros((2, 2)), "b": np.zeros(2)}
    new = opt.step(params, ones(W=(2, 2), b=(2,)))
    # Adam's first step is lr * g / (|g| + eps) with bias-corrected moments
    assert np.array_equal(new["W"], np.full((2, 2), -0.1 / (1.0 + 1e-8)))
    assert np.array_equal(new["b"], np.full(2, -0.01 / (1.0 + 1e-8)))
    assert [g["lr"] for g in opt.param_groups] == [0.1, 0.01]
    assert [g["initial_lr"] for g in opt.param_groups] == [0.1, 0.01]
    assert opt.param_groups[1]["betas"] == (0.9, 0.999)  # the defaults fill each group


def test_per_group_momentum_and_weight_decay() -> None:
    opt = SGD([{"params": ["W"], "momentum": 0.9}, {"params": ["b"], "weight_decay": 0.5}], lr=0.1)
    params = {"W": np.array([0.0]), "b": np.array([2.0])}
    grads = {"W": np.array([1.0]), "b": np.array([1.0])}
    params = opt.step(params, grads)
    params = opt.step(params, grads)
    # W: buf 1 -> p -0.1; buf 0.9 + 1 = 1.9 -> p -0.29.  b: g' = 1 + 0.5 * 2 = 2 -> 1.8;
    # g' = 1 + 0.9 = 1.9 -> 1.61
    assert params["W"].tolist() == [pytest.approx(-0.29)]
    assert params["b"].tolist() == [pytest.approx(1.61)]
    assert "momentum_buffer" not in opt.state["b"]


def test_adamw_group_weight_decay_is_decoupled() -> None:
    opt = AdamW([{"params": ["w"], "weight_decay": 0.5}, {"params": ["v"]}], lr=0.1)
    new = opt.step({"w": np.array([2.0]), "v": np.array([2.0])}, ones(w=(1,), v=(1,)))
    # w: 2 - 0.1 * 0.5 * 2 = 1.9, then the Adam step of 0.1; v: the default 1e-2
    assert new["w"].tolist() == [pytest.approx(1.9 - 0.1)]
    assert new["v"].tolist() == [pytest.approx(2.0 - 0.1 * 0.01 * 2.0 - 0.1)]


def test_parameters_in_no_group_are_left_alone() -> None:
    opt = RMSprop(["W"], lr=0.1)
    params = {"W": np.ones(2), "frozen": np.ones(2)}
    new = opt.step(params, ones(W=(2,), frozen=(2,)))
    assert new["frozen"] is params["frozen"] and "frozen" not in opt.state
    assert not np.array_equal(new["W"], params["W"])


def test_a_dict_of_params_means_its_keys_and_int_keys_work() -> None:
    params: dict[str | int, np.ndarray] = {"W": np.ones(1), 7: np.ones(1)}
    opt = SGD(params, lr=0.5)
    assert opt.param_groups[0]["params"] == ["W", 7]
    new = opt.step(params, {"W": np.ones(1), 7: np.ones(1)})
    assert new[7].tolist() == [0.5]
    by_group = SGD([{"params": [7], "lr": 0.25}, {"params": "W"}], lr=0.5)
    assert by_group.step(params, {"W": np.ones(1), 7: np.ones(1)})[7].tolist() == [0.75]


def test_groups_round_trip_through_a_checkpoint(tmp_path: Path) -> None:
    def build() -> Adagrad:
        return Adagrad([{"params": ["W"], "lr_decay": 0.1}, {"params": [3], "lr": 0.5}], lr=0.1)

    opt = build()
    params: dict[str | int, np.ndarray] = {"W": np.ones(2), 3: np.ones(())}
    grads: dict[str | int, np.ndarray] = {"W": np.ones(2), 3: np.ones(())}
    params = opt.step(params, grads)
    tm.save_checkpoint(tmp_path / "o.npz", {}, {"optimizer": opt.state_dict()})
    fresh = build()
    fresh.load_state_dict(tm.load_checkpoint(tmp_path / "o.npz").state["optimizer"])
    assert fresh.param_groups == opt.param_groups
    a, b = opt.step(params, grads), fresh.step(params, grads)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    with pytest.raises(tm.InvalidArgument, match="parameter group 1 holds parameters"):
        Adagrad([{"params": ["W"]}, {"params": [4]}]).load_state_dict(opt.state_dict())


@pytest.mark.parametrize(
    ("params", "message"),
    [
        (0.1, r"the first argument is the parameters.*pass the learning rate as lr=0.1"),
        ([], "empty parameter list"),
        ({"params": ["W"]}, r"a parameter group goes in a list: \[\{...\}\]"),
        ([{"lr": 0.1}], "parameter group 0 has no 'params' entry"),
        ([{"params": []}], "parameter group 0 names no parameters"),
        ([{"params": ["W"], "learning_rate": 0.1}], r"unknown entries \['learning_rate'\]"),
        ([{"params": ["W"]}, {"params": ["W", "b"]}], "'W' is in more than one parameter group"),
        ([{"params": ["W"]}, "b"], "mix of names and group dicts"),
        ([1.5], "must name parameters by their keys"),
        ([{"params": ["W"], "betas": (1.0, 0.9)}], r"parameter group 0: betas\[0\] must be in"),
        ([{"params": ["W"], "lr": -1.0}], "parameter group 0: lr must be in"),
    ],
)
def test_bad_groups(params: object, message: str) -> None:
    with pytest.raises(tm.InvalidArgument, match=message):
        Adam(params, lr=0.01)  # type: ignore[arg-type]


def test_a_group_naming_a_missing_parameter_fails_the_step() -> None:
    opt = SGD(["W", "typo"], lr=0.1)
    with pytest.raises(tm.InvalidArgument, match=r"the parameter groups name \['typo'\]"):
        opt.step({"W": np.ones(1)}, {"W": np.ones(1)})
    assert dict(opt.state) == {}


def test_nesterov_is_checked_per_group() -> None:
    with pytest.raises(tm.InvalidArgument, match="group 1: Nesterov momentum needs momentum > 0"):
        SGD([{"params": ["a"]}, {"params": ["b"], "momentum": 0.0}], momentum=0.9, nesterov=True)
