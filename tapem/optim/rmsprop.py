"""RMSProp (PyTorch's ``RMSprop``), optionally centered and with momentum."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from tapem.optim.groups import ParamGroups
from tapem.optim.optimizer import Optimizer, ParamState, check_range

__all__ = ["RMSprop"]


class RMSprop(Optimizer):
    """PyTorch's ``RMSprop`` (same names, defaults and update), for one parameter ``p``:

    - ``g ← g + weight_decay·p`` (if ``weight_decay ≠ 0``);
    - ``v ← alpha·v + (1 - alpha)·g²`` (``v`` starts at 0);
    - ``centered``: ``g_avg ← alpha·g_avg + (1 - alpha)·g`` and ``v~ = v - g_avg²``, else
      ``v~ = v``;
    - with ``momentum > 0``: ``buf ← momentum·buf + g / (sqrt(v~) + eps)`` (``buf`` starts at 0)
      and ``p ← p - lr·buf``; else ``p ← p - lr·g / (sqrt(v~) + eps)``.

    State per parameter: ``"step"``, ``"square_avg"``, plus ``"momentum_buffer"`` (with
    momentum) and ``"grad_avg"`` (centered).

    >>> import numpy as np
    >>> opt = RMSprop(lr=0.01, alpha=0.5)
    >>> new = opt.step({"w": np.array([1.0])}, {"w": np.array([2.0])})
    >>> assert np.allclose(new["w"], 1.0 - 0.01 * 2.0 / (np.sqrt(0.5 * 4.0) + 1e-8))
    """

    hyperparameters = ("alpha", "eps", "weight_decay", "momentum", "centered")

    def __init__(
        self,
        params: ParamGroups = None,
        lr: float = 1e-2,
        alpha: float = 0.99,
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        momentum: float = 0.0,
        centered: bool = False,
    ) -> None:
        super().__init__(
            params,
            lr=lr,
            alpha=alpha,
            eps=eps,
            weight_decay=weight_decay,
            momentum=momentum,
            centered=centered,
        )

    def check_hyperparameters(self, owner: str, group: Mapping[str, Any]) -> dict[str, Any]:
        numbers = ("alpha", "eps", "weight_decay", "momentum")
        checked: dict[str, Any] = {
            name: check_range(owner, name, group[name], 0.0) for name in numbers
        }
        return {**checked, "centered": bool(group["centered"])}

    def update(
        self, p: np.ndarray, g: np.ndarray, state: Mapping[str, Any], group: Mapping[str, Any]
    ) -> tuple[np.ndarray, ParamState]:
        if group["weight_decay"] != 0.0:
            g = g + group["weight_decay"] * p
        a, eps, momentum = group["alpha"], group["eps"], group["momentum"]
        square_avg = a * state.get("square_avg", 0.0) + (1.0 - a) * g * g
        new: ParamState = {"step": state.get("step", 0) + 1, "square_avg": square_avg}
        if group["centered"]:
            grad_avg = a * state.get("grad_avg", 0.0) + (1.0 - a) * g
            new["grad_avg"] = grad_avg
            denom = np.sqrt(square_avg - grad_avg * grad_avg) + eps
        else:
            denom = np.sqrt(square_avg) + eps
        if momentum > 0.0:
            buf = momentum * state.get("momentum_buffer", 0.0) + g / denom
            new["momentum_buffer"] = buf
            return p - group["lr"] * buf, new
        return p - group["lr"] * g / denom, new
