"""Datasets and data loading: :class:`Dataset` (immutable, TorchLean's shuffle) and
:class:`DataLoader` (epochs of collated batches)."""

from tapem.data.dataset import Dataset, lcg
from tapem.data.loader import DataLoader, default_collate

__all__ = ["DataLoader", "Dataset", "default_collate", "lcg"]
