"""Learning-rate schedules (PyTorch's names, defaults and formulas), acting on every group.

A schedule is a closed-form function of the epoch, :meth:`LRScheduler.lr_at`, giving one rate
per parameter group from each group's ``initial_lr`` (the ``lr`` the optimizer was built with),
plus a counter. Building one sets ``optimizer.param_groups[i]["lr"] = lr_at(0)[i]``; each
:meth:`LRScheduler.step` (call it after the epoch's optimizer steps, as in PyTorch) advances the
counter and sets ``lr_at(last_epoch)``. Every schedule starts from the groups' ``initial_lr``, so
schedules can be chained with :class:`SequentialLR` (e.g. linear warm-up, then cosine).
:class:`ReduceLROnPlateau` instead reacts to a metric: ``step(eval_loss)``.

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

from tapem.optim.lr_scheduler.base import LRScheduler
from tapem.optim.lr_scheduler.cosine import CosineAnnealingLR, CosineAnnealingWarmRestarts
from tapem.optim.lr_scheduler.decay import (
    ConstantLR,
    ExponentialLR,
    LambdaLR,
    LinearLR,
    MultiStepLR,
    PolynomialLR,
    StepLR,
)
from tapem.optim.lr_scheduler.one_cycle import OneCycleLR
from tapem.optim.lr_scheduler.plateau import ReduceLROnPlateau
from tapem.optim.lr_scheduler.sequential import SequentialLR

__all__ = [
    "ConstantLR",
    "CosineAnnealingLR",
    "CosineAnnealingWarmRestarts",
    "ExponentialLR",
    "LRScheduler",
    "LambdaLR",
    "LinearLR",
    "MultiStepLR",
    "OneCycleLR",
    "PolynomialLR",
    "ReduceLROnPlateau",
    "SequentialLR",
    "StepLR",
]
