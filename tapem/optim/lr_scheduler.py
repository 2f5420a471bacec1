"""Learning-rate schedules (PyTorch's names): each sets ``optimizer.lr`` once per epoch.

A scheduler is a closed-form function of the epoch, :meth:`LRScheduler.lr_at`, plus a counter.
Building one sets ``optimizer.lr = lr_at(0)``; each :meth:`LRScheduler.step` (call it after the
epoch's optimizer steps, as in PyTorch) advances the counter and sets ``lr_at(last_epoch)``.
Every schedule starts from the optimizer's ``initial_lr`` (the ``lr`` it was built with), so
schedulers can be chained with :class:`SequentialLR` (e.g. linear warm-up, then cosine).

>>> from tapem.optim import SGD
>>> opt = SGD(lr=1.0)
>>> sched = StepLR(opt, step_size=2, gamma=0.5)
>>> lrs = [opt.lr]
>>> for epoch in range(4):
...     sched.step()
...     lrs.append(opt.lr)
>>> lrs
[1.0, 1.0, 0.5, 0.5, 0.25]
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from bisect import bisect_right
from collections.abc import Mapping, Sequence
from itertools import pairwise
from typing import Any

from tapem.errors import InvalidArgument, require_keys
from tapem.optim.optimizer import Optimizer, check_range

__all__ = ["CosineAnnealingLR", "LRScheduler", "LinearLR", "SequentialLR", "StepLR"]


class LRScheduler(ABC):
    """Base class: ``lr_at(epoch)`` is the schedule; ``step()`` applies the next epoch's value."""

    def __init__(self, optimizer: Optimizer) -> None:
        self.optimizer = optimizer
        self.base_lr = optimizer.initial_lr
        self.last_epoch = 0
        optimizer.lr = self.lr_at(0)

    @abstractmethod
    def lr_at(self, epoch: int) -> float:
        """The learning rate of epoch ``epoch`` (0 is the first), from ``self.base_lr``."""

    def step(self) -> None:
        """Advance one epoch and set the optimizer's ``lr`` to ``lr_at(last_epoch)``."""
        self.last_epoch += 1
        self.optimizer.lr = self.lr_at(self.last_epoch)

    def get_last_lr(self) -> float:
        """The learning rate this scheduler last set (a float: one rate per optimizer)."""
        return self.lr_at(self.last_epoch)

    def state_dict(self) -> dict[str, Any]:
        """``{"last_epoch": int, "base_lr": float}`` (the schedule's own arguments are given
        again when it is rebuilt, as in PyTorch)."""
        return {"last_epoch": self.last_epoch, "base_lr": self.base_lr}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore :meth:`state_dict` and set the optimizer's ``lr`` to ``lr_at(last_epoch)``."""
        require_keys(f"{type(self).__name__}.load_state_dict", state, ("last_epoch", "base_lr"))
        self.last_epoch = int(state["last_epoch"])
        self.base_lr = float(state["base_lr"])
        self.optimizer.lr = self.lr_at(self.last_epoch)


