"""Stochastic gradient descent with momentum, dampening, Nesterov and weight decay (PyTorch's)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from tapem.errors import InvalidArgument
from tapem.optim.optimizer import Optimizer, ParamState, check_range

__all__ = ["SGD"]


class SGD(Optimizer):
    """PyTorch's ``SGD`` (same names, defaults and update), for one parameter ``p``:

    - ``g ← g + weight_decay·p`` (coupled weight decay, if ``weight_decay ≠ 0``);
    - with ``momentum ≠ 0``: ``buf ← g`` on the first step, then
      ``buf ← momentum·buf + (1 - dampening)·g``; ``g ← g + momentum·buf`` with ``nesterov``,
      else ``g ← buf``;
    - ``p ← p - lr·g``.

    State per parameter: ``"momentum_buffer"`` (only with momentum). ``weight_decay`` and
    ``nesterov`` are keyword-only (their positional order differs between PyTorch and the spec).
    Nesterov needs ``momentum > 0`` and ``dampening == 0``.

    >>> import numpy as np
    >>> opt = SGD(lr=0.1, momentum=0.9)
    >>> params = {"w": np.array([1.0, 2.0])}
    >>> params = opt.step(params, {"w": np.array([1.0, -1.0])})  # buf = g
    >>> params = opt.step(params, {"w": np.array([1.0, -1.0])})  # buf = 0.9 buf + g
    >>> assert np.allclose(params["w"], [1.0 - 0.1 - 0.19, 2.0 + 0.1 + 0.19])
    """

    hyperparameters = ("momentum", "dampening", "weight_decay", "nesterov")

    def __init__(
        self,
        lr: float = 1e-3,
        momentum: float = 0.0,
        dampening: float = 0.0,
        *,
        weight_decay: float = 0.0,
        nesterov: bool = False,
    ) -> None:
        super().__init__(lr)
        self.momentum = check_range("SGD", "momentum", momentum, 0.0)
        self.dampening = float(dampening)
        self.weight_decay = check_range("SGD", "weight_decay", weight_decay, 0.0)
        self.nesterov = bool(nesterov)
        if self.nesterov and (self.momentum <= 0.0 or self.dampening != 0.0):
            raise InvalidArgument(
                f"SGD: Nesterov momentum needs momentum > 0 and dampening == 0 (got momentum="
                f"{momentum!r}, dampening={dampening!r})"
            )

    def update(
        self, p: np.ndarray, g: np.ndarray, state: Mapping[str, Any]
    ) -> tuple[np.ndarray, ParamState]:
        if self.weight_decay != 0.0:
            g = g + self.weight_decay * p
        if self.momentum == 0.0:
            return p - self.lr * g, {}
        if "momentum_buffer" not in state:
            buf = g.copy()
        else:
            buf = self.momentum * state["momentum_buffer"] + (1.0 - self.dampening) * g
        direction = g + self.momentum * buf if self.nesterov else buf
        return p - self.lr * direction, {"momentum_buffer": buf}
