"""What :func:`~tapem.fit` saves of a training run after each epoch, and how it restores one.

A run's checkpoint is a :func:`~tapem.checkpoint.save_checkpoint` file: the parameters, plus the
state ``{"fit": {"epoch", "history"}, "optimizer", "scheduler", "loader", "early_stopping"}``
(the scheduler and early stopping as ``{"class": name, "state": state_dict}``, the loader's
``state_dict`` if it has one; ``None`` when the run has none). Restoring loads each object's
state, or none at all: on any error every object is left as it was.

>>> import tempfile, os
>>> import numpy as np
>>> from tapem.checkpoint import save_checkpoint
>>> from tapem.optim import SGD
>>> opt = SGD(lr=0.1, momentum=0.9)
>>> params = opt.step({"w": np.zeros(2)}, {"w": np.ones(2)})
>>> records = {"train_loss": [1.5], "eval_loss": [], "metrics": {}, "learning_rate": [0.1]}
>>> with tempfile.TemporaryDirectory() as folder:
...     path = os.path.join(folder, "run.npz")
...     save_checkpoint(path, params, run_state(1, records, opt, None, [], None))
...     resumed = SGD(lr=0.1, momentum=0.9)
...     loaded, epoch, saved = restore_run(path, params, [], resumed, None, [], None)
>>> assert epoch == 1 and saved == records and np.array_equal(loaded["w"], params["w"])
>>> assert resumed.state["w"]["momentum_buffer"].tolist() == [1.0, 1.0]
"""

from __future__ import annotations

import os
from collections.abc import Collection, Mapping
from typing import Any, Protocol

import numpy as np

from tapem.arrays import readonly
from tapem.checkpoint import load_checkpoint
from tapem.errors import CheckpointError, InvalidArgument
from tapem.optim.optimizer import Optimizer

__all__ = ["restore_run", "run_state"]


class Stateful(Protocol):
    def state_dict(self) -> Mapping[str, Any]: ...

    def load_state_dict(self, state: Mapping[str, Any]) -> None: ...


def has_state(obj: object) -> bool:
    """Whether ``obj`` (e.g. a loader) exports and restores its state."""
    return callable(getattr(obj, "state_dict", None)) and callable(
        getattr(obj, "load_state_dict", None)
    )


def _tagged(obj: Stateful | None) -> dict[str, Any] | None:
    return None if obj is None else {"class": type(obj).__name__, "state": obj.state_dict()}


def run_state(
    epoch: int,
    records: Mapping[str, Any],
    optimizer: Optimizer,
    scheduler: Stateful | None,
    loader: object,
    early_stopping: Stateful | None,
) -> dict[str, Any]:
    """The state a checkpoint keeps after ``epoch`` complete epochs with ``records`` (the
    :class:`~tapem.History` lists, a copy the state takes as it is: ``History.records()``)."""
    return {
        "fit": {"epoch": epoch, "history": records},
        "optimizer": optimizer.state_dict(),
        "scheduler": _tagged(scheduler),
        "loader": loader.state_dict() if has_state(loader) else None,  # type: ignore[attr-defined]
        "early_stopping": _tagged(early_stopping),
    }


