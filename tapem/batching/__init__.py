"""Batched runs of per-sample programs: one run over the whole batch instead of one per sample.

* :mod:`~tapem.batching.collated`: :class:`Collated`, a batch stored field by field;
* :mod:`~tapem.batching.stacked`: :class:`Stacked`, the per-sample data a batched loss receives;
* :mod:`~tapem.batching.levels`: levels (batched runs), per-sample handles, and the requests
  that open and close a level;
* :mod:`~tapem.batching.apply`: :class:`Batching`, the part of the recording path that turns a
  request on per-sample handles into ordinary batched requests, by each op's batching rule.

The user's side is ``tm.vmap``, ``tm.mean_scalar_over(..., batched=True)`` and
``tm.per_sample_grads``.
"""

from tapem.batching.apply import Batching, BatchingWarning
from tapem.batching.collated import Collated
from tapem.batching.levels import Batched, Begin, End, Level
from tapem.batching.stacked import Stacked

__all__ = ["Batched", "Batching", "BatchingWarning", "Begin", "Collated", "End", "Level", "Stacked"]
