"""Replaying a traced loss: what :func:`tapem.compile` is made of.

* :mod:`~tapem.replay.proxy`: :class:`ArgArray`, the arguments' arrays while a loss is traced,
  which note how the program uses them;
* :mod:`~tapem.replay.arguments`: a call's signature (what a replay may not change) and slots
  (the arrays it rebinds);
* :mod:`~tapem.replay.recorder`: :class:`Recorder`, the observer that notes which leaves hold
  an argument's array;
* :mod:`~tapem.replay.reverse`: the reverse pass's decisions, taken from the traced run;
* :mod:`~tapem.replay.loops`: the repeats of a tape, rolled into loops;
* :mod:`~tapem.replay.codegen` and :mod:`~tapem.replay.plan`: the Python a replay runs;
  :mod:`~tapem.replay.listing`: what it does, node by node.
"""

from tapem.replay.codegen import Unreplayable
from tapem.replay.plan import Plan, Replayed, Traced, build
from tapem.replay.proxy import ArgArray, Usage
from tapem.replay.recorder import Recorder

__all__ = ["ArgArray", "Plan", "Recorder", "Replayed", "Traced", "Unreplayable", "Usage", "build"]
