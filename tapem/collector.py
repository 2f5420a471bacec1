"""Pausing CPython's cyclic garbage collector while a tape is built or walked.

Tape records are plain tuples that refer to no other node, so building and walking a tape
creates no reference cycles: reference counting frees everything, and the cyclic collector
has nothing to find. It would still run, though: every few hundred allocations it scans the
young objects, and as records pile up it repeats full scans of every object in the process,
which makes long tapes superlinear (a 250,000-node tape spent a fifth of its forward pass in
the collector). So the driver and the reverse pass pause it and restore its previous state
afterwards, also on errors. Cycles that user code creates meanwhile are collected after the
run, by the next collection.

>>> import gc
>>> with paused():
...     assert not gc.isenabled()
>>> gc.isenabled()
True
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["paused"]


@contextmanager
def paused() -> Iterator[None]:
    """Disable the cyclic collector for the block, if it is enabled; re-enable it after."""
    if not gc.isenabled():  # already paused (a nested run) or turned off by the user
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
