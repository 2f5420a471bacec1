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

__all__ = ["paused"]


class paused:  # noqa: N801 - used like a function
    """Disable the cyclic collector for the block, if it is enabled; re-enable it after.

    A class rather than a generator-based context manager: it is entered for every run and
    every reverse pass, and costs a tenth as much."""

    __slots__ = ("_enabled",)

    def __enter__(self) -> None:
        self._enabled = gc.isenabled()  # else already paused (a nested run) or turned off
        if self._enabled:
            gc.disable()

    def __exit__(self, *exc_info: object) -> None:
        if self._enabled:
            gc.enable()
