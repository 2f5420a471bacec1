"""``ReduceLROnPlateau`` (PyTorch's): lower the learning rates when a metric stops improving."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from tapem.errors import InvalidArgument, check_int, require_keys
from tapem.optim.lr_scheduler.base import per_group
from tapem.optim.optimizer import Optimizer, check_range

__all__ = ["ReduceLROnPlateau"]


class ReduceLROnPlateau:
    """PyTorch's ``ReduceLROnPlateau``: call ``step(metric)`` after each epoch (in
    :func:`~tapem.fit` it gets the eval loss, or the training loss without ``eval_data``).

    A metric is an improvement when it beats ``best`` by the threshold: in ``mode="min"``,
    ``metric < best · (1 - threshold)`` (``threshold_mode="rel"``) or
    ``metric < best - threshold`` (``"abs"``); ``"max"`` mirrors it. After more than
    ``patience`` epochs in a row without one, every group's ``lr`` becomes
    ``max(lr · factor, min_lr)`` (unless that changes it by ``eps`` or less), and the next
    ``cooldown`` epochs count no bad epochs. It is not a closed form of the epoch, so it cannot
    go in a :class:`SequentialLR` (as in PyTorch).

    >>> from tapem.optim import SGD
    >>> opt = SGD(lr=1.0)
    >>> sched = ReduceLROnPlateau(opt, patience=1, factor=0.5)
    >>> lrs = []
    >>> for loss in [3.0, 2.0, 2.0, 2.0, 2.0, 1.0]:
    ...     sched.step(loss)
    ...     lrs.append(opt.lr)
    >>> lrs  # the 2nd epoch in a row without improvement (more than patience=1) halves it
    [1.0, 1.0, 1.0, 0.5, 0.5, 0.5]
    """

    def __init__(
        self,
        optimizer: Optimizer,
        mode: Literal["min", "max"] = "min",
        factor: float = 0.1,
        patience: int = 10,
        threshold: float = 1e-4,
        threshold_mode: Literal["rel", "abs"] = "rel",
        cooldown: int = 0,
        min_lr: float | Sequence[float] = 0.0,
        eps: float = 1e-8,
    ) -> None:
        owner = "ReduceLROnPlateau"
        if mode not in ("min", "max"):
            raise InvalidArgument(f"{owner}: mode must be 'min' or 'max', got {mode!r}")
        if threshold_mode not in ("rel", "abs"):
            raise InvalidArgument(
                f"{owner}: threshold_mode must be 'rel' or 'abs', got {threshold_mode!r}"
            )
        self.optimizer = optimizer
        self.mode = mode
        self.factor = check_range(owner, "factor", factor, 0.0, 1.0, open_hi=True)
        self.patience = check_int(owner, "patience", patience, 0)
        self.threshold = check_range(owner, "threshold", threshold, 0.0)
        self.threshold_mode = threshold_mode
        self.cooldown = check_int(owner, "cooldown", cooldown, 0)
        self.min_lrs = [
            check_range(owner, "min_lr", lr, 0.0)
            for lr in per_group(owner, "min_lr", min_lr, optimizer)
        ]
        self.eps = check_range(owner, "eps", eps, 0.0)
        self.last_epoch = 0
        self.best = math.inf if mode == "min" else -math.inf
        self.num_bad_epochs = 0
        self.cooldown_counter = 0

    def is_better(self, metric: float, best: float) -> bool:
        """Whether ``metric`` improves on ``best`` by more than the threshold."""
        rel = self.threshold_mode == "rel"
        if self.mode == "min":
            return metric < (best * (1.0 - self.threshold) if rel else best - self.threshold)
        return metric > (best * (1.0 + self.threshold) if rel else best + self.threshold)

    def step(self, metrics: float) -> None:
        """Record one epoch's ``metrics`` (e.g. the eval loss) and lower the rates if due."""
        current = float(metrics)
        self.last_epoch += 1
        if self.is_better(current, self.best):
            self.best = current
            self.num_bad_epochs = 0
        else:
            self.num_bad_epochs += 1
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0  # bad epochs in the cooldown do not count
        if self.num_bad_epochs > self.patience:
            for group, min_lr in zip(self.optimizer.param_groups, self.min_lrs, strict=True):
                old = float(group["lr"])
                new = max(old * self.factor, min_lr)
                if old - new > self.eps:
                    group["lr"] = new
            self.cooldown_counter = self.cooldown
            self.num_bad_epochs = 0

    def get_last_lr(self) -> list[float]:
        """Each group's current learning rate."""
        return [float(group["lr"]) for group in self.optimizer.param_groups]

    def state_dict(self) -> dict[str, Any]:
        """``last_epoch``, ``best``, ``num_bad_epochs`` and ``cooldown_counter`` (the learning
        rates themselves are in the optimizer's state)."""
        return {
            "last_epoch": self.last_epoch,
            "best": self.best,
            "num_bad_epochs": self.num_bad_epochs,
            "cooldown_counter": self.cooldown_counter,
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore :meth:`state_dict`. Nothing changes on error."""
        owner = "ReduceLROnPlateau.load_state_dict"
        names = ("last_epoch", "best", "num_bad_epochs", "cooldown_counter")
        require_keys(owner, state, names)
        counts = [int(state[name]) for name in ("last_epoch", "num_bad_epochs", "cooldown_counter")]
        if min(counts) < 0:
            raise InvalidArgument(f"{owner}: counters must be >= 0, got {counts}")
        best = float(state["best"])
        self.last_epoch, self.num_bad_epochs, self.cooldown_counter = counts
        self.best = best
