"""What every optimizer promises: new arrays, untouched inputs, per-parameter state that skips
parameters without gradients, state_dict round trips (also through .npz), typed errors."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

import tapem as tm
from tapem import ops
from tapem.optim import SGD, Adadelta, Adagrad, Adam, AdamW, Optimizer, RMSprop

FACTORIES: dict[str, Callable[[], Optimizer]] = {
    "SGD": lambda: SGD(lr=0.1),
    "SGD-momentum": lambda: SGD(lr=0.1, momentum=0.9, dampening=0.1, weight_decay=0.01),
    "SGD-nesterov": lambda: SGD(lr=0.1, momentum=0.9, nesterov=True),
    "Adagrad": lambda: Adagrad(lr=0.1, lr_decay=0.01, weight_decay=0.01),
    "RMSprop": lambda: RMSprop(lr=0.01, momentum=0.5, centered=True, weight_decay=0.01),
    "Adam": lambda: Adam(lr=0.1, weight_decay=0.01),
    "Adam-amsgrad": lambda: Adam(lr=0.1, amsgrad=True),
    "AdamW": lambda: AdamW(lr=0.1),
    "Adadelta": lambda: Adadelta(weight_decay=0.01),
}
NAMES = sorted(FACTORIES)


def params0() -> dict[str | int, np.ndarray]:
    return {"W": np.array([[0.5, -1.0], [2.0, 0.25]]), "b": np.array([0.1, -0.2]), 7: np.array(3.0)}


def grads_at(step: int) -> dict[str | int, np.ndarray]:
    s = float(step + 1)
    return {
        "W": np.array([[1.0, -2.0], [0.5, 3.0]]) / s,
        "b": np.array([-0.5, 0.25]) * s,
        7: np.array(-1.5 / s),
    }


@pytest.mark.parametrize("name", NAMES)
def test_step_returns_new_arrays_and_never_writes_inputs(name: str) -> None:
    opt = FACTORIES[name]()
    params, grads = params0(), grads_at(0)
    before_p = {k: v.copy() for k, v in params.items()}
    before_g = {k: v.copy() for k, v in grads.items()}
    new = opt.step(params, grads)
    new2 = opt.step(new, grads)
    for k in params:
        assert np.array_equal(params[k], before_p[k]) and np.array_equal(grads[k], before_g[k])
        assert new[k] is not params[k] and not np.shares_memory(new[k], params[k])
        assert not np.array_equal(new[k], params[k])  # every parameter moved
    assert new is not params and set(new2) == set(params)
    # new arrays are frozen (a tape records them without copying); the inputs keep their flags
    assert not any(new2[k].flags.writeable for k in new2)
    assert all(params[k].flags.writeable for k in params)


@pytest.mark.parametrize("name", NAMES)
def test_state_arrays_are_read_only_and_not_the_callers(name: str) -> None:
    opt = FACTORIES[name]()
    grads = grads_at(0)
    opt.step(params0(), grads)
    for state in opt.state.values():
        for value in state.values():
            if isinstance(value, np.ndarray):
                assert not value.flags.writeable
                assert all(not np.shares_memory(value, g) for g in grads.values())


@pytest.mark.parametrize("name", NAMES)
def test_read_only_gradients_are_accepted(name: str) -> None:
    grads = {}
    for k, v in grads_at(0).items():
        v.flags.writeable = False
        grads[k] = v
    new = FACTORIES[name]().step(params0(), grads)
    assert set(new) == {"W", "b", 7}


@pytest.mark.parametrize("name", NAMES)
def test_parameter_without_gradient_is_untouched_with_its_state(name: str) -> None:
    opt = FACTORIES[name]()
    params = params0()
    grads = grads_at(0)
    del grads["b"]
    new = opt.step(params, grads)
    assert new["b"] is params["b"]  # passed through as it was
    assert "b" not in opt.state  # and no state was made for it
    new = opt.step(new, grads_at(1))  # now b gets a gradient and state
    b_state = {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in opt.state["b"].items()}
    b_value = new["b"]
    grads = grads_at(2)
    del grads["b"]
    newer = opt.step(new, grads)
    assert newer["b"] is b_value
    assert opt.step(newer, {"b": None})["b"] is b_value  # None means "no gradient" too
    after = dict(opt.state["b"])
    assert set(after) == set(b_state)
    for k, v in b_state.items():
        assert np.array_equal(after[k], v), k  # step counts and moments unchanged


@pytest.mark.parametrize("name", NAMES)
def test_state_dict_round_trip_continues_the_same_trajectory(name: str) -> None:
    opt = FACTORIES[name]()
    params = params0()
    for i in range(2):
        params = opt.step(params, grads_at(i))
    sd = opt.state_dict()
    reloaded = FACTORIES[name]()
    reloaded.load_state_dict(sd)
    a, b = params, dict(params)
    for i in range(2, 5):
        a = opt.step(a, grads_at(i))
        b = reloaded.step(b, grads_at(i))
    for k in a:
        assert np.array_equal(a[k], b[k])


@pytest.mark.parametrize("name", NAMES)
def test_state_dict_survives_a_checkpoint(name: str, tmp_path: Path) -> None:
    opt = FACTORIES[name]()
    params = opt.step(params0(), grads_at(0))
    opt.param_groups[0]["lr"] = 0.05
    tm.save_checkpoint(tmp_path / "opt.npz", {}, {"optimizer": opt.state_dict()})
    fresh = FACTORIES[name]()
    fresh.load_state_dict(tm.load_checkpoint(tmp_path / "opt.npz").state["optimizer"])
    assert fresh.lr == 0.05 and isinstance(fresh.lr, float)
    assert fresh.param_groups == opt.param_groups
    for key, value in opt.param_groups[0].items():
        assert type(fresh.param_groups[0][key]) is type(value), key
    assert set(fresh.state) == set(opt.state) == {"W", "b", 7}  # int keys stay ints
    for key, fields in opt.state.items():
        assert fresh.state[key].keys() == fields.keys()
        assert all(np.array_equal(fresh.state[key][f], v) for f, v in fields.items())
    a, b = opt.step(params, grads_at(1)), fresh.step(params, grads_at(1))
    assert all(np.array_equal(a[k], b[k]) for k in a)


def test_state_dict_format() -> None:
    opt = Adam(lr=0.1)
    params: dict[str | int, np.ndarray] = {"w": np.zeros(2), 3: np.zeros(())}
    opt.step(params, {"w": np.ones(2), 3: np.ones(())})
    sd = opt.state_dict()
    assert set(sd) == {"optimizer", "param_groups", "state"} and sd["optimizer"] == "Adam"
    assert sd["param_groups"] == [
        {
            "params": None,
            "lr": 0.1,
            "initial_lr": 0.1,
            "betas": (0.9, 0.999),
            "eps": 1e-8,
            "weight_decay": 0.0,
            "amsgrad": False,
        }
    ]
    assert set(sd["state"]) == {"w", 3} and sd["state"]["w"]["step"] == 1
    assert sd["state"]["w"]["exp_avg"].tolist() == [pytest.approx(0.1)] * 2
    assert set(sd["state"][3]) == {"step", "exp_avg", "exp_avg_sq"}


def test_state_dict_is_a_copy() -> None:
    opt = SGD([{"params": ["w"], "lr": 0.1}])
    sd = opt.state_dict()
    sd["param_groups"][0]["lr"] = 5.0
    sd["param_groups"][0]["params"].append("x")
    assert opt.param_groups[0]["lr"] == 0.1 and opt.param_groups[0]["params"] == ["w"]


def test_load_state_dict_errors_leave_the_optimizer_unchanged() -> None:
    opt = Adam(lr=0.1)
    opt.step({"w": np.zeros(2)}, {"w": np.ones(2)})
    before = opt.state_dict()
    with pytest.raises(tm.InvalidArgument, match="from 'SGD'"):
        opt.load_state_dict(SGD().state_dict())
    bad_state = dict(before, state={"w": {"exp_avg": "text"}})
    with pytest.raises(tm.InvalidArgument, match="not a number or numeric array"):
        opt.load_state_dict(bad_state)
    with pytest.raises(tm.InvalidArgument, match="unexpected state entry"):
        opt.load_state_dict(dict(before, state={True: {}}))
    two_groups = dict(before, param_groups=before["param_groups"] * 2)
    with pytest.raises(tm.InvalidArgument, match="has 2 parameter groups, this optimizer 1"):
        opt.load_state_dict(two_groups)
    other_names = dict(before, param_groups=[dict(before["param_groups"][0], params=["v"])])
    with pytest.raises(tm.InvalidArgument, match=r"holds parameters \['v'\]"):
        opt.load_state_dict(other_names)
    with pytest.raises(tm.InvalidArgument, match=r"missing \['state'\]"):
        opt.load_state_dict({"optimizer": "Adam", "param_groups": before["param_groups"]})
    assert opt.state_dict() == before | {"state": opt.state_dict()["state"]}
    assert opt.state["w"]["step"] == 1


def test_gradient_for_an_unknown_parameter_is_an_error() -> None:
    with pytest.raises(tm.InvalidArgument, match=r"gradients for \['w'\].*name="):
        SGD().step({"W": np.zeros(2)}, {"w": np.ones(2)})


def test_gradient_shape_must_match() -> None:
    with pytest.raises(tm.ShapeMismatch, match=r"SGD\.step: shape mismatch"):
        SGD().step({"w": np.zeros(2)}, {"w": np.ones(3)})


def test_integer_parameters_are_rejected() -> None:
    with pytest.raises(tm.InvalidArgument, match=r"dtype int64.*astype"):
        Adam().step({"w": np.zeros(2, dtype=np.int64)}, {"w": np.ones(2)})


def test_a_failed_step_changes_no_state() -> None:
    opt = Adam()
    with pytest.raises(tm.ShapeMismatch):
        opt.step({"a": np.zeros(2), "b": np.zeros(2)}, {"a": np.ones(2), "b": np.ones(5)})
    assert dict(opt.state) == {}


@pytest.mark.parametrize("name", NAMES)
def test_float32_stays_float32(name: str) -> None:
    params = {k: v.astype(np.float32) for k, v in params0().items()}
    grads = {k: v.astype(np.float32) for k, v in grads_at(0).items()}
    opt = FACTORIES[name]()
    new = opt.step(opt.step(params, grads), grads)
    assert all(v.dtype == np.float32 for v in new.values())
    assert all(
        v.dtype == np.float32
        for state in opt.state.values()
        for v in state.values()
        if isinstance(v, np.ndarray)
    )


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: SGD(lr=-1.0), "SGD: lr must be in"),
        (lambda: SGD(lr=float("nan")), "SGD: lr must be in"),
        (lambda: SGD(momentum=-0.1), "momentum must be in"),
        (lambda: SGD(nesterov=True), "Nesterov momentum needs momentum > 0"),
        (lambda: SGD(momentum=0.9, dampening=0.1, nesterov=True), "dampening == 0"),
        (lambda: Adam(betas=(1.0, 0.999)), r"betas\[0\] must be in \[0.0, 1.0\)"),
        (lambda: AdamW(eps=-1.0), "AdamW: eps must be in"),
        (lambda: Adadelta(rho=1.5), "rho must be in"),
        (lambda: RMSprop(alpha=-0.5), "alpha must be in"),
        (lambda: Adagrad(lr_decay=-1.0), "lr_decay must be in"),
    ],
)
def test_bad_hyperparameters(make: Callable[[], Optimizer], message: str) -> None:
    with pytest.raises(tm.InvalidArgument, match=message):
        make()


def test_a_bad_lr_set_in_a_group_fails_the_next_step_and_changes_nothing() -> None:
    opt = SGD(lr=0.1, momentum=0.9)
    params = opt.step({"w": np.zeros(1)}, {"w": np.ones(1)})
    opt.param_groups[0]["lr"] = -0.5
    with pytest.raises(tm.InvalidArgument, match=r"SGD.step: param_groups\[0\]: lr must be in"):
        opt.step(params, {"w": np.ones(1)})
    assert opt.state["w"]["momentum_buffer"].tolist() == [1.0]


def test_training_with_value_and_grad() -> None:
    """SGD with momentum fits y = 2x + 1 from the gradients of a tapem loss."""

    @tm.tapem
    def loss(w: np.ndarray, b: np.ndarray, xs: np.ndarray, ys: np.ndarray) -> tm.Gen[tm.Handle]:
        W = yield from tm.param(w, name="W")
        B = yield from tm.param(b, name="b")
        X = yield from tm.const(xs)
        Y = yield from tm.const(ys)
        yhat = yield ops.linear(W, B, X)
        return (yield ops.mse_loss(yhat, Y))

    xs = np.linspace(-1, 1, 8)[:, None]
    ys = 2 * xs + 1
    params: dict[str | int, np.ndarray] = {"W": np.zeros((1, 1)), "b": np.zeros(1)}
    opt = SGD(lr=0.1, momentum=0.9)
    first = None
    for _ in range(200):
        value, grads = tm.value_and_grad(loss(params["W"], params["b"], xs, ys))
        first = float(value) if first is None else first
        params = opt.step(params, grads)
    assert first is not None and float(value) < 1e-6 < first
    assert np.allclose(params["W"], [[2.0]], atol=1e-3) and np.allclose(
        params["b"], [1.0], atol=1e-3
    )


def test_update_gets_an_empty_read_only_state_before_the_first_step() -> None:
    from collections.abc import Mapping
    from typing import Any

    seen: list[Mapping[str, Any]] = []

    class Counting(Optimizer):
        def update(
            self,
            p: np.ndarray,
            g: np.ndarray,
            state: Mapping[str, Any],
            group: Mapping[str, Any],
        ) -> tuple[np.ndarray, dict[str, Any]]:
            seen.append(state)
            return p - group["lr"] * g, {"step": state.get("step", 0) + 1}

    opt = Counting(lr=0.5)
    params = opt.step({"w": np.ones(2)}, {"w": np.ones(2)})
    opt.step(params, {"w": np.ones(2)})
    first, second = seen
    assert dict(first) == {} and dict(second) == {"step": 1}
    with pytest.raises(TypeError):
        first["step"] = 1  # type: ignore[index]


def test_load_state_dict_with_a_bad_lr_changes_nothing() -> None:
    opt = Adam(lr=0.1)
    opt.step({"w": np.zeros(2)}, {"w": np.ones(2)})
    bad = opt.state_dict()
    bad["param_groups"][0].update(lr=-1.0, eps=0.5)
    bad["state"]["w"]["step"] = 7
    with pytest.raises(tm.InvalidArgument, match="lr must be in"):
        opt.load_state_dict(bad)
    group = opt.param_groups[0]
    assert group["lr"] == 0.1 and group["eps"] == 1e-8 and opt.state["w"]["step"] == 1


def test_load_state_dict_names_the_missing_entries() -> None:
    opt = Adam(lr=0.1)
    partial = opt.state_dict()
    del partial["param_groups"][0]["eps"], partial["param_groups"][0]["amsgrad"]
    with pytest.raises(
        tm.InvalidArgument,
        match=r"Adam.load_state_dict: parameter group 0: missing \['eps', 'amsgrad'\]",
    ):
        opt.load_state_dict(partial)


def test_a_subclass_must_give_lr_and_its_hyperparameters() -> None:
    from collections.abc import Mapping
    from typing import Any

    class Scaled(Optimizer):
        hyperparameters = ("scale",)

        def update(
            self,
            p: np.ndarray,
            g: np.ndarray,
            state: Mapping[str, Any],
            group: Mapping[str, Any],
        ) -> tuple[np.ndarray, dict[str, Any]]:
            return p - group["lr"] * group["scale"] * g, {}

    with pytest.raises(tm.InvalidArgument, match=r"Scaled: Optimizer.__init__ needs .*\['scale'\]"):
        Scaled(lr=0.1)
    opt = Scaled([{"params": ["w"], "scale": 3.0}], lr=0.1, scale=1.0)
    assert opt.step({"w": np.ones(1)}, {"w": np.ones(1)})["w"].tolist() == [pytest.approx(0.7)]
