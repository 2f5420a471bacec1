"""The base of the closed-form schedules: :class:`LRScheduler`, and argument checks they share."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any

from tapem.errors import InvalidArgument, check_int, require_keys
from tapem.optim.optimizer import Optimizer, check_range

__all__ = ["LRScheduler", "per_group", "positive_int"]


class LRScheduler(ABC):
    """Base class: ``lr_at(epoch)`` is the schedule; ``step()`` applies the next epoch's value.

    ``base_lrs[i]`` is group ``i``'s ``"initial_lr"`` (the ``lr`` the optimizer was built
    with); ``last_epoch`` counts the calls to :meth:`step`. Building a scheduler sets every
    group's ``lr`` to ``lr_at(0)[i]``.
    """

    def __init__(self, optimizer: Optimizer) -> None:
        self.optimizer = optimizer
        self.base_lrs = [float(group["initial_lr"]) for group in optimizer.param_groups]
        self.last_epoch = 0
        self._apply(0)

    @abstractmethod
    def lr_at(self, epoch: int) -> list[float]:
        """Each group's learning rate in epoch ``epoch`` (0 is the first), from ``base_lrs``."""

    def _apply(self, epoch: int) -> None:
        """Set each group's learning rate (and whatever else the schedule drives) for ``epoch``."""
        lrs = self.lr_at(epoch)
        for group, lr in zip(self.optimizer.param_groups, lrs, strict=True):
            group["lr"] = lr

    def step(self) -> None:
        """Advance one epoch and set each group's ``lr`` to ``lr_at(last_epoch)``."""
        self._apply(self.last_epoch + 1)
        self.last_epoch += 1

    def get_last_lr(self) -> list[float]:
        """The learning rates this scheduler last set, one per parameter group."""
        return self.lr_at(self.last_epoch)

    def state_dict(self) -> dict[str, Any]:
        """``{"last_epoch": int, "base_lrs": [float, ...]}`` (the schedule's own arguments are
        given again when it is rebuilt, as in PyTorch)."""
        return {"last_epoch": self.last_epoch, "base_lrs": list(self.base_lrs)}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore :meth:`state_dict` and set each group's ``lr`` to ``lr_at(last_epoch)``.
        Nothing changes on error."""
        owner = f"{type(self).__name__}.load_state_dict"
        require_keys(owner, state, ("last_epoch", "base_lrs"))
        base_lrs = list(state["base_lrs"])
        if len(base_lrs) != len(self.optimizer.param_groups):
            raise InvalidArgument(
                f"{owner}: the state has {len(base_lrs)} base_lrs, the optimizer has "
                f"{len(self.optimizer.param_groups)} parameter groups; build it with the same ones"
            )
        last_epoch = int(state["last_epoch"])
        if last_epoch < 0:
            raise InvalidArgument(f"{owner}: last_epoch must be >= 0, got {last_epoch}")
        base_lrs = [check_range(owner, "base_lrs[i]", lr, 0.0) for lr in base_lrs]
        before = (self.last_epoch, self.base_lrs)
        self.last_epoch, self.base_lrs = last_epoch, base_lrs
        try:
            self._apply(last_epoch)
        except BaseException:
            self.last_epoch, self.base_lrs = before
            raise


def positive_int(owner: str, name: str, value: int) -> int:
    """``value``, or :class:`~tapem.InvalidArgument` if it is not an integer > 0."""
    return check_int(owner, name, value, 1, must="a positive integer")


def per_group(owner: str, name: str, value: Any, optimizer: Optimizer) -> list[Any]:
    """One ``value`` per parameter group: a list or tuple of one per group, or one for all."""
    count = len(optimizer.param_groups)
    if isinstance(value, list | tuple):
        if len(value) != count:
            raise InvalidArgument(
                f"{owner}: {name} has {len(value)} values but the optimizer has {count} "
                "parameter groups; give one value, or one per group"
            )
        return list(value)
    return [value] * count
