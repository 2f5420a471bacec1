"""RMSProp (PyTorch's ``RMSprop``), optionally centered and with momentum."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

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
        lr: float = 1e-2,
        alpha: float = 0.99,
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        momentum: float = 0.0,
        centered: bool = False,
    ) -> None:
        super().__init__(lr)
        self.alpha = check_range("RMSprop", "alpha", alpha, 0.0)
        self.eps = check_range("RMSprop", "eps", eps, 0.0)
        self.weight_decay = check_range("RMSprop", "weight_decay", weight_decay, 0.0)
        self.momentum = check_range("RMSprop", "momentum", momentum, 0.0)
        self.centered = bool(centered)

    def update(
        self, p: np.ndarray, g: np.ndarray, state: Mapping[str, Any]
    ) -> tuple[np.ndarray, ParamState]:
        if self.weight_decay != 0.0:
            g = g + self.weight_decay * p
        a = self.alpha
        square_avg = a * state.get("square_avg", 0.0) + (1.0 - a) * g * g
        new: ParamState = {"step": state.get("step", 0) + 1, "square_avg": square_avg}
        if self.centered:
            grad_avg = a * state.get("grad_avg", 0.0) + (1.0 - a) * g
            new["grad_avg"] = grad_avg
            denom = np.sqrt(square_avg - grad_avg * grad_avg) + self.eps
        else:
            denom = np.sqrt(square_avg) + self.eps
        if self.momentum > 0.0:
            buf = self.momentum * state.get("momentum_buffer", 0.0) + g / denom
            new["momentum_buffer"] = buf
            return p - self.lr * buf, new
        return p - self.lr * g / denom, new
