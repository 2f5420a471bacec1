"""Datasets and data loading."""

from tapem.data.dataset import Dataset

__all__ = ["Dataset"]
