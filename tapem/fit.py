"""A training loop: ``fit(loss_fn, params, loader, optimizer, epochs)``.

``loss_fn(params, batch)`` returns a loss program that declares each parameter with
``tm.param(params[name], name=name)``; ``fit`` runs it for its value and gradients, steps the
optimizer, and records a :class:`History`. Nothing is lost when training stops: a NaN/Inf is
re-run under the debugging interpreter and raised as a :class:`~tapem.NonFinite` naming the op
and line; any error (that, one from the loader or the loss, Ctrl-C) carries ``error.params``
(the parameters before the failing batch, which the optimizer's state matches) and
``error.history``; ``checkpoint=path`` saves the whole run after every epoch, atomically, and
``resume=True`` continues it exactly.

>>> import numpy as np
>>> import tapem as tm
>>> from tapem import ops
>>> from tapem.optim import SGD
>>> @tm.tapem
... def loss(params, batch):
...     x, y = batch
...     W = yield from tm.param(params["W"], name="W")
...     b = yield from tm.param(params["b"], name="b")
...     X, Y = (yield from tm.const(x)), (yield from tm.const(y))
...     return (yield ops.mse_loss((yield ops.linear(W, b, X)), Y))
>>> xs = np.linspace(-1, 1, 32)[:, None]
>>> data = [(x, 3 * x - 1) for x in xs]
>>> params = {"W": np.zeros((1, 1)), "b": np.zeros(1)}
>>> loader = tm.DataLoader(data, batch_size=8)
>>> history = fit(loss, params, loader, SGD(lr=0.5), epochs=60, progress=False)
>>> assert np.allclose(history.params["W"], [[3.0]], atol=1e-3)
>>> assert history.train_loss[-1] < 1e-6
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable, Mapping, Sized
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple

import numpy as np

from tapem.checkpoint import save_checkpoint
from tapem.data.batch import size
from tapem.distributed import DataParallel
from tapem.errors import EmptyDataset, InvalidArgument, NonFinite, check_int
from tapem.interpreters.debugging import Debugging, is_finite
from tapem.interpreters.eager import Eager
from tapem.optim import clip
from tapem.optim.early_stopping import EarlyStopping
from tapem.optim.lr_scheduler import LRScheduler, ReduceLROnPlateau
from tapem.optim.optimizer import Optimizer
from tapem.program import Program, is_tapem_function
from tapem.run_state import restore_run, run_state
from tapem.transforms.compiled import Compiled
from tapem.transforms.compiled import compile as compile_loss
from tapem.transforms.gradients import value_and_grad, value_of

__all__ = ["History", "fit"]

Params = dict[str, np.ndarray[Any, Any]]
Grads = dict[str | int, Any]
LossFn = Callable[[Params, Any], Program[Any]]
GradFn = Callable[[Params, Any], tuple[Any, Grads]]
ValueFn = Callable[[Params, Any], Any]
Metric = Callable[[Params, Any], float]
Scheduler = LRScheduler | ReduceLROnPlateau


@dataclass
class History:
    """What :func:`fit` recorded, one entry per complete epoch, and the parameters.

    ``train_loss`` is the mean training loss of each epoch (each batch weighted by its number of
    samples); ``eval_loss`` and ``metrics[name]`` are measured on the evaluation data at the end
    of each epoch; ``learning_rate`` is the first parameter group's rate at the start of each
    epoch.
    ``params`` are the trained parameters (with early stopping: the best epoch's; in the
    ``history`` of an error: the last good ones).
    """

    params: Params
    train_loss: list[float] = field(default_factory=list)
    eval_loss: list[float] = field(default_factory=list)
    metrics: dict[str, list[float]] = field(default_factory=dict)
    learning_rate: list[float] = field(default_factory=list)

    @property
    def epochs(self) -> int:
        return len(self.train_loss)

    def records(self) -> dict[str, Any]:
        """The per-epoch lists as a plain dict (what a checkpoint stores)."""
        return {
            "train_loss": list(self.train_loss),
            "eval_loss": list(self.eval_loss),
            "metrics": {name: list(values) for name, values in self.metrics.items()},
            "learning_rate": list(self.learning_rate),
        }

    def plot(self, path: str | os.PathLike[str], *, title: str = "training") -> str:
        """Save the loss (and metric) curves to a PNG at ``path``; returns the path.

        Needs matplotlib (``pip install "tapem[plot]"``).
        """
        try:
            import matplotlib

            matplotlib.use("Agg")
            import matplotlib.pyplot as plt
            from matplotlib.ticker import MaxNLocator
        except ImportError as error:
            raise ImportError('History.plot needs matplotlib: pip install "tapem[plot]"') from error
        panels = 2 if self.metrics else 1
        fig, axes = plt.subplots(1, panels, figsize=(5.5 * panels, 4), squeeze=False)
        epochs = range(1, self.epochs + 1)
        ax = axes[0][0]
        ax.plot(epochs, self.train_loss, label="train loss", marker=".")
        if self.eval_loss:
            ax.plot(epochs, self.eval_loss, label="eval loss", marker=".")
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel("loss")
        ax.set_yscale("log" if min(self.train_loss, default=1.0) > 0 else "linear")
        ax.legend()
        ax.grid(alpha=0.3)
        if self.metrics:
            ax = axes[0][1]
            for name, values in self.metrics.items():
                ax.plot(epochs, values, label=name, marker=".")
            ax.set_xlabel("epoch")
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.set_ylabel("on the evaluation data")
            ax.legend()
            ax.grid(alpha=0.3)
        fig.suptitle(title)
        fig.tight_layout()
        fig.savefig(path, dpi=120)
        plt.close(fig)
        return os.fspath(path)


def fit(
    loss_fn: LossFn,
    params: Mapping[str, Any],
    loader: Iterable[Any],
    optimizer: Optimizer,
    epochs: int,
    *,
    eval_data: Iterable[Any] | None = None,
    metrics: Mapping[str, Metric] | None = None,
    scheduler: Scheduler | None = None,
    scheduler_interval: Literal["epoch", "batch"] = "epoch",
    clip_grad_norm: float | None = None,
    early_stopping: EarlyStopping | None = None,
    checkpoint: str | os.PathLike[str] | None = None,
    resume: bool = False,
    progress: bool | None = None,
    compile: bool = True,
    executor: Any = None,
) -> History:
    """Train ``params`` until ``epochs`` passes over ``loader`` are done; return the
    :class:`History`. The caller's ``params`` dict and arrays are never changed.

    - ``loss_fn(params, batch)`` builds the loss program for one batch; ``loader`` is iterated
      once per epoch (a shuffling :class:`~tapem.DataLoader` shuffles once per epoch);
    - ``optimizer.step(params, grads)`` updates the parameters after every batch, with the
      gradients first scaled to a global norm of at most ``clip_grad_norm`` if it is given
      (:func:`~tapem.optim.clip_grad_norm`);
    - ``eval_data`` (an iterable of batches, e.g. a loader) is scored at the end of each epoch:
      its mean loss, and each ``metrics[name](params, batch)`` (e.g. accuracy);
    - ``scheduler.step()`` runs after each epoch, or after each batch with
      ``scheduler_interval="batch"`` (e.g. :class:`~tapem.optim.OneCycleLR`); a
      :class:`~tapem.optim.ReduceLROnPlateau` gets the eval loss (the training loss without
      ``eval_data``);
    - ``early_stopping`` (an :class:`~tapem.optim.EarlyStopping`, needs ``eval_data``) ends
      training once the eval loss stops improving and returns the best epoch's parameters;
    - ``checkpoint=path`` saves the whole run to that ``.npz`` after each epoch (atomically: an
      interruption leaves the last complete one). With ``resume=True`` a run continues from it
      (if the file exists; else it starts, as Keras' ``BackupAndRestore``): ``epochs`` stays the
      total, so a run saved after epoch 2 and resumed with ``epochs=4`` trains epochs 3 and 4,
      ending with the same parameters, bit for bit, as an uninterrupted run. Build the
      optimizer, scheduler, loader and early stopping as before; their state comes from the file;
    - ``progress`` shows a tqdm bar per epoch and a summary line; ``None`` (the default): only
      when stderr is a terminal;
    - ``compile``: a ``@tm.tapem`` loss is compiled (:func:`tapem.compile`: batches of one
      signature replay a plan traced once), the history the same, bit for bit; ``False``: eager.
    - ``executor`` (a ``dask.distributed.Client`` or a ``concurrent.futures.Executor``) computes
      each batch's value and gradients data-parallel, one shard per worker
      (:mod:`tapem.distributed`: ``loss_fn`` must be a mean over the batch's samples); the
      history is the same up to rounding. Evaluation runs here.

    Errors: an empty ``loader`` or ``eval_data`` is an :class:`~tapem.EmptyDataset`; a loss with
    no gradient for any parameter an :class:`~tapem.InvalidArgument` naming it; a NaN/Inf loss,
    gradient or updated parameter a :class:`~tapem.NonFinite` naming the op; a checkpoint that
    does not fit this run a :class:`~tapem.CheckpointError`. Whatever error stops training is
    raised with ``error.params`` (the last parameters whose loss and gradients were finite; the
    optimizer's state matches them) and ``error.history`` (the complete epochs) added, and a
    note saying so, without changing its type: ``except tm.NonFinite`` or ``except ValueError``
    work as before.
    """
    metrics = dict(metrics or {})
    _check_arguments(
        epochs,
        eval_data,
        metrics,
        scheduler,
        scheduler_interval,
        early_stopping,
        checkpoint,
        resume,
    )
    run = _as_run(loss_fn, compile, executor)
    history = History(params=dict(params), metrics={name: [] for name in metrics})
    done = 0
    objects = (optimizer, scheduler, loader, early_stopping)  # what a checkpoint holds the state of
    if resume and checkpoint is not None and os.path.exists(checkpoint):
        saved, done, records = restore_run(checkpoint, params, list(metrics), *objects)
        history = History(params=saved, **records)
    show = sys.stderr.isatty() if progress is None else bool(progress)
    clipping = None if clip_grad_norm is None else float(clip_grad_norm)
    interval_is_batch = scheduler_interval == "batch"
    per_batch = scheduler if isinstance(scheduler, LRScheduler) and interval_is_batch else None
    epoch = done
    try:
        for epoch in range(done + 1, epochs + 1):
            if early_stopping is not None and early_stopping.stopped:
                break
            lr = optimizer.lr
            when = (epoch, epochs)
            train_loss = _train_epoch(
                run, history, loader, optimizer, when, clipping, per_batch, show
            )
            eval_loss: float | None = None
            scores: dict[str, float] = {}
            if eval_data is not None:
                eval_loss, scores = _evaluate(run, history.params, eval_data, metrics, epoch)
            history.train_loss.append(train_loss)
            history.learning_rate.append(lr)
            if eval_loss is not None:
                history.eval_loss.append(eval_loss)
            for name, score in scores.items():
                history.metrics[name].append(score)
            monitored = train_loss if eval_loss is None else eval_loss
            if isinstance(scheduler, ReduceLROnPlateau):
                scheduler.step(monitored)
            elif scheduler is not None and not interval_is_batch:
                scheduler.step()
            if early_stopping is not None:
                early_stopping.update(epoch, monitored, history.params)
            if checkpoint is not None:
                state = run_state(epoch, history.records(), *objects)
                save_checkpoint(checkpoint, history.params, state)
            if show:
                print(_summary(epoch, epochs, history))
    except BaseException as error:
        setattr(error, "params", history.params)  # noqa: B010 (any exception type)
        setattr(error, "history", history)  # noqa: B010
        error.add_note(
            f"tm.fit stopped in epoch {epoch}: error.params holds the last parameters whose loss "
            "and gradients were finite (the optimizer's state matches them), error.history the "
            f"{history.epochs} complete epochs"
        )
        raise
    finally:
        if run.parallel is not None:
            run.parallel.close()
    if early_stopping is not None and early_stopping.restore_best_params:
        history.params = dict(early_stopping.best_params or history.params)
    return history


class _Run(NamedTuple):
    """How :func:`fit` runs the loss, decided once."""

    loss: LossFn
    """The loss as written: its programs for diagnosing a NaN, its name for errors."""
    grad: GradFn
    """``(params, batch) -> (value, grads)``, for the steps."""
    value: ValueFn
    """``(params, batch) -> value``, for evaluation."""
    parallel: DataParallel | None
    """What computes ``grad`` data-parallel (closed when fit ends), if there is an executor."""


def _as_run(loss_fn: LossFn, compile: bool, executor: Any) -> _Run:
    """``loss_fn`` replayed by a plan (:func:`tapem.compile`) if ``compile`` and it is a
    @tm.tapem function, else run eagerly; its gradients computed on ``executor`` if given."""
    loss = loss_fn.loss if isinstance(loss_fn, Compiled) else loss_fn
    grad: GradFn
    value: ValueFn
    if compile and is_tapem_function(loss):
        compiled = loss_fn if isinstance(loss_fn, Compiled) else compile_loss(loss)
        grad, value = compiled.value_and_grad, compiled.value
    else:

        def grad(params: Params, batch: Any) -> tuple[Any, Grads]:
            return value_and_grad(loss(params, batch))

        def value(params: Params, batch: Any) -> Any:
            return value_of(loss(params, batch))

    if executor is None:
        return _Run(loss, grad, value, None)
    # the workers get the loss as written: each shard runs it eagerly, in its own process
    parallel = DataParallel(loss, executor)  # ships the loss on its first step
    return _Run(loss, parallel.value_and_grad, value, parallel)


def _check_arguments(
    epochs: int,
    eval_data: Iterable[Any] | None,
    metrics: Mapping[str, Metric],
    scheduler: Scheduler | None,
    interval: str,
    early_stopping: EarlyStopping | None,
    checkpoint: str | os.PathLike[str] | None,
    resume: bool,
) -> None:
    check_int("fit", "epochs", epochs, 0)
    if resume and checkpoint is None:
        raise InvalidArgument("fit: resume=True continues a checkpoint; pass checkpoint=path")
    if metrics and eval_data is None:
        raise InvalidArgument("fit: metrics are measured on eval_data; pass eval_data=...")
    if early_stopping is not None and eval_data is None:
        raise InvalidArgument("fit: early stopping watches the eval loss; pass eval_data=...")
    if interval not in ("epoch", "batch"):
        raise InvalidArgument(
            f"fit: scheduler_interval must be 'epoch' or 'batch', got {interval!r}"
        )
    if interval == "batch" and isinstance(scheduler, ReduceLROnPlateau):
        raise InvalidArgument(
            "fit: ReduceLROnPlateau steps once per epoch, on the epoch's loss; leave "
            "scheduler_interval='epoch'"
        )


def _train_epoch(
    run: _Run,
    history: History,
    loader: Iterable[Any],
    optimizer: Optimizer,
    when: tuple[int, int],
    clipping: float | None,
    per_batch: LRScheduler | None,
    show: bool,
) -> float:
    """Train one epoch, keeping ``history.params`` at the last good parameters; the mean loss."""
    from tqdm.auto import tqdm

    epoch, epochs = when
    batches = iter(loader)  # once: a shuffling loader shuffles (and counts an epoch) per iter
    total = len(loader) if isinstance(loader, Sized) else None
    bar = tqdm(total=total, desc=f"epoch {epoch}/{epochs}", leave=False, disable=not show)
    loss_sum, count, step = 0.0, 0, 0
    try:
        for step, batch in enumerate(batches, start=1):
            value = _train_step(run, history, batch, optimizer, (epoch, step), clipping)
            if per_batch is not None:
                per_batch.step()
            n = _batch_size(batch)
            loss_sum += value * n
            count += n
            bar.update(1)
            bar.set_postfix(loss=f"{loss_sum / count:.4g}", refresh=False)
    finally:
        bar.close()
    if step == 0:
        raise _empty("the loader", epoch)
    return loss_sum / max(count, 1)


def _train_step(
    run: _Run,
    history: History,
    batch: Any,
    optimizer: Optimizer,
    where: tuple[int, int],
    clipping: float | None,
) -> float:
    """One optimizer step on ``batch``; ``history.params`` moves only if everything was finite."""
    value, grads = run.grad(history.params, batch)
    epoch, step = where
    if not grads:
        name = getattr(run.loss, "__qualname__", repr(run.loss))
        raise InvalidArgument(
            f"fit: the loss {name} has no gradient for any parameter (epoch {epoch}, batch "
            f"{step}): it declares no tm.param, or depends on none; declare each trainable "
            "array with tm.param(params[name], name=name)"
        )
    if not (is_finite(value) and all(is_finite(g) for g in grads.values())):
        raise _diagnose(run.loss(history.params, batch), epoch, step)
    if clipping is not None:
        grads, _ = clip.clip_grad_norm(grads, clipping)
    before = optimizer.state_dict()
    new = optimizer.step(history.params, grads)
    overflowed = [k for k, v in new.items() if v is not history.params[k] and not is_finite(v)]
    if overflowed:
        optimizer.load_state_dict(before)  # the step never happened
        error = NonFinite(f"{type(optimizer).__name__}.step", -1, "update")
        error.message = (
            f"training stopped at epoch {epoch}, batch {step}: the {type(optimizer).__name__} "
            f"step made {overflowed!r} NaN/Inf from finite gradients; lower the learning rate "
            "or clip the gradients (fit(..., clip_grad_norm=1.0))"
        )
        raise error
    history.params = new
    return float(value)


def _empty(what: str, epoch: int) -> EmptyDataset:
    error = EmptyDataset("fit")
    error.message = (
        f"fit: {what} yielded no batches in epoch {epoch}: empty dataset; pass a non-empty list "
        "or DataLoader (an iterator or generator is used up after one epoch)"
    )
    return error


def _diagnose(program: Program[Any], epoch: int, step: int) -> NonFinite:
    """Re-run ``program`` under the debugging interpreter to name the op that went non-finite."""
    where = f"epoch {epoch}, batch {step}"
    try:
        value_and_grad(program, interpreter=Debugging(Eager()))
    except NonFinite as error:
        error.message = f"training stopped at {where}: {error.message}"
        return error
    return NonFinite("loss", -1, "forward", detail=f"the loss or a gradient at {where}")


def _batch_size(batch: Any) -> int:
    """The number of samples in ``batch`` (:func:`tapem.data.batch.size`: the rows of its
    fields, nested as :func:`~tapem.data.default_collate` builds them, or its length), else 1."""
    try:
        return size(batch, "fit")
    except InvalidArgument:
        return 1


def _evaluate(
    run: _Run,
    params: Params,
    data: Iterable[Any],
    metrics: Mapping[str, Metric],
    epoch: int,
) -> tuple[float, dict[str, float]]:
    totals = dict.fromkeys(metrics, 0.0)
    loss_sum, count, batches = 0.0, 0, 0
    for batch in data:
        n = _batch_size(batch)
        loss_sum += float(run.value(params, batch)) * n
        for name, metric in metrics.items():
            totals[name] += float(metric(params, batch)) * n
        count += n
        batches += 1
    if batches == 0:
        raise _empty("eval_data", epoch)
    count = max(count, 1)
    return loss_sum / count, {name: total / count for name, total in totals.items()}


def _summary(epoch: int, epochs: int, history: History) -> str:
    parts = [f"epoch {epoch}/{epochs}", f"loss {history.train_loss[-1]:.4f}"]
    if history.eval_loss:
        parts.append(f"eval loss {history.eval_loss[-1]:.4f}")
    parts += [f"{name} {values[-1]:.4f}" for name, values in history.metrics.items()]
    return "  ".join(parts)
