"""clip_grad_norm: PyTorch's global-norm clipping, against norms and scales worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest

import tapem as tm
from tapem.optim import clip_grad_norm


def grads() -> dict[str, np.ndarray]:
    return {"a": np.array([3.0, 0.0]), "b": np.array([[4.0]])}  # global 2-norm: 5


def test_clipping_to_a_global_norm() -> None:
    given = grads()
    clipped, norm = clip_grad_norm(given, max_norm=1.0)
    assert norm == 5.0
    scale = 1.0 / (5.0 + 1e-6)  # max_norm / (total + 1e-6)
    assert np.array_equal(clipped["a"], np.array([3.0, 0.0]) * scale)
    assert np.array_equal(clipped["b"], np.array([[4.0]]) * scale)
    assert np.array_equal(given["a"], [3.0, 0.0])  # the input is not written
    assert not clipped["a"].flags.writeable


def test_below_the_limit_nothing_changes() -> None:
    given = grads()
    clipped, norm = clip_grad_norm(given, max_norm=10.0)
    assert norm == 5.0 and clipped["a"] is given["a"] and clipped["b"] is given["b"]


def test_at_the_limit_the_epsilon_still_scales() -> None:
    clipped, _ = clip_grad_norm(grads(), max_norm=5.0)
    assert np.array_equal(clipped["b"], np.array([[4.0 * 5.0 / (5.0 + 1e-6)]]))


def test_other_norms() -> None:
    given = {"a": np.array([3.0, -4.0]), "b": np.array([1.0]), "none": None}
    clipped, norm = clip_grad_norm(given, max_norm=4.0, norm_type=1.0)
    assert norm == 8.0 and clipped["none"] is None
    assert np.array_equal(clipped["a"], np.array([3.0, -4.0]) * (4.0 / (8.0 + 1e-6)))
    _, largest = clip_grad_norm(given, max_norm=4.0, norm_type=float("inf"))
    assert largest == 4.0
    # p = 3: (27 + 64 + 1) ** (1/3)
    _, cubic = clip_grad_norm(given, max_norm=100.0, norm_type=3.0)
    assert cubic == pytest.approx(92.0 ** (1 / 3), rel=1e-12)


def test_float32_stays_float32_and_empty_is_zero() -> None:
    clipped, norm = clip_grad_norm({"w": np.full(4, 2.0, dtype=np.float32)}, max_norm=1.0)
    assert clipped["w"].dtype == np.float32 and norm == pytest.approx(4.0)
    assert clip_grad_norm({}, max_norm=1.0) == ({}, 0.0)


def test_bad_arguments() -> None:
    with pytest.raises(tm.InvalidArgument, match="max_norm must be in"):
        clip_grad_norm(grads(), max_norm=-1.0)
    with pytest.raises(tm.InvalidArgument, match="norm_type must be > 0"):
        clip_grad_norm(grads(), max_norm=1.0, norm_type=0.0)
