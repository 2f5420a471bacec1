"""The two datasets that ship with tapem: Fisher's Iris and the UCI handwritten digits.

The files live in ``tapem/datasets/data/`` (see the README there for their sources, licences
(CC BY 4.0, via the UCI Machine Learning Repository) and checksums). Each loader reads its file
afresh and returns new, writable arrays: features as ``float64``, labels as ``int64``.

- :func:`load_iris`: 150 samples x 4 measurements (cm), 3 classes of 50 (R. A. Fisher, 1936).
- :func:`load_digits`: 1,797 8 x 8 images flattened to 64 features (integer pixel counts
  0..16), 10 classes (E. Alpaydin and C. Kaynak, UCI, 1998).
"""

from __future__ import annotations

import gzip
import io
from importlib.resources import files
from typing import NamedTuple

import numpy as np

__all__ = ["LabeledData", "load_digits", "load_iris"]


class LabeledData(NamedTuple):
    """A labelled dataset: ``data[i]`` is sample ``i``'s features, ``target[i]`` its class.

    ``feature_names`` name the columns of ``data``; ``target_names[k]`` names class ``k``.
    Unpack it (``x, y, *_ = load_iris()``) or use the fields.
    """

    data: np.ndarray
    target: np.ndarray
    feature_names: tuple[str, ...]
    target_names: tuple[str, ...]


def _read(name: str) -> bytes:
    return files("tapem.datasets").joinpath("data", name).read_bytes()


def _table(text: str, name: str, rows: int, columns: int) -> np.ndarray:
    table = np.loadtxt(io.StringIO(text), delimiter=",", dtype=np.float64, ndmin=2)
    if table.shape != (rows, columns):
        raise RuntimeError(
            f"tapem/datasets/data/{name} has shape {table.shape}, expected {(rows, columns)}; "
            "the installed file is damaged: reinstall tapem"
        )
    return table


def load_iris() -> LabeledData:
    """Fisher's Iris: ``data`` float64 ``[150, 4]`` (cm), ``target`` int64 ``[150]`` in {0, 1, 2}.

    Classes: setosa, versicolor, virginica (50 each, in that order in the file).

    >>> iris = load_iris()
    >>> assert iris.data.shape == (150, 4) and iris.data.dtype == np.float64
    >>> assert np.bincount(iris.target).tolist() == [50, 50, 50]
    >>> iris.target_names
    ('setosa', 'versicolor', 'virginica')
    """
    header, _, body = _read("iris.csv").decode("ascii").partition("\n")
    n, n_features, *classes = header.strip().split(",")
    table = _table(body, "iris.csv", int(n), int(n_features) + 1)
    return LabeledData(
        data=table[:, :-1].copy(),
        target=table[:, -1].astype(np.int64),
        feature_names=(
            "sepal length (cm)",
            "sepal width (cm)",
            "petal length (cm)",
            "petal width (cm)",
        ),
        target_names=tuple(classes),
    )


def load_digits() -> LabeledData:
    """UCI handwritten digits: ``data`` float64 ``[1797, 64]``, ``target`` int64 ``[1797]`` (0-9).

    Row ``i`` of ``data`` is an 8 x 8 image in row-major order with integer pixel values 0..16;
    ``data.reshape(-1, 8, 8)`` gives the images. ``feature_names`` are ``"pixel_<row>_<col>"``.

    >>> digits = load_digits()
    >>> assert digits.data.shape == (1797, 64) and digits.target.dtype == np.int64
    >>> assert digits.data.min() == 0.0 and digits.data.max() == 16.0
    >>> digits.target_names[:3]
    ('0', '1', '2')
    """
    text = gzip.decompress(_read("digits.csv.gz")).decode("ascii")
    table = _table(text, "digits.csv.gz", 1797, 65)
    return LabeledData(
        data=table[:, :-1].copy(),
        target=table[:, -1].astype(np.int64),
        feature_names=tuple(f"pixel_{r}_{c}" for r in range(8) for c in range(8)),
        target_names=tuple(str(d) for d in range(10)),
    )