def _positive_int(owner: str, name: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise InvalidArgument(f"{owner}: {name} must be a positive integer, got {value!r}")
    return value


class StepLR(LRScheduler):
    """``lr = base_lr · gamma ** (epoch // step_size)`` (PyTorch's ``StepLR``).

    >>> from tapem.optim import SGD
    >>> sched = StepLR(SGD(lr=0.1), step_size=3)
    >>> [round(sched.lr_at(e), 6) for e in (0, 2, 3, 6)]
    [0.1, 0.1, 0.01, 0.001]
    """

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1) -> None:
        self.step_size = _positive_int("StepLR", "step_size", step_size)
        self.gamma = float(gamma)
        super().__init__(optimizer)

    def lr_at(self, epoch: int) -> float:
        return self.base_lr * self.gamma ** (epoch // self.step_size)


class CosineAnnealingLR(LRScheduler):
    """``lr = eta_min + (base_lr - eta_min) · (1 + cos(π · epoch / T_max)) / 2``
    (PyTorch's ``CosineAnnealingLR``, closed form): from ``base_lr`` at epoch 0 down to
    ``eta_min`` at ``T_max`` (and back up after it, as the cosine goes on).

    >>> from tapem.optim import SGD
    >>> sched = CosineAnnealingLR(SGD(lr=1.0), T_max=4)
    >>> [round(sched.lr_at(e), 6) for e in range(5)]
    [1.0, 0.853553, 0.5, 0.146447, 0.0]
    """

    def __init__(self, optimizer: Optimizer, T_max: int, eta_min: float = 0.0) -> None:
        self.T_max = _positive_int("CosineAnnealingLR", "T_max", T_max)
        self.eta_min = float(eta_min)
        super().__init__(optimizer)

    def lr_at(self, epoch: int) -> float:
        cosine = (1.0 + math.cos(math.pi * epoch / self.T_max)) / 2.0
        return self.eta_min + (self.base_lr - self.eta_min) * cosine


class LinearLR(LRScheduler):
    """Linear warm-up (or decay) of a factor (PyTorch's ``LinearLR``): ``lr = base_lr · f`` with
    ``f`` going linearly from ``start_factor`` at epoch 0 to ``end_factor`` at ``total_iters``,
    then staying there. ``0 < start_factor <= 1`` and ``0 <= end_factor <= 1``.

    >>> from tapem.optim import SGD
    >>> sched = LinearLR(SGD(lr=1.0), start_factor=0.25, total_iters=3)
    >>> [sched.lr_at(e) for e in range(5)]
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
        self.total_iters = _positive_int("LinearLR", "total_iters", total_iters)
        super().__init__(optimizer)

    def lr_at(self, epoch: int) -> float:
        progress = min(epoch, self.total_iters) / self.total_iters
        return self.base_lr * (self.start_factor + (self.end_factor - self.start_factor) * progress)


class SequentialLR(LRScheduler):
    """Run ``schedulers[i]`` from epoch ``milestones[i-1]`` (PyTorch's ``SequentialLR``); each
    restarts at its own epoch 0 when its turn comes.

    >>> from tapem.optim import SGD
    >>> opt = SGD(lr=1.0)
    >>> warmup = LinearLR(opt, start_factor=0.5, total_iters=2)
    >>> cosine = CosineAnnealingLR(opt, T_max=2)
    >>> sched = SequentialLR(opt, [warmup, cosine], milestones=[2])
    >>> [round(sched.lr_at(e), 6) for e in range(5)]
    [0.5, 0.75, 1.0, 0.5, 0.0]
    >>> opt.lr
    0.5
    """

    def __init__(
        self, optimizer: Optimizer, schedulers: Sequence[LRScheduler], milestones: Sequence[int]
    ) -> None:
        if len(schedulers) == 0 or len(milestones) != len(schedulers) - 1:
            raise InvalidArgument(
                f"SequentialLR: need one milestone between each pair of schedulers, got "
                f"{len(schedulers)} schedulers and {len(milestones)} milestones"
            )
        if any(s.optimizer is not optimizer for s in schedulers):
            raise InvalidArgument("SequentialLR: every scheduler must drive the same optimizer")
        ms = [_positive_int("SequentialLR", "milestones[i]", m) for m in milestones]
        if any(a >= b for a, b in pairwise(ms)):
            raise InvalidArgument(f"SequentialLR: milestones must increase, got {ms}")
        self.schedulers = list(schedulers)
        self.milestones = ms
        super().__init__(optimizer)

    def lr_at(self, epoch: int) -> float:
        i = bisect_right(self.milestones, epoch)
        start = self.milestones[i - 1] if i > 0 else 0
        return self.schedulers[i].lr_at(epoch - start)

    def state_dict(self) -> dict[str, Any]:
        """The base entries plus ``"schedulers/<i>/<entry>"`` for each inner scheduler."""
        out = super().state_dict()
        for i, s in enumerate(self.schedulers):
            out.update({f"schedulers/{i}/{k}": v for k, v in s.state_dict().items()})
        return out

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        for i, s in enumerate(self.schedulers):
            prefix = f"schedulers/{i}/"
            inner = {k.removeprefix(prefix): v for k, v in state.items() if k.startswith(prefix)}
            s.load_state_dict(inner)
        super().load_state_dict(state)
