"""What every optimizer promises: new arrays, untouched inputs, per-parameter state that skips
parameters without gradients, state_dict round trips (also through .npz), typed errors."""

from __future__ import annotations

import io
from collections.abc import Callable

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
def test_state_dict_survives_npz(name: str) -> None:
    opt = FACTORIES[name]()
    params = opt.step(params0(), grads_at(0))
    opt.lr = 0.05
    buffer = io.BytesIO()
    np.savez(buffer, **opt.state_dict())
    buffer.seek(0)
    with np.load(buffer, allow_pickle=False) as npz:
        loaded = {k: npz[k] for k in npz.files}
    fresh = FACTORIES[name]()
    fresh.load_state_dict(loaded)
    assert fresh.lr == 0.05 and isinstance(fresh.lr, float)
    for hyper in ("initial_lr", *fresh.hyperparameters):
        assert getattr(fresh, hyper) == getattr(opt, hyper)
        assert type(getattr(fresh, hyper)) is type(getattr(opt, hyper))
    assert np.array_equal(fresh.step(params, grads_at(1))["W"], opt.step(params, grads_at(1))["W"])


def test_state_dict_format() -> None:
    opt = Adam(lr=0.1)
    params: dict[str | int, np.ndarray] = {"w": np.zeros(2), 3: np.zeros(())}
    opt.step(params, {"w": np.ones(2), 3: np.ones(())})
    sd = opt.state_dict()
    assert sd["optimizer"] == "Adam" and sd["lr"] == 0.1 and sd["betas"] == (0.9, 0.999)
    assert sd["state/step/'w'"] == 1 and sd["state/step/3"] == 1
    assert sd["state/exp_avg/'w'"].tolist() == [pytest.approx(0.1)] * 2
    assert set(sd) == {
        "optimizer", "lr", "initial_lr", "betas", "eps", "weight_decay", "amsgrad",
        *(f"state/{f}/{k}" for f in ("step", "exp_avg", "exp_avg_sq") for k in ("'w'", "3")),
    }  # fmt: skip


def test_load_state_dict_errors_leave_the_optimizer_unchanged() -> None:
    opt = Adam(lr=0.1)
    opt.step({"w": np.zeros(2)}, {"w": np.ones(2)})
    before = opt.state_dict()
    with pytest.raises(tm.InvalidArgument, match="from 'SGD'"):
        opt.load_state_dict(SGD().state_dict())
    bad = dict(before, bogus=1)
    with pytest.raises(tm.InvalidArgument, match="unexpected entry 'bogus'"):
        opt.load_state_dict(bad)
    missing = {k: v for k, v in before.items() if k != "eps"}
    with pytest.raises(tm.InvalidArgument, match="missing"):
        opt.load_state_dict(missing)
    assert opt.state_dict().keys() == before.keys() and opt.state["w"]["step"] == 1


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


def test_setting_a_negative_lr_is_an_error() -> None:
    opt = SGD()
    with pytest.raises(tm.InvalidArgument, match="lr must be in"):
        opt.lr = -0.5
    assert opt.lr == 1e-3


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
            self, p: np.ndarray, g: np.ndarray, state: Mapping[str, Any]
        ) -> tuple[np.ndarray, dict[str, Any]]:
            seen.append(state)
            return p - self.lr * g, {"step": state.get("step", 0) + 1}

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
    bad = dict(opt.state_dict(), lr=-1.0, eps=0.5)
    bad["state/step/'w'"] = 7
    with pytest.raises(tm.InvalidArgument, match="lr must be in"):
        opt.load_state_dict(bad)
    assert opt.lr == 0.1 and opt.eps == 1e-8 and opt.state["w"]["step"] == 1


def test_load_state_dict_names_the_missing_entries() -> None:
    opt = Adam(lr=0.1)
    partial = {k: v for k, v in opt.state_dict().items() if k not in ("eps", "amsgrad")}
    with pytest.raises(
        tm.InvalidArgument, match=r"Adam.load_state_dict: missing \['eps', 'amsgrad'\]"
    ):
        opt.load_state_dict(partial)
