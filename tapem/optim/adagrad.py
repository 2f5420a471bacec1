"""AdaGrad (PyTorch's ``Adagrad``): per-element steps scaled by the root of summed squares."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from tapem.optim.groups import ParamGroups
from tapem.optim.optimizer import Optimizer, ParamState, check_range

__all__ = ["Adagrad"]


class Adagrad(Optimizer):
    """PyTorch's ``Adagrad`` (same names, defaults and update), for one parameter ``p`` at its
    step ``t`` (1, 2, ...):

    - ``lr_t = lr / (1 + (t - 1)·lr_decay)``;
    - ``g ← g + weight_decay·p`` (if ``weight_decay ≠ 0``);
    - ``sum ← sum + g²`` (``sum`` starts at ``initial_accumulator_value``);
    - ``p ← p - lr_t · g / (sqrt(sum) + eps)``.

    State per parameter: ``"step"``, ``"sum"``.

    >>> import numpy as np
    >>> opt = Adagrad(lr=0.5)
    >>> new = opt.step({"w": np.array([1.0])}, {"w": np.array([2.0])})
    >>> assert np.allclose(new["w"], 1.0 - 0.5 * 2.0 / (2.0 + 1e-10))
    """

    hyperparameters = ("lr_decay", "weight_decay", "initial_accumulator_value", "eps")

    def __init__(
        self,
        params: ParamGroups = None,
        lr: float = 1e-2,
        lr_decay: float = 0.0,
        weight_decay: float = 0.0,
        initial_accumulator_value: float = 0.0,
        eps: float = 1e-10,
    ) -> None:
        super().__init__(
            params,
            lr=lr,
            lr_decay=lr_decay,
            weight_decay=weight_decay,
            initial_accumulator_value=initial_accumulator_value,
            eps=eps,
        )

    def check_hyperparameters(self, owner: str, group: Mapping[str, Any]) -> dict[str, Any]:
        return {name: check_range(owner, name, group[name], 0.0) for name in self.hyperparameters}

    def update(
        self, p: np.ndarray, g: np.ndarray, state: Mapping[str, Any], group: Mapping[str, Any]
    ) -> tuple[np.ndarray, ParamState]:
        step = state.get("step", 0) + 1
        if group["weight_decay"] != 0.0:
            g = g + group["weight_decay"] * p
        lr_t = group["lr"] / (1.0 + (step - 1) * group["lr_decay"])
        total = state.get("sum", group["initial_accumulator_value"]) + g * g
        return p - lr_t * g / (np.sqrt(total) + group["eps"]), {"step": step, "sum": total}
