"""``SequentialLR``: one schedule after another (e.g. a linear warm-up, then a cosine)."""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from itertools import pairwise

from tapem.errors import InvalidArgument
from tapem.optim.lr_scheduler.base import LRScheduler, positive_int
from tapem.optim.optimizer import Optimizer

__all__ = ["SequentialLR"]


class SequentialLR(LRScheduler):
    """Run ``schedulers[i]`` from epoch ``milestones[i-1]`` (PyTorch's ``SequentialLR``); each
    restarts at its own epoch 0 when its turn comes.

    Its :meth:`state_dict` is the base's: it applies the inner schedules' closed forms and never
    steps them, so their state never changes from what building them gave (built again as
    before, a resumed run has it).

    >>> from tapem.optim import SGD, CosineAnnealingLR, LinearLR
    >>> opt = SGD(lr=1.0)
    >>> warmup = LinearLR(opt, start_factor=0.5, total_iters=2)
    >>> cosine = CosineAnnealingLR(opt, T_max=2)
    >>> sched = SequentialLR(opt, [warmup, cosine], milestones=[2])
    >>> [round(sched.lr_at(e)[0], 6) for e in range(5)]
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
        ms = [positive_int("SequentialLR", "milestones[i]", m) for m in milestones]
        if any(a >= b for a, b in pairwise(ms)):
            raise InvalidArgument(f"SequentialLR: milestones must increase, got {ms}")
        self.schedulers = list(schedulers)
        self.milestones = ms
        super().__init__(optimizer)

    def _current(self, epoch: int) -> tuple[LRScheduler, int]:
        """The scheduler in charge at ``epoch`` and the epoch in its own count."""
        i = bisect_right(self.milestones, epoch)
        start = self.milestones[i - 1] if i > 0 else 0
        return self.schedulers[i], epoch - start

    def lr_at(self, epoch: int) -> list[float]:
        scheduler, own_epoch = self._current(epoch)
        return scheduler.lr_at(own_epoch)

    def _apply(self, epoch: int) -> None:
        scheduler, own_epoch = self._current(epoch)
        scheduler._apply(own_epoch)  # the inner one may drive more than the lr (OneCycleLR)