def restore_run(
    path: str | os.PathLike[str],
    params: Mapping[str, Any],
    metrics: Collection[str],
    optimizer: Optimizer,
    scheduler: Stateful | None,
    loader: object,
    early_stopping: Stateful | None,
) -> tuple[dict[str, np.ndarray], int, dict[str, Any]]:
    """Load the run saved at ``path`` into the given objects; its parameters (frozen arrays),
    number of complete epochs and history records. A file that does not fit the run (other
    parameters, metrics, optimizer, scheduler, loader or early stopping) is a
    :class:`~tapem.CheckpointError` and changes nothing."""
    name = os.fspath(path)
    checkpoint = load_checkpoint(path)
    run = checkpoint.state.get("fit")
    if not isinstance(run, Mapping):
        raise CheckpointError(
            name,
            "holds no training run (it was written by save_params, not fit(checkpoint=...))",
            "pass resume=False to start a new run, or another checkpoint path",
        )
    _check_params(name, checkpoint.params, params)
    epoch, records = _records(name, run)
    if sorted(records["metrics"]) != sorted(metrics):
        raise CheckpointError(
            name,
            f"the run recorded metrics {sorted(records['metrics'])}, this one has "
            f"{sorted(metrics)}",
            "resume with the same metrics, or pass resume=False",
        )
    keys = ("optimizer", "scheduler", "loader", "early_stopping")
    saved = {key: checkpoint.state.get(key) for key in keys}
    stateful: list[Any] = [optimizer, scheduler, loader, early_stopping]
    before = [(obj, obj.state_dict()) for obj in stateful if has_state(obj)]
    try:
        optimizer.load_state_dict(saved["optimizer"] or {})
        _load_tagged(name, "scheduler", scheduler, saved["scheduler"])
        _load_loader(name, loader, saved["loader"])
        _load_tagged(name, "early_stopping", early_stopping, saved["early_stopping"])
    except BaseException as error:
        for obj, state in before:
            obj.load_state_dict(state)
        if isinstance(error, InvalidArgument | KeyError | TypeError | ValueError):
            raise CheckpointError(
                name,
                f"does not fit this run: {error}",
                "resume with the optimizer, scheduler, loader and early stopping the run had, or "
                "pass resume=False",
            ) from error
        raise
    # immutable, like an optimizer's results: recorded without copying
    frozen = {key: readonly(array) for key, array in checkpoint.params.items()}
    return frozen, epoch, records


def _check_params(name: str, saved: Mapping[str, np.ndarray], params: Mapping[str, Any]) -> None:
    if set(saved) != set(params):
        raise CheckpointError(
            name,
            f"holds parameters {sorted(saved)}, but params has {sorted(params)}",
            "resume with the same parameters, or pass resume=False",
        )
    for key, value in params.items():
        array = np.asarray(value)
        if saved[key].shape != array.shape or saved[key].dtype != array.dtype:
            raise CheckpointError(
                name,
                f"holds {key!r} as {saved[key].dtype}{list(saved[key].shape)}, but params has "
                f"{array.dtype}{list(array.shape)}",
                "resume with the same parameters, or pass resume=False",
            )


def _load_tagged(name: str, what: str, obj: Stateful | None, saved: Any) -> None:
    kind = None if obj is None else type(obj).__name__
    saved_kind = saved.get("class") if isinstance(saved, Mapping) else None
    if kind != saved_kind:
        raise CheckpointError(
            name,
            f"the run had {what} {saved_kind}, this one has {kind}",
            f"pass the same {what} (or none) when resuming, or pass resume=False",
        )
    if obj is not None:
        obj.load_state_dict(saved["state"])


def _load_loader(name: str, loader: object, saved: Any) -> None:
    if has_state(loader) != (saved is not None):
        raise CheckpointError(
            name,
            f"the run's loader {'had' if saved is not None else 'had no'} state (epoch and "
            f"seed), this one ({type(loader).__name__}) {'has' if has_state(loader) else 'has no'}",
            "resume with the same kind of loader, or pass resume=False",
        )
    if saved is not None:
        loader.load_state_dict(saved)  # type: ignore[attr-defined]


def _records(name: str, run: Mapping[str, Any]) -> tuple[int, dict[str, Any]]:
    epoch, history = run.get("epoch"), run.get("history")
    if not isinstance(epoch, int) or epoch < 0 or not isinstance(history, Mapping):
        raise CheckpointError(name, "is corrupted: the run has no epoch count or history")
    metrics = history.get("metrics")
    lists: dict[str, Any] = {
        k: history.get(k) for k in ("train_loss", "eval_loss", "learning_rate")
    }
    if not isinstance(metrics, Mapping) or not all(
        map(_numbers, [*lists.values(), *metrics.values()])
    ):
        raise CheckpointError(name, "is corrupted: the history is not lists of numbers")
    records: dict[str, Any] = {key: [float(x) for x in values] for key, values in lists.items()}
    records["metrics"] = {str(k): [float(x) for x in v] for k, v in metrics.items()}
    return epoch, records


def _numbers(values: Any) -> bool:
    return isinstance(values, list) and all(
        isinstance(x, int | float) and not isinstance(x, bool) for x in values
    )
