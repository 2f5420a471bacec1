"""Dual numbers for forward-mode derivatives of numpy code (see :mod:`tapem.dual.core`).

:class:`Dual` holds a primal array and a tangent of the same shape. numpy ufuncs, functions,
operators, indexing and in-place writes on duals carry the tangent by the chain rule, following
two tables: :data:`tapem.dual.ufuncs.RULES` and :data:`tapem.dual.functions.FUNCTIONS`.
Anything else raises a ``TypeError`` naming the operation. The VJP rules of tapem's ops are
written to run on duals; that is how :func:`tapem.hvp` differentiates them once more.

>>> import numpy as np
>>> from tapem.dual import Dual
>>> x = Dual(np.array([1.0, 2.0]), np.array([1.0, 0.0]))
>>> y = np.sum(np.exp(x) * x)
>>> assert np.isclose(y.tangent, 2 * np.e)  # d/dx (x e^x) at 1
"""

from tapem.dual.core import Dual, primal_of, tangent_of
from tapem.dual.functions import FUNCTIONS
from tapem.dual.ufuncs import RULES

__all__ = ["FUNCTIONS", "RULES", "Dual", "primal_of", "tangent_of"]
