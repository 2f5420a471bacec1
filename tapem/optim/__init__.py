"""Optimizers and learning-rate schedules with PyTorch's names, defaults and update formulas.

An optimizer is functional at its surface: ``params = opt.step(params, grads)`` takes a dict of
named arrays and the gradient dict of :func:`~tapem.value_and_grad` and returns a new dict of
new arrays; the optimizer keeps its own per-parameter state (:meth:`Optimizer.state_dict`).
Parameter groups are given as ``torch.optim`` takes them, naming parameters by their keys:
``Adam([{"params": ["W"], "lr": 0.1}, {"params": ["b"]}], lr=0.01)``.

>>> import numpy as np
>>> import tapem as tm
>>> @tm.tapem
... def loss(w):
...     W = yield from tm.param(w, name="w")
...     sq = yield W * W
...     return (yield tm.ops.sum(sq))
>>> opt = tm.optim.Adam(lr=0.1)
>>> params = {"w": np.array([1.0, -2.0])}
>>> for _ in range(100):
...     value, grads = tm.value_and_grad(loss(params["w"]))
...     grads, norm = tm.optim.clip_grad_norm(grads, max_norm=1.0)
...     params = opt.step(params, grads)
>>> assert float(value) < 0.05
"""

from tapem.optim.adadelta import Adadelta
from tapem.optim.adagrad import Adagrad
from tapem.optim.adam import Adam, AdamW
from tapem.optim.clip import clip_grad_norm
from tapem.optim.early_stopping import EarlyStopping
from tapem.optim.lr_scheduler import (
    ConstantLR,
    CosineAnnealingLR,
    CosineAnnealingWarmRestarts,
    ExponentialLR,
    LambdaLR,
    LinearLR,
    LRScheduler,
    MultiStepLR,
    OneCycleLR,
    PolynomialLR,
    ReduceLROnPlateau,
    SequentialLR,
    StepLR,
)
from tapem.optim.optimizer import Optimizer
from tapem.optim.rmsprop import RMSprop
from tapem.optim.sgd import SGD

__all__ = [
    "SGD",
    "Adadelta",
    "Adagrad",
    "Adam",
    "AdamW",
    "ConstantLR",
    "CosineAnnealingLR",
    "CosineAnnealingWarmRestarts",
    "EarlyStopping",
    "ExponentialLR",
    "LRScheduler",
    "LambdaLR",
    "LinearLR",
    "MultiStepLR",
    "OneCycleLR",
    "Optimizer",
    "PolynomialLR",
    "RMSprop",
    "ReduceLROnPlateau",
    "SequentialLR",
    "StepLR",
    "clip_grad_norm",
]
