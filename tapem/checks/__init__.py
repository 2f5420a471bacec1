"""Checks of derivatives: every op's rules and every program's gradients against finite
differences.

* :mod:`tapem.checks.rules` checks one op's VJP, JVP and shape rule on given inputs;
* :mod:`tapem.checks.second_order` checks an op's VJP rules on dual numbers (HVPs) and finds the
  first op on a tape whose rule disagrees with finite differences;
* :mod:`tapem.checks.gradcheck` is :func:`tapem.check_grads`, the check of a whole program.
"""

from tapem.checks.gradcheck import GradCheckError, GradCheckReport, check_grads
from tapem.checks.rules import RuleCheck, check_jvp, check_shape, check_vjp

__all__ = [
    "GradCheckError",
    "GradCheckReport",
    "RuleCheck",
    "check_grads",
    "check_jvp",
    "check_shape",
    "check_vjp",
]
