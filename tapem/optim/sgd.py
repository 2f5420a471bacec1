"""Stochastic gradient descent with momentum, dampening, Nesterov and weight decay (PyTorch's)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from tapem.errors import InvalidArgument
from tapem.optim.groups import ParamGroups
from tapem.optim.optimizer import Optimizer, ParamState, check_range

__all__ = ["SGD"]


class SGD(Optimizer):
    """PyTorch's ``SGD`` (same names, defaults and update), for one parameter ``p``:

    - ``g ← g + weight_decay·p`` (coupled weight decay, if ``weight_decay ≠ 0``);
    - with ``momentum ≠ 0``: ``buf ← g`` on the first step, then
      ``buf ← momentum·buf + (1 - dampening)·g``; ``g ← g + momentum·buf`` with ``nesterov``,
      else ``g ← buf``;
    - ``p ← p - lr·g``.

    State per parameter: ``"momentum_buffer"`` (only with momentum). ``params`` are the
    parameter groups (:class:`~tapem.optim.Optimizer`); every hyper-parameter can be set per
    group. ``weight_decay`` and ``nesterov`` are keyword-only (their positional order differs
    between PyTorch and the spec). Nesterov needs ``momentum > 0`` and ``dampening == 0``.

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
        params: ParamGroups = None,
        lr: float = 1e-3,
        momentum: float = 0.0,
        dampening: float = 0.0,
        *,
        weight_decay: float = 0.0,
        nesterov: bool = False,
    ) -> None:
        super().__init__(
            params,
            lr=lr,
            momentum=momentum,
            dampening=dampening,
            weight_decay=weight_decay,
            nesterov=nesterov,
        )

    def check_hyperparameters(self, owner: str, group: Mapping[str, Any]) -> dict[str, Any]:
        momentum = check_range(owner, "momentum", group["momentum"], 0.0)
        dampening = check_range(owner, "dampening", group["dampening"], -math.inf)
        nesterov = bool(group["nesterov"])
        if nesterov and (momentum <= 0.0 or dampening != 0.0):
            raise InvalidArgument(
                f"{owner}: Nesterov momentum needs momentum > 0 and dampening == 0 (got momentum="
                f"{group['momentum']!r}, dampening={group['dampening']!r})"
            )
        return {
            "momentum": momentum,
            "dampening": dampening,
            "weight_decay": check_range(owner, "weight_decay", group["weight_decay"], 0.0),
            "nesterov": nesterov,
        }

    def update(
        self, p: np.ndarray, g: np.ndarray, state: Mapping[str, Any], group: Mapping[str, Any]
    ) -> tuple[np.ndarray, ParamState]:
        lr, momentum = group["lr"], group["momentum"]
        if group["weight_decay"] != 0.0:
            g = g + group["weight_decay"] * p
        if momentum == 0.0:
            return p - lr * g, {}
        if "momentum_buffer" not in state:
            buf = g.copy()
        else:
            buf = momentum * state["momentum_buffer"] + (1.0 - group["dampening"]) * g
        direction = g + momentum * buf if group["nesterov"] else buf
        return p - lr * direction, {"momentum_buffer": buf}
