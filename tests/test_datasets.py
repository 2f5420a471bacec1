"""The bundled datasets (shapes, classes, value ranges, provenance) and train_test_split."""

from __future__ import annotations

import hashlib
import re
from importlib.resources import files

import numpy as np
import pytest

import tapem as tm
from tapem.datasets import load_digits, load_iris, train_test_split


def test_iris_shapes_classes_and_values() -> None:
    iris = load_iris()
    assert iris.data.shape == (150, 4) and iris.data.dtype == np.float64
    assert iris.target.shape == (150,) and iris.target.dtype == np.int64
    assert iris.target_names == ("setosa", "versicolor", "virginica")
    assert len(iris.feature_names) == 4
    assert iris.target.tolist() == [0] * 50 + [1] * 50 + [2] * 50
    assert iris.data[0].tolist() == [5.1, 3.5, 1.4, 0.2]
    # Fisher's summary statistics (cm): minima, maxima and means per feature
    assert iris.data.min(axis=0).tolist() == [4.3, 2.0, 1.0, 0.1]
    assert iris.data.max(axis=0).tolist() == [7.9, 4.4, 6.9, 2.5]
    assert np.allclose(iris.data.mean(axis=0), [5.843, 3.057, 3.758, 1.199], atol=1e-3)


def test_digits_shapes_classes_and_values() -> None:
    digits = load_digits()
    assert digits.data.shape == (1797, 64) and digits.data.dtype == np.float64
    assert digits.target.shape == (1797,) and digits.target.dtype == np.int64
    assert digits.target_names == tuple("0123456789")
    assert digits.feature_names[0] == "pixel_0_0" and digits.feature_names[63] == "pixel_7_7"
    assert np.bincount(digits.target).tolist() == [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]
    assert digits.data.min() == 0.0 and digits.data.max() == 16.0
    assert np.array_equal(digits.data, np.round(digits.data))  # integer pixel counts
    images = digits.data.reshape(-1, 8, 8)
    assert digits.target[0] == 0 and images[0, 0].tolist() == [0, 0, 5, 13, 9, 1, 0, 0]


def test_each_load_returns_fresh_writable_arrays() -> None:
    first = load_iris()
    first.data[:] = -1.0
    first.target[:] = 7
    again = load_iris()
    assert again.data.min() == 0.1 and again.target.max() == 2
    assert again.data.flags.writeable


def test_data_files_match_the_documented_checksums() -> None:
    folder = files("tapem.datasets").joinpath("data")
    readme = folder.joinpath("README.md").read_text()
    lines = re.findall(r"^([0-9a-f]{64})  (\S+)$", readme, re.M)
    documented = {name: digest for digest, name in lines}
    assert set(documented) == {"iris.csv", "digits.csv.gz"}
    for name, digest in documented.items():
        assert hashlib.sha256(folder.joinpath(name).read_bytes()).hexdigest() == digest


# ---- train_test_split --------------------------------------------------------------------------


def lcg_perm(seed: int, n: int) -> list[int]:
    keys, s = [], seed
    for _ in range(n):
        s = (1103515245 * s + 12345) % 2**31
        keys.append(s)
    return sorted(range(n), key=lambda i: keys[i])


def test_split_follows_the_lcg_shuffle() -> None:
    x = np.arange(10.0)[:, None] * np.ones((1, 3))
    y = np.arange(10) % 3
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.3, seed=4)
    perm = lcg_perm(4, 10)
    assert x_test[:, 0].tolist() == perm[:3]  # ceil(0.3 * 10) = 3 test rows
    assert x_train[:, 0].tolist() == perm[3:]
    assert y_test.tolist() == [i % 3 for i in perm[:3]]
    assert y_train.tolist() == [i % 3 for i in perm[3:]]


def test_split_is_deterministic_and_leaves_inputs_alone() -> None:
    x, y, *_ = load_iris()
    x_copy, y_copy = x.copy(), y.copy()
    a = train_test_split(x, y, seed=11)
    b = train_test_split(x, y, seed=11)
    c = train_test_split(x, y, seed=12)
    assert all(np.array_equal(u, v) for u, v in zip(a, b, strict=True))
    assert not np.array_equal(a[1], c[1])
    assert np.array_equal(x, x_copy) and np.array_equal(y, y_copy)


def test_stratified_split_keeps_class_proportions() -> None:
    digits = load_digits()
    _, _, y_train, y_test = train_test_split(
        digits.data, digits.target, test_size=0.2, stratify=True, seed=3
    )
    assert len(y_test) == 360  # ceil(0.2 * 1797)
    counts = np.bincount(digits.target)
    test_counts = np.bincount(y_test, minlength=10)
    assert np.all(np.abs(test_counts - counts * 360 / 1797) < 1.0)
    assert np.array_equal(test_counts + np.bincount(y_train, minlength=10), counts)


def test_stratified_split_of_iris() -> None:
    x, y, *_ = load_iris()
    x_train, x_test, _, y_test = train_test_split(x, y, stratify=True)
    # 38 test rows: 12 2/3 per class, the two largest remainders (ties: smaller labels) round up
    assert np.bincount(y_test).tolist() == [13, 13, 12]
    rows = {tuple(r) for r in x_train} | {tuple(r) for r in x_test}
    assert len(x_train) + len(x_test) == 150 and rows == {tuple(r) for r in x}


def test_split_with_a_count() -> None:
    x, y = np.arange(6.0), np.zeros(6, dtype=np.int64)
    x_train, x_test, _, _ = train_test_split(x, y, test_size=2)
    assert len(x_test) == 2 and len(x_train) == 4


@pytest.mark.parametrize("size", [0.0, 1.0, 0, 6, -1, 1.5])
def test_split_sizes_that_leave_a_set_empty(size: float) -> None:
    with pytest.raises(tm.InvalidArgument, match="train_test_split"):
        train_test_split(np.arange(6.0), np.zeros(6), test_size=size)


def test_split_rows_must_agree() -> None:
    with pytest.raises(tm.ShapeMismatch, match="same number of rows"):
        train_test_split(np.zeros((5, 2)), np.zeros(4))
