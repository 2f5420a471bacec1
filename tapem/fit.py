"""A training loop: ``fit(loss_fn, params, loader, optimizer, epochs)``.

``loss_fn(params, batch)`` returns a loss program that declares each parameter with
``tm.param(params[name], name=name)``; ``fit`` runs it for its value and gradients, steps the
optimizer, and records a :class:`History`. When a loss or gradient turns NaN/Inf it re-runs that
batch under the debugging interpreter and stops with a :class:`~tapem.NonFinite` error that names
the op and the line that produced the first non-finite value.

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
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tapem.checkpoint import save_params
from tapem.errors import InvalidArgument, NonFinite
from tapem.interpreters.debugging import Debugging, is_finite
from tapem.interpreters.eager import Eager
from tapem.optim.lr_scheduler import LRScheduler
from tapem.optim.optimizer import Optimizer
from tapem.program import Program
from tapem.transforms.gradients import value_and_grad, value_of

__all__ = ["History", "fit"]

Params = dict[str, np.ndarray[Any, Any]]
LossFn = Callable[[Params, Any], Program[Any]]
Metric = Callable[[Params, Any], float]


@dataclass
class History:
    """What :func:`fit` recorded, one entry per epoch, and the trained parameters.

    ``train_loss`` is the mean training loss of each epoch (weighted by batch); ``eval_loss``
    and ``metrics[name]`` are measured on the evaluation data at the end of each epoch.
    """

    params: Params
    train_loss: list[float] = field(default_factory=list)
    eval_loss: list[float] = field(default_factory=list)
    metrics: dict[str, list[float]] = field(default_factory=dict)
    learning_rate: list[float] = field(default_factory=list)

    @property
    def epochs(self) -> int:
        return len(self.train_loss)

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
    """The number of samples in ``batch``: the length of its first field (a tuple's first item,
    a dict's first value, as :func:`~tapem.data.default_collate` builds them), else of the batch
    itself (``collate=list``), else 1."""
    if isinstance(batch, Mapping):
        first = next(iter(batch.values()), batch)
    elif isinstance(batch, tuple):
        first = batch[0]
    else:
        first = batch
    try:
        return len(first)
    except TypeError:
        return 1


def _evaluate(
    loss_fn: LossFn, params: Params, data: Iterable[Any], metrics: Mapping[str, Metric]
) -> tuple[float, dict[str, float]]:
    totals = dict.fromkeys(metrics, 0.0)
    loss_sum, count = 0.0, 0
    for batch in data:
        n = _batch_size(batch)
        loss_sum += float(value_of(loss_fn(params, batch))) * n
        for name, metric in metrics.items():
            totals[name] += float(metric(params, batch)) * n
        count += n
    count = max(count, 1)
    return loss_sum / count, {name: total / count for name, total in totals.items()}


def fit(
    loss_fn: LossFn,
    params: Mapping[str, Any],
    loader: Iterable[Any],
    optimizer: Optimizer,
    epochs: int,
    *,
    eval_data: Iterable[Any] | None = None,
    metrics: Mapping[str, Metric] | None = None,
    scheduler: LRScheduler | None = None,
    checkpoint: str | os.PathLike[str] | None = None,
    progress: bool = True,
) -> History:
    """Train ``params`` for ``epochs`` passes over ``loader``; return the :class:`History`.

    - ``loss_fn(params, batch)`` builds the loss program for one batch;
    - ``optimizer.step(params, grads)`` updates the parameters after every batch;
    - ``eval_data`` (an iterable of batches, e.g. a loader) is scored at the end of each epoch:
      its mean loss, and each ``metrics[name](params, batch)`` (e.g. accuracy);
    - ``scheduler.step()`` runs after each epoch; ``checkpoint`` saves parameters and optimizer
      state to that ``.npz`` path after each epoch;
    - ``progress`` shows a tqdm bar per epoch with the running loss.

    A NaN/Inf loss or gradient stops training with :class:`~tapem.NonFinite`, naming the op.
    """
    from tqdm.auto import tqdm

    metrics = dict(metrics or {})
    if metrics and eval_data is None:
        raise InvalidArgument("fit: metrics are measured on eval_data; pass eval_data=...")
    current: Params = dict(params)
    history = History(params=current, metrics={name: [] for name in metrics})
    for epoch in range(1, epochs + 1):
        bar = tqdm(loader, desc=f"epoch {epoch}/{epochs}", leave=False, disable=not progress)
        loss_sum, count = 0.0, 0
        for step, batch in enumerate(bar, start=1):
            program = loss_fn(current, batch)
            value, grads = value_and_grad(program)
            if not (is_finite(value) and all(is_finite(g) for g in grads.values())):
                bar.close()
                raise _diagnose(program, epoch, step)
            current = optimizer.step(current, grads)
            n = _batch_size(batch)
            loss_sum += float(value) * n
            count += n
            bar.set_postfix(loss=f"{loss_sum / count:.4g}", refresh=False)
        bar.close()
        history.train_loss.append(loss_sum / max(count, 1))
        history.learning_rate.append(optimizer.lr)
        if eval_data is not None:
            eval_loss, scores = _evaluate(loss_fn, current, eval_data, metrics)
            history.eval_loss.append(eval_loss)
            for name, score in scores.items():
                history.metrics[name].append(score)
        if scheduler is not None:
            scheduler.step()
        if checkpoint is not None:
            save_params(checkpoint, current, optimizer=optimizer)
        if progress:
            print(_summary(epoch, epochs, history))
    history.params = current
    return history


def _summary(epoch: int, epochs: int, history: History) -> str:
    parts = [f"epoch {epoch}/{epochs}", f"loss {history.train_loss[-1]:.4f}"]
    if history.eval_loss:
        parts.append(f"eval loss {history.eval_loss[-1]:.4f}")
    parts += [f"{name} {values[-1]:.4f}" for name, values in history.metrics.items()]
    return "  ".join(parts)
