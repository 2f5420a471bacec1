"""The 1cycle policy (PyTorch's ``OneCycleLR``): warm up to ``max_lr``, then anneal far below."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Literal

from tapem.errors import InvalidArgument
from tapem.optim.lr_scheduler.base import LRScheduler, per_group, positive_int
from tapem.optim.optimizer import Optimizer, check_range

__all__ = ["OneCycleLR"]


def _anneal(strategy: str, start: float, end: float, pct: float) -> float:
    if strategy == "cos":
        return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1.0)
    return (end - start) * pct + start


class OneCycleLR(LRScheduler):
    """PyTorch's ``OneCycleLR``, meant to be stepped after every **batch** (in
    :func:`~tapem.fit`: ``scheduler_interval="batch"``) for ``total_steps`` steps
    (or ``epochs * steps_per_epoch``).

    Per group, with ``initial = max_lr / div_factor`` and ``min = initial / final_div_factor``:
    the learning rate goes from ``initial`` up to ``max_lr`` over the first
    ``pct_start * total_steps - 1`` steps, then down to ``min`` at step ``total_steps - 1``
    (``three_phase``: up, back down to ``initial`` over as many steps, then down to ``min``).
    Each phase anneals with ``anneal_strategy``: ``"cos"``,
    ``end + (start - end) · (1 + cos(π · pct)) / 2``, or ``"linear"``; ``pct`` is the fraction of
    the phase done. With ``cycle_momentum`` the momentum (SGD, RMSprop) or ``betas[0]`` (Adam,
    AdamW) goes the other way, between ``max_momentum`` and ``base_momentum``. Stepping past
    ``total_steps`` is an :class:`~tapem.InvalidArgument`, as in PyTorch.

    >>> from tapem.optim import SGD
    >>> opt = SGD(lr=1.0, momentum=0.9)
    >>> sched = OneCycleLR(opt, max_lr=1.0, total_steps=5, pct_start=0.4, anneal_strategy="linear")
    >>> [round(lr, 6) for e in range(5) for lr in sched.lr_at(e)]
    [0.04, 1.0, 0.666668, 0.333336, 4e-06]
    >>> opt.param_groups[0]["momentum"]
    0.95
    """

    def __init__(
        self,
        optimizer: Optimizer,
        max_lr: float | Sequence[float],
        total_steps: int | None = None,
        epochs: int | None = None,
        steps_per_epoch: int | None = None,
        pct_start: float = 0.3,
        anneal_strategy: Literal["cos", "linear"] = "cos",
        cycle_momentum: bool = True,
        base_momentum: float | Sequence[float] = 0.85,
        max_momentum: float | Sequence[float] = 0.95,
        div_factor: float = 25.0,
        final_div_factor: float = 1e4,
        three_phase: bool = False,
    ) -> None:
        owner = "OneCycleLR"
        if total_steps is not None:
            self.total_steps = positive_int(owner, "total_steps", total_steps)
        elif epochs is not None and steps_per_epoch is not None:
            self.total_steps = positive_int(owner, "epochs", epochs) * positive_int(
                owner, "steps_per_epoch", steps_per_epoch
            )
        else:
            raise InvalidArgument(
                f"{owner}: give total_steps, or epochs and steps_per_epoch (e.g. len(loader))"
            )
        pct = check_range(owner, "pct_start", pct_start, 0.0, 1.0)
        if anneal_strategy not in ("cos", "linear"):
            raise InvalidArgument(
                f"{owner}: anneal_strategy must be 'cos' or 'linear', got {anneal_strategy!r}"
            )
        self.anneal_strategy = anneal_strategy
        div = check_range(owner, "div_factor", div_factor, 0.0)
        final_div = check_range(owner, "final_div_factor", final_div_factor, 0.0)
        if div == 0.0 or final_div == 0.0:
            raise InvalidArgument(f"{owner}: div_factor and final_div_factor must be > 0")
        self.max_lrs = [
            check_range(owner, "max_lr", lr, 0.0)
            for lr in per_group(owner, "max_lr", max_lr, optimizer)
        ]
        self.initial_lrs = [lr / div for lr in self.max_lrs]
        self.min_lrs = [lr / final_div for lr in self.initial_lrs]
        self.cycle_momentum = bool(cycle_momentum)
        self.use_beta1 = "betas" in optimizer.defaults
        if self.cycle_momentum and not self.use_beta1 and "momentum" not in optimizer.defaults:
            raise InvalidArgument(
                f"{owner}: cycle_momentum needs an optimizer with momentum or betas (SGD, "
                f"RMSprop, Adam, AdamW), not {type(optimizer).__name__}; pass cycle_momentum=False"
            )
        self.max_momentums = [
            check_range(owner, "max_momentum", m, 0.0, 1.0)
            for m in per_group(owner, "max_momentum", max_momentum, optimizer)
        ]
        self.base_momentums = [
            check_range(owner, "base_momentum", m, 0.0, 1.0)
            for m in per_group(owner, "base_momentum", base_momentum, optimizer)
        ]
        total = self.total_steps
        self.three_phase = bool(three_phase)
        # (last step of the phase, where lr starts, where it ends); momentum mirrors the lr
        if self.three_phase:
            self.phases = [
                (pct * total - 1, "initial", "max"),
                (2 * pct * total - 2, "max", "initial"),
                (total - 1.0, "initial", "min"),
            ]
        else:
            self.phases = [(pct * total - 1, "initial", "max"), (total - 1.0, "max", "min")]
        super().__init__(optimizer)

    def _phase(self, epoch: int) -> tuple[str, str, float]:
        """The phase's start and end (names) and the fraction ``pct`` of it done at ``epoch``."""
        if epoch > self.total_steps:
            raise InvalidArgument(
                f"OneCycleLR: stepped {epoch} times but total_steps is {self.total_steps}; "
                "build it with the number of steps you train (epochs * steps_per_epoch)"
            )
        start = 0.0
        for i, (end, lr_from, lr_to) in enumerate(self.phases):
            if epoch <= end or i == len(self.phases) - 1:
                # a phase of no steps (pct_start * total_steps == 1) is already at its end
                pct = 1.0 if end == start else (epoch - start) / (end - start)
                return lr_from, lr_to, pct
            start = end
        raise AssertionError("unreachable: the last phase always matches")

    def lr_at(self, epoch: int) -> list[float]:
        lr_from, lr_to, pct = self._phase(epoch)
        return [_anneal(self.anneal_strategy, f, t, pct) for f, t in self._ends(lr_from, lr_to)]

    def _ends(self, lr_from: str, lr_to: str) -> list[tuple[float, float]]:
        values = {"initial": self.initial_lrs, "max": self.max_lrs, "min": self.min_lrs}
        return list(zip(values[lr_from], values[lr_to], strict=True))

    def momentum_at(self, epoch: int) -> list[float]:
        """Each group's momentum (or ``betas[0]``) at ``epoch``: ``max_momentum`` where the
        learning rate is lowest, ``base_momentum`` where it peaks."""
        lr_from, lr_to, pct = self._phase(epoch)
        ends = {"initial": self.max_momentums, "max": self.base_momentums}
        ends["min"] = self.max_momentums
        pairs = zip(ends[lr_from], ends[lr_to], strict=True)
        return [_anneal(self.anneal_strategy, f, t, pct) for f, t in pairs]

    def _apply(self, epoch: int) -> None:
        momenta = self.momentum_at(epoch) if self.cycle_momentum else None
        super()._apply(epoch)
        if momenta is not None:
            for group, m in zip(self.optimizer.param_groups, momenta, strict=True):
                _set_momentum(group, m, self.use_beta1)


def _set_momentum(group: dict[str, Any], momentum: float, use_beta1: bool) -> None:
    if use_beta1:
        group["betas"] = (momentum, group["betas"][1])
    else:
        group["momentum"] = momentum
