"""``clip_grad_norm``: scale a gradient dict down to a global norm (PyTorch's semantics)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, TypeVar

import numpy as np

from tapem.arrays import readonly
from tapem.errors import InvalidArgument
from tapem.optim.optimizer import check_range

__all__ = ["clip_grad_norm"]

K = TypeVar("K")


def clip_grad_norm(
    grads: Mapping[K, Any], max_norm: float, norm_type: float = 2.0
) -> tuple[dict[K, Any], float]:
    """``(clipped, total_norm)``: ``grads`` scaled so that their global norm is at most
    ``max_norm``, and that norm before clipping (PyTorch's ``clip_grad_norm_``, without
    writing in place).

    The total norm is the ``norm_type``-norm of all gradients together (of the vector of each
    array's norm; ``float("inf")``: the largest ``|g|``). Every gradient is multiplied by
    ``min(1, max_norm / (total_norm + 1e-6))``; when that is 1 the arrays are returned as they
    are. Entries that are ``None`` stay ``None``. A non-finite norm is returned as it is, and
    scales the gradients to NaN (as in PyTorch): check it if your gradients may overflow.

    >>> import numpy as np
    >>> clipped, norm = clip_grad_norm({"a": np.array([3.0, 0.0]), "b": np.array([[4.0]])}, 1.0)
    >>> assert norm == 5.0
    >>> assert np.allclose(clipped["a"], [3.0 / (5.0 + 1e-6), 0.0])
    >>> same, _ = clip_grad_norm({"a": np.array([0.1])}, 1.0)
    >>> assert same["a"].tolist() == [0.1]
    """
    max_norm = check_range("clip_grad_norm", "max_norm", max_norm, 0.0)
    norm_type = float(norm_type)
    if not norm_type > 0.0:
        raise InvalidArgument(
            f"clip_grad_norm: norm_type must be > 0 (2.0: Euclidean; inf: largest entry), "
            f"got {norm_type!r}"
        )
    arrays = [np.asarray(g) for g in grads.values() if g is not None]
    if math.isinf(norm_type):
        total = max((float(np.max(np.abs(a))) for a in arrays if a.size), default=0.0)
    else:
        norms = [np.linalg.norm(a.ravel(), ord=norm_type) for a in arrays]
        total = float(np.linalg.norm(np.array(norms), ord=norm_type)) if norms else 0.0
    scale = min(1.0, max_norm / (total + 1e-6)) if not math.isnan(total) else math.nan
    if scale == 1.0:
        return dict(grads), total
    clipped: dict[K, Any] = {}
    for key, g in grads.items():
        if g is None:
            clipped[key] = None
            continue
        clipped[key] = readonly(np.asarray(g) * scale)  # immutable, like value_and_grad's
    return clipped, total
