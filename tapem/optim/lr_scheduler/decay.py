"""Schedules that scale each group's base learning rate by a factor of the epoch (PyTorch's)."""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Sequence
from itertools import pairwise

from tapem.errors import InvalidArgument
from tapem.optim.lr_scheduler.base import LRScheduler, per_group, positive_int
from tapem.optim.optimizer import Optimizer, check_range

__all__ = [
    "ConstantLR",
    "ExponentialLR",
    "LambdaLR",
    "LinearLR",
    "MultiStepLR",
    "PolynomialLR",
    "StepLR",
]


class StepLR(LRScheduler):
    """``lr = base_lr · gamma ** (epoch // step_size)`` (PyTorch's ``StepLR``).

    >>> from tapem.optim import SGD
    >>> sched = StepLR(SGD(lr=0.1), step_size=3)
    >>> [round(sched.lr_at(e)[0], 6) for e in (0, 2, 3, 6)]
    [0.1, 0.1, 0.01, 0.001]
    """

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1) -> None:
        self.step_size = positive_int("StepLR", "step_size", step_size)
        self.gamma = check_range("StepLR", "gamma", gamma, 0.0)
        super().__init__(optimizer)

    def lr_at(self, epoch: int) -> list[float]:
        return [base * self.gamma ** (epoch // self.step_size) for base in self.base_lrs]


class MultiStepLR(LRScheduler):
    """``lr = base_lr · gamma ** (number of milestones <= epoch)`` (PyTorch's ``MultiStepLR``);
    ``milestones`` are increasing epochs.

    >>> from tapem.optim import SGD
    >>> sched = MultiStepLR(SGD(lr=1.0), milestones=[2, 4], gamma=0.5)
    >>> [sched.lr_at(e)[0] for e in range(6)]
    [1.0, 1.0, 0.5, 0.5, 0.25, 0.25]
    """

    def __init__(self, optimizer: Optimizer, milestones: Sequence[int], gamma: float = 0.1) -> None:
        ms = [positive_int("MultiStepLR", "milestones[i]", m) for m in milestones]
        if any(a >= b for a, b in pairwise(ms)):
            raise InvalidArgument(f"MultiStepLR: milestones must increase, got {ms}")
        self.milestones = ms
        self.gamma = check_range("MultiStepLR", "gamma", gamma, 0.0)
        super().__init__(optimizer)

    def lr_at(self, epoch: int) -> list[float]:
        passed = bisect_right(self.milestones, epoch)
        return [base * self.gamma**passed for base in self.base_lrs]


class ExponentialLR(LRScheduler):
    """``lr = base_lr · gamma ** epoch`` (PyTorch's ``ExponentialLR``; ``gamma`` has no default).

    >>> from tapem.optim import SGD
    >>> sched = ExponentialLR(SGD(lr=1.0), gamma=0.5)
    >>> [sched.lr_at(e)[0] for e in range(4)]
    [1.0, 0.5, 0.25, 0.125]
    """

    def __init__(self, optimizer: Optimizer, gamma: float) -> None:
        self.gamma = check_range("ExponentialLR", "gamma", gamma, 0.0)
        super().__init__(optimizer)

    def lr_at(self, epoch: int) -> list[float]:
        return [base * self.gamma**epoch for base in self.base_lrs]


class ConstantLR(LRScheduler):
    """``lr = base_lr · factor`` before epoch ``total_iters``, then ``base_lr`` (PyTorch's
    ``ConstantLR``); ``0 <= factor <= 1``.

    >>> from tapem.optim import SGD
    >>> sched = ConstantLR(SGD(lr=0.9), factor=0.5, total_iters=2)
    >>> [sched.lr_at(e)[0] for e in range(4)]
    [0.45, 0.45, 0.9, 0.9]
    """

    def __init__(self, optimizer: Optimizer, factor: float = 1.0 / 3, total_iters: int = 5) -> None:
        self.factor = check_range("ConstantLR", "factor", factor, 0.0, 1.0)
        self.total_iters = positive_int("ConstantLR", "total_iters", total_iters)
        super().__init__(optimizer)

    def lr_at(self, epoch: int) -> list[float]:
        factor = self.factor if epoch < self.total_iters else 1.0
        return [base * factor for base in self.base_lrs]


class LinearLR(LRScheduler):
    """Linear warm-up (or decay) of a factor (PyTorch's ``LinearLR``): ``lr = base_lr · f`` with
    ``f`` going linearly from ``start_factor`` at epoch 0 to ``end_factor`` at ``total_iters``,
    then staying there. ``0 < start_factor <= 1`` and ``0 <= end_factor <= 1``.

    >>> from tapem.optim import SGD
    >>> sched = LinearLR(SGD(lr=1.0), start_factor=0.25, total_iters=3)
    >>> [sched.lr_at(e)[0] for e in range(5)]
    [0.25, 0.5, 0.75, 1.0, 1.0]
    """

    def __init__(
        self,
        optimizer: Optimizer,
        start_factor: float = 1.0 / 3,
        end_factor: float = 1.0,
        total_iters: int = 5,
    ) -> None:
        self.start_factor = float(start_factor)
        if not 0.0 < self.start_factor <= 1.0:
            raise InvalidArgument(f"LinearLR: start_factor must be in (0, 1], got {start_factor!r}")
        self.end_factor = check_range("LinearLR", "end_factor", end_factor, 0.0, 1.0)
        self.total_iters = positive_int("LinearLR", "total_iters", total_iters)
        super().__init__(optimizer)

    def lr_at(self, epoch: int) -> list[float]:
        progress = min(epoch, self.total_iters) / self.total_iters
        factor = self.start_factor + (self.end_factor - self.start_factor) * progress
        return [base * factor for base in self.base_lrs]


class PolynomialLR(LRScheduler):
    """``lr = base_lr · (1 - min(epoch, total_iters) / total_iters) ** power`` (PyTorch's
    ``PolynomialLR``): down to 0 at ``total_iters``.

    >>> from tapem.optim import SGD
    >>> sched = PolynomialLR(SGD(lr=1.0), total_iters=4, power=2.0)
    >>> [sched.lr_at(e)[0] for e in range(6)]
    [1.0, 0.5625, 0.25, 0.0625, 0.0, 0.0]
    """

    def __init__(self, optimizer: Optimizer, total_iters: int = 5, power: float = 1.0) -> None:
        self.total_iters = positive_int("PolynomialLR", "total_iters", total_iters)
        self.power = check_range("PolynomialLR", "power", power, 0.0)
        super().__init__(optimizer)

    def lr_at(self, epoch: int) -> list[float]:
        factor = (1.0 - min(epoch, self.total_iters) / self.total_iters) ** self.power
        return [base * factor for base in self.base_lrs]


class LambdaLR(LRScheduler):
    """``lr = base_lr · lr_lambda(epoch)`` (PyTorch's ``LambdaLR``): one function for every
    group, or a list of one per group. The functions are not part of :meth:`state_dict`
    (give them again when rebuilding, as in PyTorch).

    >>> from tapem.optim import SGD
    >>> opt = SGD([{"params": ["W"]}, {"params": ["b"], "lr": 1.0}], lr=0.1)
    >>> sched = LambdaLR(opt, [lambda e: 0.5**e, lambda e: 1.0 / (e + 1)])
    >>> sched.step()
    >>> [group["lr"] for group in opt.param_groups]
    [0.05, 0.5]
    """

    def __init__(
        self,
        optimizer: Optimizer,
        lr_lambda: Callable[[int], float] | Sequence[Callable[[int], float]],
    ) -> None:
        lambdas = per_group("LambdaLR", "lr_lambda", lr_lambda, optimizer)
        if not all(callable(f) for f in lambdas):
            raise InvalidArgument("LambdaLR: lr_lambda must be a function of the epoch (or a list)")
        self.lr_lambdas: list[Callable[[int], float]] = lambdas
        super().__init__(optimizer)

    def lr_at(self, epoch: int) -> list[float]:
        return [
            base * float(f(epoch)) for base, f in zip(self.base_lrs, self.lr_lambdas, strict=True)
        ]
