"""Transforms: what you do with a program once it is written.

* :mod:`~tapem.transforms.running`: run it (``run``, ``evaluate``, ``execute``);
* :mod:`~tapem.transforms.gradients`: its value and gradients (``value_and_grad``, ``grad``,
  ``value_of``);
* :mod:`~tapem.transforms.higher`: forward mode, VJPs, Hessian-vector products, Hessians and
  Jacobians of a function of handles;
* :mod:`~tapem.transforms.compiled`: ``compile``, a loss that records once per signature and
  replays (its value and gradients, bit for bit).
"""

from tapem.transforms.compiled import Compiled, ReplayWarning, compile
from tapem.transforms.gradients import (
    grad,
    per_sample_grads,
    value_and_grad,
    value_of,
)
from tapem.transforms.higher import hessian, hvp, jacobian, jvp, vjp
from tapem.transforms.running import evaluate, execute, run, run_or_raise

__all__ = [
    "Compiled",
    "ReplayWarning",
    "compile",
    "evaluate",
    "execute",
    "grad",
    "hessian",
    "hvp",
    "jacobian",
    "jvp",
    "per_sample_grads",
    "run",
    "run_or_raise",
    "value_and_grad",
    "value_of",
    "vjp",
]
