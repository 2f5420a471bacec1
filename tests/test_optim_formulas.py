"""Each optimizer's first two steps against values worked out by hand from PyTorch's documented
algorithms (the arithmetic is written out here; nothing is computed by tapem)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tapem.optim import SGD, Adadelta, Adagrad, Adam, AdamW, Optimizer, RMSprop


def two_steps(opt: Optimizer, p0: float, g1: float, g2: float) -> tuple[float, float]:
    """Run two steps on the one-element parameter "w"; return its value after each."""
    params = {"w": np.array([p0])}
    params = opt.step(params, {"w": np.array([g1])})
    p1 = float(params["w"][0])
    params = opt.step(params, {"w": np.array([g2])})
    return p1, float(params["w"][0])


def approx(x: float) -> object:
    return pytest.approx(x, rel=1e-12, abs=1e-15)


# ---- SGD ---------------------------------------------------------------------------------------


def test_sgd_plain() -> None:
    opt = SGD(lr=0.1)
    params = {"w": np.array([1.0, -2.0])}
    params = opt.step(params, {"w": np.array([0.5, 1.0])})
    assert params["w"].tolist() == [approx(0.95), approx(-2.1)]
    params = opt.step(params, {"w": np.array([0.5, 1.0])})
    assert params["w"].tolist() == [approx(0.9), approx(-2.2)]
    assert dict(opt.state["w"]) == {}  # no momentum: nothing to keep


def test_sgd_weight_decay() -> None:
    # g' = g + 0.5 p: step 1 g' = 1 + 1 = 2 -> 2 - 0.2 = 1.8; step 2 g' = 1 + 0.9 -> 1.8 - 0.19
    assert two_steps(SGD(lr=0.1, weight_decay=0.5), 2.0, 1.0, 1.0) == (approx(1.8), approx(1.61))


def test_sgd_momentum_with_dampening() -> None:
    # buf = g on the first step (no dampening): buf = 2, p = 1 - 0.2 = 0.8
    # then buf = 0.9 * 2 + (1 - 0.5) * 1 = 2.3, p = 0.8 - 0.23 = 0.57
    opt = SGD(lr=0.1, momentum=0.9, dampening=0.5)
    assert two_steps(opt, 1.0, 2.0, 1.0) == (approx(0.8), approx(0.57))
    assert opt.state["w"]["momentum_buffer"].tolist() == [approx(2.3)]


def test_sgd_nesterov() -> None:
    # step 1: buf = 2, direction = 2 + 0.9 * 2 = 3.8, p = 1 - 0.38 = 0.62
    # step 2: buf = 0.9 * 2 + 1 = 2.8, direction = 1 + 0.9 * 2.8 = 3.52, p = 0.62 - 0.352
    opt = SGD(lr=0.1, momentum=0.9, nesterov=True)
    assert two_steps(opt, 1.0, 2.0, 1.0) == (approx(0.62), approx(0.268))


def test_sgd_momentum_with_weight_decay() -> None:
    # step 1: g' = 1 + 0.1 * 1 = 1.1, buf = 1.1, p = 1 - 0.11 = 0.89
    # step 2: g' = 1 + 0.1 * 0.89 = 1.089, buf = 0.5 * 1.1 + 1.089 = 1.639, p = 0.89 - 0.1639
    opt = SGD(lr=0.1, momentum=0.5, weight_decay=0.1)
    assert two_steps(opt, 1.0, 1.0, 1.0) == (approx(0.89), approx(0.7261))


# ---- Adagrad -----------------------------------------------------------------------------------


def test_adagrad() -> None:
    # sum = 9, p = 1 - 0.1 * 3 / (3 + eps); then sum = 9 + 16 = 25, p -= 0.1 * 4 / (5 + eps)
    eps = 1e-10
    p1 = 1.0 - 0.1 * 3.0 / (3.0 + eps)
    p2 = p1 - 0.1 * 4.0 / (5.0 + eps)
    opt = Adagrad(lr=0.1)
    assert two_steps(opt, 1.0, 3.0, 4.0) == (approx(p1), approx(p2))
    assert opt.state["w"]["step"] == 2 and opt.state["w"]["sum"].tolist() == [25.0]


def test_adagrad_lr_decay_weight_decay_initial_accumulator() -> None:
    eps = 0.01
    # step 1: lr_1 = 0.1, g' = 3 + 0.1 * 1 = 3.1, sum = 1 + 3.1^2 = 10.61
    p1 = 1.0 - 0.1 * 3.1 / (math.sqrt(10.61) + eps)
    # step 2: lr_2 = 0.1 / (1 + 1 * 0.5), g' = 4 + 0.1 p1, sum = 10.61 + g'^2
    g2 = 4.0 + 0.1 * p1
    p2 = p1 - (0.1 / 1.5) * g2 / (math.sqrt(10.61 + g2 * g2) + eps)
    opt = Adagrad(lr=0.1, lr_decay=0.5, weight_decay=0.1, initial_accumulator_value=1.0, eps=eps)
    assert two_steps(opt, 1.0, 3.0, 4.0) == (approx(p1), approx(p2))


# ---- RMSprop -----------------------------------------------------------------------------------


def test_rmsprop() -> None:
    eps = 1e-8
    # v = 0.1 * 4 = 0.4; then v = 0.9 * 0.4 + 0.1 * 1 = 0.46
    p1 = 1.0 - 0.01 * 2.0 / (math.sqrt(0.4) + eps)
    p2 = p1 - 0.01 * 1.0 / (math.sqrt(0.46) + eps)
    assert two_steps(RMSprop(lr=0.01, alpha=0.9), 1.0, 2.0, 1.0) == (approx(p1), approx(p2))


def test_rmsprop_centered_momentum_weight_decay() -> None:
    eps = 1e-8
    # step 1: g' = 2 + 0.1 * 1 = 2.1; v = 0.5 * 2.1^2 = 2.205; g_avg = 1.05;
    # v~ = 2.205 - 1.05^2 = 1.1025 (sqrt 1.05); buf = 2.1 / (1.05 + eps); p = 1 - 0.01 buf
    buf1 = 2.1 / (1.05 + eps)
    p1 = 1.0 - 0.01 * buf1
    # step 2: g' = -1 + 0.1 p1
    g = -1.0 + 0.1 * p1
    v = 0.5 * 2.205 + 0.5 * g * g
    g_avg = 0.5 * 1.05 + 0.5 * g
    buf2 = 0.9 * buf1 + g / (math.sqrt(v - g_avg * g_avg) + eps)
    p2 = p1 - 0.01 * buf2
    opt = RMSprop(lr=0.01, alpha=0.5, weight_decay=0.1, momentum=0.9, centered=True)
    assert two_steps(opt, 1.0, 2.0, -1.0) == (approx(p1), approx(p2))
    assert sorted(opt.state["w"]) == ["grad_avg", "momentum_buffer", "square_avg", "step"]


# ---- Adam / AdamW ------------------------------------------------------------------------------


def test_adam() -> None:
    eps = 1e-8
    # step 1: m = 0.1 * 2 = 0.2, v = 0.001 * 4 = 0.004; m^ = 0.2 / 0.1 = 2, v^ = 0.004 / 0.001 = 4
    p1 = 1.0 - 0.1 * 2.0 / (2.0 + eps)
    # step 2: m = 0.9 * 0.2 + 0.1 * 1 = 0.28; v = 0.999 * 0.004 + 0.001 * 1 = 0.004996
    m_hat = 0.28 / (1 - 0.9**2)
    v_hat = 0.004996 / (1 - 0.999**2)
    p2 = p1 - 0.1 * m_hat / (math.sqrt(v_hat) + eps)
    opt = Adam(lr=0.1)
    assert two_steps(opt, 1.0, 2.0, 1.0) == (approx(p1), approx(p2))
    state = opt.state["w"]
    assert state["step"] == 2
    assert state["exp_avg"].tolist() == [approx(0.28)]
    assert state["exp_avg_sq"].tolist() == [approx(0.004996)]


def test_adam_coupled_weight_decay() -> None:
    eps = 1e-8
    # step 1: g' = 1 + 0.5 * 2 = 2: m^ = 2, v^ = 4 -> p = 2 - 0.1 * 2 / (2 + eps)
    p1 = 2.0 - 0.1 * 2.0 / (2.0 + eps)
    g = 1.0 + 0.5 * p1
    m = 0.9 * 0.2 + 0.1 * g
    v = 0.999 * 0.004 + 0.001 * g * g
    p2 = p1 - 0.1 * (m / 0.19) / (math.sqrt(v / (1 - 0.999**2)) + eps)
    assert two_steps(Adam(lr=0.1, weight_decay=0.5), 2.0, 1.0, 1.0) == (approx(p1), approx(p2))


def test_adamw_decoupled_weight_decay() -> None:
    eps = 1e-8
    # step 1: p <- 2 - 0.1 * 0.5 * 2 = 1.9, then Adam with the raw g = 1: m^ = v^ = 1
    p1 = 1.9 - 0.1 * 1.0 / (1.0 + eps)
    # step 2: p <- p1 (1 - 0.05); g = 1 again, so m^ = 0.19 / 0.19 = 1 and v^ = 1
    m_hat = (0.9 * 0.1 + 0.1) / (1 - 0.9**2)
    v_hat = (0.999 * 0.001 + 0.001) / (1 - 0.999**2)
    p2 = p1 - 0.1 * 0.5 * p1 - 0.1 * m_hat / (math.sqrt(v_hat) + eps)
    assert two_steps(AdamW(lr=0.1, weight_decay=0.5), 2.0, 1.0, 1.0) == (approx(p1), approx(p2))


def test_adamw_default_weight_decay_is_pytorchs() -> None:
    assert AdamW().defaults["weight_decay"] == 1e-2 and Adam().defaults["weight_decay"] == 0.0


def test_adam_amsgrad_keeps_the_max_of_the_raw_second_moment() -> None:
    # betas (0.5, 0.5): step 1 g = 2: m = 1, v = 2, v_max = 2; m^ = 2, v^ = 4
    eps = 1e-8
    p1 = 1.0 - 0.1 * 2.0 / (2.0 + eps)
    # step 2 g = 0: m = 0.5, v = 1 < v_max = 2. PyTorch keeps max(v_max, v) of the raw moment
    # and bias-corrects it: sqrt(2) / sqrt(1 - 0.25); m^ = 0.5 / 0.75
    p2 = p1 - 0.1 * (0.5 / 0.75) / (math.sqrt(2.0) / math.sqrt(0.75) + eps)
    opt = Adam(lr=0.1, betas=(0.5, 0.5), amsgrad=True)
    assert two_steps(opt, 1.0, 2.0, 0.0) == (approx(p1), approx(p2))
    assert opt.state["w"]["max_exp_avg_sq"].tolist() == [2.0]
    assert opt.state["w"]["exp_avg_sq"].tolist() == [1.0]


# ---- Adadelta ----------------------------------------------------------------------------------


def test_adadelta() -> None:
    eps = 1e-6
    # step 1: v = 0.1 * 4 = 0.4, delta = sqrt(0 + eps) / sqrt(0.4 + eps) * 2, u = 0.1 delta^2
    d1 = math.sqrt(eps) / math.sqrt(0.4 + eps) * 2.0
    u1 = 0.1 * d1 * d1
    # step 2: v = 0.9 * 0.4 + 0.1 * 1 = 0.46, delta = sqrt(u1 + eps) / sqrt(0.46 + eps) * 1
    d2 = math.sqrt(u1 + eps) / math.sqrt(0.46 + eps) * 1.0
    opt = Adadelta()
    assert two_steps(opt, 1.0, 2.0, 1.0) == (approx(1.0 - d1), approx(1.0 - d1 - d2))
    assert opt.state["w"]["acc_delta"].tolist() == [approx(0.9 * u1 + 0.1 * d2 * d2)]


def test_adadelta_lr_and_weight_decay() -> None:
    eps = 1e-6
    g1 = 2.0 + 0.1 * 1.0
    v1 = 0.5 * g1 * g1
    d1 = math.sqrt(eps) / math.sqrt(v1 + eps) * g1
    p1 = 1.0 - 0.5 * d1
    g2 = 1.0 + 0.1 * p1
    v2 = 0.5 * v1 + 0.5 * g2 * g2
    d2 = math.sqrt(0.5 * d1 * d1 + eps) / math.sqrt(v2 + eps) * g2
    opt = Adadelta(lr=0.5, rho=0.5, weight_decay=0.1)
    assert two_steps(opt, 1.0, 2.0, 1.0) == (approx(p1), approx(p1 - 0.5 * d2))


# ---- defaults ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("opt", "expected"),
    [
        (SGD(), {"lr": 1e-3, "momentum": 0.0, "dampening": 0.0, "weight_decay": 0.0}),
        (Adagrad(), {"lr": 1e-2, "lr_decay": 0.0, "initial_accumulator_value": 0.0, "eps": 1e-10}),
        (RMSprop(), {"lr": 1e-2, "alpha": 0.99, "eps": 1e-8, "momentum": 0.0}),
        (Adam(), {"lr": 1e-3, "betas": (0.9, 0.999), "eps": 1e-8, "amsgrad": False}),
        (AdamW(), {"lr": 1e-3, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 1e-2}),
        (Adadelta(), {"lr": 1.0, "rho": 0.9, "eps": 1e-6, "weight_decay": 0.0}),
    ],
    ids=lambda x: type(x).__name__ if isinstance(x, Optimizer) else "",
)
def test_defaults_are_pytorchs(opt: Optimizer, expected: dict[str, object]) -> None:
    assert {name: opt.defaults[name] for name in expected} == expected
    (group,) = opt.param_groups  # one group of every parameter, with the defaults
    assert group["params"] is None and {name: group[name] for name in expected} == expected
