"""Adadelta (PyTorch's ``Adadelta``): steps scaled by running RMS of updates over gradients."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from tapem.optim.groups import ParamGroups
from tapem.optim.optimizer import Optimizer, ParamState, check_range

__all__ = ["Adadelta"]


class Adadelta(Optimizer):
    """PyTorch's ``Adadelta`` (same names, defaults and update), for one parameter ``p``:

    - ``g ← g + weight_decay·p`` (if ``weight_decay ≠ 0``);
    - ``v ← rho·v + (1 - rho)·g²``;
    - ``Δ = sqrt(u + eps) / sqrt(v + eps) · g``;
    - ``u ← rho·u + (1 - rho)·Δ²``;
    - ``p ← p - lr·Δ`` (``v`` and ``u`` start at 0).

    State per parameter: ``"step"``, ``"square_avg"`` (v), ``"acc_delta"`` (u).

    >>> import numpy as np
    >>> opt = Adadelta()
    >>> new = opt.step({"w": np.array([1.0])}, {"w": np.array([2.0])})
    >>> assert np.allclose(new["w"], 1.0 - np.sqrt(1e-6) / np.sqrt(0.1 * 4.0 + 1e-6) * 2.0)
    """

    hyperparameters = ("rho", "eps", "weight_decay")

    def __init__(
        self,
        params: ParamGroups = None,
        lr: float = 1.0,
        rho: float = 0.9,
        eps: float = 1e-6,
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__(params, lr=lr, rho=rho, eps=eps, weight_decay=weight_decay)

    def check_hyperparameters(self, owner: str, group: Mapping[str, Any]) -> dict[str, Any]:
        return {
            "rho": check_range(owner, "rho", group["rho"], 0.0, 1.0),
            "eps": check_range(owner, "eps", group["eps"], 0.0),
            "weight_decay": check_range(owner, "weight_decay", group["weight_decay"], 0.0),
        }

    def update(
        self, p: np.ndarray, g: np.ndarray, state: Mapping[str, Any], group: Mapping[str, Any]
    ) -> tuple[np.ndarray, ParamState]:
        if group["weight_decay"] != 0.0:
            g = g + group["weight_decay"] * p
        rho, eps = group["rho"], group["eps"]
        square_avg = rho * state.get("square_avg", 0.0) + (1.0 - rho) * g * g
        # an array even before the first step: np.sqrt(0.0 + eps) would be a float64 scalar
        acc_delta = state["acc_delta"] if "acc_delta" in state else np.zeros_like(p)
        delta = np.sqrt(acc_delta + eps) / np.sqrt(square_avg + eps) * g
        acc_delta = rho * acc_delta + (1.0 - rho) * delta * delta
        new = {"step": state.get("step", 0) + 1, "square_avg": square_avg, "acc_delta": acc_delta}
        return p - group["lr"] * delta, new
