"""Small real datasets that ship with tapem, and a deterministic train/test split.

- :func:`load_iris` — Fisher's Iris (150 x 4, 3 classes);
- :func:`load_digits` — UCI handwritten digits (1,797 8 x 8 images, 10 classes);
- :func:`train_test_split` — a seeded split using TorchLean's LCG shuffle.

Sources and licences (CC BY 4.0, UCI Machine Learning Repository) are in
``tapem/datasets/data/README.md``.

>>> import tapem as tm
>>> x, y, *_ = tm.datasets.load_iris()
>>> x_train, x_test, y_train, y_test = tm.datasets.train_test_split(x, y, stratify=True)
>>> x_train.shape, x_test.shape
((112, 4), (38, 4))
>>> loader = tm.DataLoader(tm.Dataset.from_list(zip(x_train, y_train)), batch_size=16)
>>> xb, yb = next(iter(loader))
>>> xb.shape, yb.shape
((16, 4), (16,))
"""

from tapem.datasets.builtin import LabeledData, load_digits, load_iris
from tapem.datasets.split import train_test_split

__all__ = ["LabeledData", "load_digits", "load_iris", "train_test_split"]
