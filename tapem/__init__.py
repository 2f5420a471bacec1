"""tapem: differentiable losses written as generator programs over a reverse-mode tape.

A loss is a generator function decorated with :func:`tapem`. It ``yield``\\ s requests
(:class:`Leaf`, :class:`Op`) to an interpreter, which records each on a tape and sends back a
:class:`Handle`. Run it with :func:`run` (a ``Result``) or :func:`value_and_grad`.

>>> import numpy as np
>>> import tapem as tm
>>> from tapem import ops
>>> @tm.tapem
... def loss(w):
...     W = yield from tm.param(w, name="w")
...     y = yield ops.tanh(W)
...     return (yield ops.sum(y))
>>> value, grads = tm.value_and_grad(loss(np.array([0.0, 1.0])))
>>> assert np.allclose(grads["w"], 1 - np.tanh([0.0, 1.0]) ** 2)
"""

from tapem import datasets, distributed, interpreters, ops, optim
from tapem.backward import backward, backward_scalar
from tapem.batching import BatchingWarning, Collated
from tapem.checkpoint import load_checkpoint, load_params, save_checkpoint, save_params
from tapem.checks.gradcheck import GradCheckError, GradCheckReport, check_grads
from tapem.combinators import (
    const,
    fold_m,
    mean_scalar_over,
    mean_scalar_over_array,
    mean_scalar_over_dataset,
    param,
    vmap,
)
from tapem.data import DataLoader, Dataset
from tapem.errors import (
    CheckpointError,
    DomainError,
    EmptyDataset,
    InvalidArgument,
    InvalidNodeId,
    InvalidRequest,
    NonFinite,
    NotAHandle,
    NotScalar,
    ScriptMismatch,
    ShapeMismatch,
    SourceLocation,
    TapeError,
    UnsupportedOperation,
    WorkerLost,
)
from tapem.fit import History, fit
from tapem.handle import Handle
from tapem.ops.opdef import OpDef, ShapeDtype, Variadic
from tapem.optim.early_stopping import EarlyStopping
from tapem.program import Gen, Program, tapem
from tapem.requests import Leaf, Op, Request
from tapem.tape import Node, Tape
from tapem.transforms import (
    Compiled,
    ReplayWarning,
    compile,
    evaluate,
    execute,
    grad,
    hessian,
    hvp,
    jacobian,
    jvp,
    per_sample_grads,
    run,
    value_and_grad,
    value_of,
    vjp,
)

__version__ = "0.1.0"

__all__ = [
    "BatchingWarning",
    "CheckpointError",
    "Collated",
    "Compiled",
    "DataLoader",
    "Dataset",
    "DomainError",
    "EarlyStopping",
    "EmptyDataset",
    "GradCheckError",
    "GradCheckReport",
    "Gen",
    "Handle",
    "History",
    "InvalidArgument",
    "InvalidNodeId",
    "InvalidRequest",
    "Leaf",
    "Node",
    "NonFinite",
    "NotAHandle",
    "NotScalar",
    "Op",
    "OpDef",
    "Program",
    "ReplayWarning",
    "Request",
    "ScriptMismatch",
    "ShapeDtype",
    "ShapeMismatch",
    "SourceLocation",
    "Tape",
    "TapeError",
    "UnsupportedOperation",
    "Variadic",
    "WorkerLost",
    "backward",
    "backward_scalar",
    "check_grads",
    "compile",
    "const",
    "datasets",
    "distributed",
    "evaluate",
    "execute",
    "fit",
    "fold_m",
    "grad",
    "hessian",
    "hvp",
    "interpreters",
    "jacobian",
    "jvp",
    "load_checkpoint",
    "load_params",
    "mean_scalar_over",
    "mean_scalar_over_array",
    "mean_scalar_over_dataset",
    "ops",
    "optim",
    "param",
    "per_sample_grads",
    "run",
    "save_checkpoint",
    "save_params",
    "tapem",
    "value_and_grad",
    "value_of",
    "vjp",
    "vmap",
]
