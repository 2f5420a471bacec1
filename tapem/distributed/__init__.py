"""Data-parallel gradients on an existing engine: a Dask ``Client`` or any
``concurrent.futures.Executor``.

The gradient of a mean loss is a weighted sum of per-shard gradients: split the batch into
shards, run ``tm.value_and_grad(loss_fn(params, shard))`` on a worker per shard, and add the
shards' values and gradients weighted by their share of the samples. Dask distributed
schedules, retries and scales the shards' tasks, from ``LocalCluster`` on a laptop to a cluster
(``Client("tcp://scheduler:8786")``); a ``ProcessPoolExecutor`` runs the same code without
Dask (``pip install "tapem[distributed]"`` installs Dask; this module imports it only when
given a ``Client``).

``loss_fn(params, shard)`` is ``fit``'s loss: a ``@tm.tapem`` function that declares each
``params[name]`` with ``tm.param`` and returns the **mean** loss over the shard's samples
(``tm.mean_scalar_over(..., batched=True)`` runs each shard's samples at once). Only a mean
combines this way; a loss that *sums* over its samples is the caller's to fix (divide by the
shard's size), as the last assert below shows:

>>> import numpy as np
>>> from concurrent.futures import ThreadPoolExecutor
>>> import tapem as tm
>>> import tapem.distributed
>>> @tm.tapem
... def mean_loss(params, batch):
...     W = yield from tm.param(params["W"], name="W")
...     x, y = batch
...     X, Y = (yield from tm.const(x)), (yield from tm.const(y))
...     return (yield np.mean(((yield X @ W) - Y) ** 2))  # the mean over the shard's samples
>>> @tm.tapem
... def summed_loss(params, batch):
...     W = yield from tm.param(params["W"], name="W")
...     x, y = batch
...     X, Y = (yield from tm.const(x)), (yield from tm.const(y))
...     return (yield np.sum(((yield X @ W) - Y) ** 2))  # a sum: not what the shards add up to
>>> xs, ys = np.arange(10.0).reshape(5, 2), np.arange(5.0)[:, None]
>>> params = {"W": np.ones((2, 1))}
>>> with ThreadPoolExecutor(2) as pool:
...     value, grads = tapem.distributed.value_and_grad(mean_loss, params, (xs, ys), pool)
...     summed, _ = tapem.distributed.value_and_grad(summed_loss, params, (xs, ys), pool)
>>> one_value, one_grads = tm.value_and_grad(mean_loss(params, (xs, ys)))
>>> assert np.isclose(value, one_value, rtol=1e-12)
>>> assert np.allclose(grads["W"], one_grads["W"], rtol=1e-12)
>>> assert not np.isclose(summed, tm.value_of(summed_loss(params, (xs, ys))))  # 3/5 S0 + 2/5 S1

What is shipped: the loss once (when :class:`DataParallel` first runs), the parameters once per
step, and each shard's samples with its task. On Dask the loss and the parameters are tasks of
their own that the shards' tasks depend on: each worker fetches one copy, and the scheduler can
make them again if workers die (scattered data could not be). A ``concurrent.futures`` executor
keeps nothing on its workers, so the loss and the step's parameters, each pickled once, go with
every task as bytes. Both are pickled with cloudpickle, as Dask does: a loss defined in a
script's ``__main__`` travels by value, one imported from a module by name, so that module must
be importable on the workers (or registered with ``cloudpickle.register_pickle_by_value``), and
so must tapem. Nothing ships a live generator: a worker calls ``loss_fn`` itself. Without
cloudpickle (no Dask installed) the standard pickle is used.

Faults: a step returns only once every shard is in, so the caller never sees a partial sum and
:func:`tapem.fit` never applies half a step. A shard whose worker dies is run again by Dask on
another worker; when Dask gives up on it, or with a ``ProcessPoolExecutor`` (whose pool breaks
when a worker dies), the step fails with :class:`~tapem.WorkerLost` naming the shard. An error
raised on a worker (a :class:`~tapem.TapeError` with the user's file and line, or any other)
reaches the caller with its own type, and a note naming the shard.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any

from tapem.data.batch import take
from tapem.distributed.executors import backend_for
from tapem.distributed.shards import (
    WHO,
    Grads,
    Shards,
    check_shards,
    combine,
    count,
    spans,
)
from tapem.errors import InvalidArgument
from tapem.program import Program, is_tapem_function

__all__ = ["DataParallel", "value_and_grad"]

Params = dict[str, Any]
LossFn = Callable[[Params, Any], Program[Any]]


def value_and_grad(
    loss_fn: LossFn, params: Mapping[str, Any], batch: Any, executor: Any, *, shards: Shards = None
) -> tuple[Any, Grads]:
    """``tm.value_and_grad(loss_fn(params, batch))``, computed shard by shard on ``executor``.

    - ``loss_fn(params, shard)``: a ``@tm.tapem`` function returning the *mean* loss over the
      samples of ``shard``, declaring each ``params[name]`` with ``tm.param`` (``fit``'s loss);
    - ``batch``: a tuple or dict of arrays whose axis 0 runs over the samples (what a
      ``DataLoader`` collates; nested tuples and dicts too), a :class:`~tapem.Collated`, a
      :class:`~tapem.Dataset`, a list of samples or an array; each shard is the same kind of
      object holding a contiguous run of the samples;
    - ``executor``: a ``dask.distributed.Client`` or a ``concurrent.futures.Executor``;
    - ``shards``: the number of shards (sizes differ by one at most; default: the executor's
      number of worker threads or processes, at most one shard per sample), or their sizes.

    Returns ``(value, grads)`` as :func:`tapem.value_and_grad` does: each shard's value and
    gradients weighted by its share of the samples, equal to the single-process result up to
    the order of summation (bit for bit with one shard). Raises what the loss raised on its
    worker, :class:`~tapem.WorkerLost` for a shard no worker finished, and
    :class:`~tapem.InvalidArgument` or :class:`~tapem.EmptyDataset` for bad arguments. Nothing
    passed in is changed. For many steps, :class:`DataParallel` ships the loss only once.
    """
    with DataParallel(loss_fn, executor, shards=shards) as parallel:
        return parallel.value_and_grad(params, batch)


class DataParallel:
    """A loss bound to an executor, for many data-parallel steps: the loss is shipped to the
    workers once, on the first step, and released by :meth:`close` (or the ``with`` block).

    >>> from concurrent.futures import ThreadPoolExecutor
    >>> import numpy as np
    >>> import tapem as tm
    >>> @tm.tapem
    ... def loss(params, xs):
    ...     w = yield from tm.param(params["w"], name="w")
    ...     return (yield tm.ops.mean((yield (yield from tm.const(xs)) * w)))
    >>> with ThreadPoolExecutor(2) as pool, DataParallel(loss, pool) as parallel:
    ...     steps = [parallel.value_and_grad({"w": np.array(w)}, np.arange(5.0)) for w in (1, 2)]
    >>> [float(value) for value, grads in steps], float(steps[0][1]["w"])
    ([2.0, 4.0], 2.0)
    """

    def __init__(self, loss_fn: LossFn, executor: Any, *, shards: Shards = None) -> None:
        _check_loss(loss_fn)
        check_shards(shards)
        self._backend = backend_for(executor, loss_fn)
        self._shards = shards
        self._workers: int | None = None

    def value_and_grad(self, params: Mapping[str, Any], batch: Any) -> tuple[Any, Grads]:
        """The value and gradients of the loss over ``batch`` at ``params``, as
        :func:`value_and_grad` computes them."""
        if not isinstance(params, Mapping):
            raise InvalidArgument(
                f"{WHO}: params must be a dict of arrays (name -> array), got "
                f"{type(params).__name__}"
            )
        n = count(batch)
        # only the default number of shards (one per worker) needs the workers counted, once:
        # on Dask that is a round trip to the scheduler
        if self._shards is None and self._workers is None:
            self._workers = self._backend.workers()
        runs = spans(n, self._shards, self._workers or 1)
        pieces = [take(batch, start, stop) for start, stop in runs]
        results = self._backend.run(dict(params), pieces, runs)
        return combine(results, runs, n)

    def close(self) -> None:
        """Release what the cluster keeps of the loss (Dask: its task and copies)."""
        self._backend.close()

    def __enter__(self) -> DataParallel:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _check_loss(loss_fn: Any) -> None:
    """Refuse what no worker can build its shard's program with (any other callable may return
    one: a worker that gets something else says so)."""
    if is_tapem_function(loss_fn):
        return
    if isinstance(loss_fn, Program):
        raise InvalidArgument(
            f"{WHO}: pass the loss function itself (loss), not a program (loss(params, batch)):"
            " each worker calls it with its own shard"
        )
    if inspect.isgeneratorfunction(loss_fn):
        raise InvalidArgument(
            f"{WHO}: {loss_fn.__qualname__} is a plain generator function; decorate it with "
            "@tm.tapem so that each worker can build its program from it"
        )
    if not callable(loss_fn):
        raise InvalidArgument(
            f"{WHO}: loss_fn must be a @tm.tapem function of (params, batch), got "
            f"{type(loss_fn).__name__}"
        )
