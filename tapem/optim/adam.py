"""Adam and AdamW (PyTorch's): bias-corrected moments, per-parameter step counts, AMSGrad."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from tapem.errors import InvalidArgument
from tapem.optim.groups import ParamGroups
from tapem.optim.optimizer import Optimizer, ParamState, check_range

__all__ = ["Adam", "AdamW"]


class Adam(Optimizer):
    """PyTorch's ``Adam`` (same names, defaults and update), for one parameter ``p`` at its own
    step ``t`` (1, 2, ...; a parameter that skips a step keeps its count):

    - ``g ← g + weight_decay·p`` (coupled, L2; see :class:`AdamW` for decoupled decay);
    - ``m ← β1·m + (1 - β1)·g``; ``v ← β2·v + (1 - β2)·g²`` (both start at 0);
    - ``amsgrad``: ``v_max ← max(v_max, v)`` and ``v`` below means ``v_max``;
    - ``p ← p - lr · (m / (1 - β1ᵗ)) / (sqrt(v / (1 - β2ᵗ)) + eps)``.

    State per parameter: ``"step"``, ``"exp_avg"`` (m), ``"exp_avg_sq"`` (v), and
    ``"max_exp_avg_sq"`` with ``amsgrad``.

    >>> import numpy as np
    >>> opt = Adam(lr=0.1)
    >>> new = opt.step({"w": np.array([1.0, 1.0])}, {"w": np.array([3.0, -0.5])})
    >>> assert np.allclose(new["w"], [0.9, 1.1])  # the first step is lr * sign(g)
    """

    hyperparameters = ("betas", "eps", "weight_decay", "amsgrad")
    decoupled_weight_decay = False

    def __init__(
        self,
        params: ParamGroups = None,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        amsgrad: bool = False,
    ) -> None:
        super().__init__(
            params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad
        )

    def check_hyperparameters(self, owner: str, group: Mapping[str, Any]) -> dict[str, Any]:
        betas = group["betas"]
        if not isinstance(betas, tuple | list) or len(betas) != 2:
            raise InvalidArgument(f"{owner}: betas must be a pair (beta1, beta2), got {betas!r}")
        b1, b2 = betas
        return {
            "betas": (
                check_range(owner, "betas[0]", b1, 0.0, 1.0, open_hi=True),
                check_range(owner, "betas[1]", b2, 0.0, 1.0, open_hi=True),
            ),
            "eps": check_range(owner, "eps", group["eps"], 0.0),
            "weight_decay": check_range(owner, "weight_decay", group["weight_decay"], 0.0),
            "amsgrad": bool(group["amsgrad"]),
        }

    def update(
        self, p: np.ndarray, g: np.ndarray, state: Mapping[str, Any], group: Mapping[str, Any]
    ) -> tuple[np.ndarray, ParamState]:
        lr, weight_decay = group["lr"], group["weight_decay"]
        if weight_decay != 0.0:
            if self.decoupled_weight_decay:
                p = p - lr * weight_decay * p
            else:
                g = g + weight_decay * p
        (b1, b2), step = group["betas"], state.get("step", 0) + 1
        exp_avg = b1 * state.get("exp_avg", 0.0) + (1.0 - b1) * g
        exp_avg_sq = b2 * state.get("exp_avg_sq", 0.0) + (1.0 - b2) * g * g
        new: ParamState = {"step": step, "exp_avg": exp_avg, "exp_avg_sq": exp_avg_sq}
        second = exp_avg_sq
        if group["amsgrad"]:
            second = np.maximum(state.get("max_exp_avg_sq", 0.0), exp_avg_sq)
            new["max_exp_avg_sq"] = second
        bias1, bias2 = 1.0 - b1**step, 1.0 - b2**step
        denom = np.sqrt(second) / math.sqrt(bias2) + group["eps"]
        return p - (lr / bias1) * exp_avg / denom, new


class AdamW(Adam):
    """PyTorch's ``AdamW``: :class:`Adam` with **decoupled** weight decay (default ``1e-2``).

    Each step first shrinks the parameter, ``p ← p - lr·weight_decay·p``, then takes the Adam
    step with the raw gradient (no ``weight_decay·p`` added to it).

    >>> import numpy as np
    >>> opt = AdamW(lr=0.1, weight_decay=0.5)
    >>> new = opt.step({"w": np.array([2.0])}, {"w": np.array([1.0])})
    >>> assert np.allclose(new["w"], 2.0 - 0.1 * 0.5 * 2.0 - 0.1)
    """

    decoupled_weight_decay = True

    def __init__(
        self,
        params: ParamGroups = None,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
        amsgrad: bool = False,
    ) -> None:
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad)
