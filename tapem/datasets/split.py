"""A deterministic train/test split, shuffled with TorchLean's LCG (no random-number state)."""

from __future__ import annotations

import math
import operator

import numpy as np

from tapem.data.dataset import Dataset
from tapem.errors import InvalidArgument, ShapeMismatch

__all__ = ["train_test_split"]


def _test_count(n: int, test_size: float | int) -> int:
    if isinstance(test_size, float):
        if not 0.0 < test_size < 1.0:
            raise InvalidArgument(
                f"train_test_split: a float test_size is a fraction in (0, 1), got {test_size!r}"
            )
        count = math.ceil(test_size * n)
    else:
        count = operator.index(test_size)
    if not 0 < count < n:
        raise InvalidArgument(
            f"train_test_split: test_size={test_size!r} puts {count} of {n} samples in the test "
            "set; both sets need at least one sample"
        )
    return count


def _quotas(labels: np.ndarray, n_test: int) -> dict[object, int]:
    """Test samples per class, proportional to class sizes, summing to ``n_test`` exactly
    (largest remainder; ties go to the smaller label)."""
    classes, counts = np.unique(labels, return_counts=True)
    exact = counts * n_test / len(labels)
    quota = np.floor(exact).astype(np.int64)
    remainder = exact - quota
    order = sorted(range(len(classes)), key=lambda i: -remainder[i])  # stable: label order
    for i in order[: n_test - int(quota.sum())]:
        quota[i] += 1
    return {c.item(): int(q) for c, q in zip(classes, quota, strict=True)}


def train_test_split(
    x: np.ndarray,
    y: np.ndarray,
    *,
    test_size: float | int = 0.25,
    seed: int = 0,
    stratify: bool = False,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(x_train, x_test, y_train, y_test)``: a seeded split of the rows of ``x`` and ``y``.

    The rows are put in the order of :meth:`Dataset.shuffle <tapem.Dataset.shuffle>` with
    ``seed``; the first ``n_test`` of them form the test set and the rest the training set
    (both in shuffled order). ``test_size`` is a fraction of the rows (rounded up) or a count.
    With ``stratify=True`` each class gets its share of the test set (proportional to its size,
    rounded so the total is exact), and the test set takes the first rows of each class in
    shuffled order. The same arguments always give the same split; the inputs are not changed.

    >>> import numpy as np
    >>> x, y = np.arange(20.0).reshape(10, 2), np.array([0, 1] * 5)
    >>> x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.4, stratify=True)
    >>> x_train.shape, x_test.shape, np.bincount(y_test).tolist()
    ((6, 2), (4, 2), [2, 2])
    >>> assert sorted(x_train[:, 0].tolist() + x_test[:, 0].tolist()) == x[:, 0].tolist()
    """
    x, y = np.asarray(x), np.asarray(y)
    if x.ndim == 0 or y.ndim == 0 or len(x) != len(y):
        raise ShapeMismatch(
            "train_test_split", [x.shape, y.shape], "x and y need the same number of rows"
        )
    n = len(x)
    n_test = _test_count(n, test_size)
    order, _ = Dataset.from_list(range(n)).shuffle(seed)
    perm = np.array(order.to_list(), dtype=np.int64)
    if stratify:
        quota = _quotas(y, n_test)
        is_test = np.zeros(n, dtype=bool)
        for position, row in enumerate(perm):
            label = y[row].item()
            if quota[label] > 0:
                quota[label] -= 1
                is_test[position] = True
        test_rows, train_rows = perm[is_test], perm[~is_test]
    else:
        test_rows, train_rows = perm[:n_test], perm[n_test:]
    return x[train_rows], x[test_rows], y[train_rows], y[test_rows]
