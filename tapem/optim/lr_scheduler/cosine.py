"""Cosine schedules (PyTorch's): annealing, and annealing with warm restarts (SGDR)."""

from __future__ import annotations

import math

from tapem.errors import InvalidArgument
from tapem.optim.lr_scheduler.base import LRScheduler, positive_int
from tapem.optim.optimizer import Optimizer, check_range

__all__ = ["CosineAnnealingLR", "CosineAnnealingWarmRestarts"]


def _cosine(base: float, eta_min: float, t: float, period: float) -> float:
    return eta_min + (base - eta_min) * (1.0 + math.cos(math.pi * t / period)) / 2.0


class CosineAnnealingLR(LRScheduler):
    """``lr = eta_min + (base_lr - eta_min) · (1 + cos(π · epoch / T_max)) / 2``
    (PyTorch's ``CosineAnnealingLR``, closed form): from ``base_lr`` at epoch 0 down to
    ``eta_min`` at ``T_max`` (and back up after it, as the cosine goes on).

    >>> from tapem.optim import SGD
    >>> sched = CosineAnnealingLR(SGD(lr=1.0), T_max=4)
    >>> [round(sched.lr_at(e)[0], 6) for e in range(5)]
    [1.0, 0.853553, 0.5, 0.146447, 0.0]
    """

    def __init__(self, optimizer: Optimizer, T_max: int, eta_min: float = 0.0) -> None:
        self.T_max = positive_int("CosineAnnealingLR", "T_max", T_max)
        self.eta_min = check_range("CosineAnnealingLR", "eta_min", eta_min, 0.0)
        super().__init__(optimizer)

    def lr_at(self, epoch: int) -> list[float]:
        return [_cosine(base, self.eta_min, epoch, self.T_max) for base in self.base_lrs]


class CosineAnnealingWarmRestarts(LRScheduler):
    """SGDR (PyTorch's ``CosineAnnealingWarmRestarts``): a cosine from ``base_lr`` down towards
    ``eta_min`` over ``T_i`` epochs, then a restart at ``base_lr``; the first period is
    ``T_i = T_0`` epochs and each next one ``T_mult`` times longer. With ``T_cur`` the epochs
    since the last restart: ``lr = eta_min + (base_lr - eta_min) · (1 + cos(π · T_cur / T_i)) / 2``.

    >>> from tapem.optim import SGD
    >>> sched = CosineAnnealingWarmRestarts(SGD(lr=1.0), T_0=2, T_mult=2)
    >>> [sched.lr_at(e)[0] for e in range(7)]  # periods of 2, then 4 epochs
    [1.0, 0.5, 1.0, 0.8535533905932737, 0.5, 0.14644660940672627, 1.0]
    """

    def __init__(
        self, optimizer: Optimizer, T_0: int, T_mult: int = 1, eta_min: float = 0.0
    ) -> None:
        self.T_0 = positive_int("CosineAnnealingWarmRestarts", "T_0", T_0)
        self.T_mult = positive_int("CosineAnnealingWarmRestarts", "T_mult", T_mult)
        self.eta_min = check_range("CosineAnnealingWarmRestarts", "eta_min", eta_min, 0.0)
        super().__init__(optimizer)

    def position(self, epoch: int) -> tuple[int, int]:
        """``(T_cur, T_i)`` at ``epoch``: epochs since the last restart, and the period's length
        (counted in integers, as PyTorch's ``step()`` counts, so restarts land exactly)."""
        if epoch < 0:
            raise InvalidArgument(f"CosineAnnealingWarmRestarts: epoch must be >= 0, got {epoch}")
        t, period = epoch, self.T_0
        if self.T_mult == 1:
            return t % period, period
        while t >= period:
            t -= period
            period *= self.T_mult
        return t, period

    def lr_at(self, epoch: int) -> list[float]:
        t, period = self.position(epoch)
        return [_cosine(base, self.eta_min, t, period) for base in self.base_lrs]
