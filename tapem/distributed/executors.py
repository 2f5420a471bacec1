"""The executors that run the shards: a Dask ``Client`` or a ``concurrent.futures.Executor``,
and what runs on a worker.

Dask is never imported here: a ``Client`` passed in means the caller imported it already."""

from __future__ import annotations

import os
import pickle
import sys
from collections.abc import Callable
from concurrent.futures import (
    FIRST_EXCEPTION,
    BrokenExecutor,
    CancelledError,
    Executor,
    Future,
    wait,
)
from typing import Any

from tapem.distributed.shards import WHO, Grads, Span, where
from tapem.errors import InvalidArgument, WorkerLost
from tapem.program import Program
from tapem.transforms.gradients import value_and_grad

__all__ = ["Backend", "backend_for", "run_pickled_shard", "run_shard"]

Params = dict[str, Any]
LossFn = Callable[[Params, Any], Program[Any]]


def run_shard(loss_fn: LossFn, params: Params, shard: Any, label: str) -> tuple[Any, Grads]:
    """One shard's value and gradients (runs on a worker; errors get a note naming the shard)."""
    try:
        program = loss_fn(params, shard)
        if not isinstance(program, Program):
            raise InvalidArgument(
                f"{WHO}: loss_fn(params, shard) must return a program (decorate the loss with "
                f"@tm.tapem), got {type(program).__name__}"
            )
        return value_and_grad(program)
    except BaseException as error:
        error.add_note(f"{WHO}: raised on {label}, in worker process {os.getpid()}")
        _make_portable(error)
        raise


def _make_portable(error: BaseException) -> None:
    """Let ``error`` travel back pickled: drop the contexts its chain hides anyway (``raise ...
    from None``; tapem's own fast paths leave such contexts, e.g. a ``KeyError`` holding an op);
    if it still does not pickle, drop its chain of causes and contexts, saying so in a note."""
    link: BaseException | None = error
    while link is not None:
        if link.__suppress_context__:
            link.__context__ = None
        link = link.__cause__ or link.__context__
    try:
        pickle.dumps(error)
    except Exception as problem:
        error.__cause__ = error.__context__ = None
        error.add_note(f"{WHO}: its causes stayed on the worker (they do not pickle: {problem})")


def run_pickled_shard(loss: bytes, params: bytes, shard: Any, label: str) -> tuple[Any, Grads]:
    """:func:`run_shard` with the loss and parameters as the bytes pickled once for all."""
    return run_shard(pickle.loads(loss), pickle.loads(params), shard, label)


def backend_for(executor: Any, loss_fn: LossFn) -> Backend:
    distributed = sys.modules.get("distributed")  # a Client means Dask is imported already
    if distributed is not None and isinstance(executor, distributed.Client):
        return Dask(executor, loss_fn)
    if isinstance(executor, Executor):
        return Futures(executor, loss_fn)
    hint = ""
    if isinstance(executor, str) and "://" in executor:
        hint = f' (a scheduler address: pass dask.distributed.Client("{executor}"))'
    raise InvalidArgument(
        f"{WHO}: executor must be a dask.distributed.Client or a concurrent.futures.Executor "
        f"(e.g. ProcessPoolExecutor), got {type(executor).__name__}{hint}"
    )


def keep(obj: Any) -> Any:
    """``obj`` itself: as a Dask task it puts ``obj`` on a worker, whence the others fetch it,
    and the scheduler can make it again if every worker that held it died (scattered data
    cannot be remade)."""
    return obj


class Dask:
    """Shards as tasks of a Dask ``Client``. The loss (once) and each step's parameters go to
    the cluster as tasks of their own (:func:`keep`), which the shards' tasks depend on, and
    each shard's samples travel with its task: whichever workers die, the scheduler can run
    every task again."""

    def __init__(self, client: Any, loss_fn: LossFn) -> None:
        self.client = client
        self.loss_fn = loss_fn
        self.loss: Any = None  # the loss's future, once the first step ships it

    def workers(self) -> int:
        return int(sum(self.client.nthreads().values())) or 1

    def run(self, params: Params, pieces: list[Any], spans: list[Span]) -> list[tuple[Any, Grads]]:
        client = self.client
        if self.loss is None:
            self.loss = client.submit(keep, self.loss_fn, pure=False)
        shipped = client.submit(keep, params, pure=False)
        futures = [
            client.submit(run_shard, self.loss, shipped, piece, where(i, spans), pure=False)
            for i, piece in enumerate(pieces)
        ]
        try:
            return list(client.gather(futures))
        except BaseException as error:
            client.cancel(futures)
            lost = self._lost(error, futures, spans)
            if lost is None:
                raise
            raise lost from error
        finally:
            shipped.release()

    def _lost(
        self, error: BaseException, futures: list[Any], spans: list[Span]
    ) -> WorkerLost | None:
        """The :class:`~tapem.WorkerLost` that ``error`` stands for, if it is one."""
        distributed = sys.modules["distributed"]
        keys = [future.key for future in futures]
        if isinstance(error, distributed.KilledWorker):
            index = keys.index(error.task) if error.task in keys else 0
            deaths = error.allowed_failures + 1
            cause = f"Dask gave up on it after {deaths} workers died running it"
            hint = "if the loss itself kills its worker (memory, a crash in native code), run "
            hint += "it in one process to see why; distributed.scheduler.allowed-failures sets "
            hint += "how many deaths Dask allows"
        elif isinstance(error, CancelledError):
            index = next((i for i, f in enumerate(futures) if f.status != "finished"), 0)
            cause = "Dask cancelled it (its inputs were lost, or the client lost the scheduler)"
            hint = ""
        else:
            return None
        return WorkerLost(index, len(spans), spans[index], cause, hint)

    def close(self) -> None:
        if self.loss is not None:
            self.loss.release()
            self.loss = None


class Futures:
    """Shards as tasks of a ``concurrent.futures`` executor. Such an executor keeps nothing on
    its workers, so the loss (pickled once) and the step's parameters (pickled once per step)
    go with each task as bytes."""

    def __init__(self, executor: Executor, loss_fn: LossFn) -> None:
        self.executor = executor
        self.loss_fn = loss_fn
        self.loss: bytes | None = None

    def workers(self) -> int:
        # ProcessPoolExecutor and ThreadPoolExecutor keep their size here (no public accessor)
        size = getattr(self.executor, "_max_workers", None)
        return size if isinstance(size, int) and size > 0 else (os.cpu_count() or 1)

    def run(self, params: Params, pieces: list[Any], spans: list[Span]) -> list[tuple[Any, Grads]]:
        if self.loss is None:
            self.loss = dumps(self.loss_fn)
        shipped = dumps(params)
        futures: list[Future[tuple[Any, Grads]]] = []
        try:
            for i, piece in enumerate(pieces):
                futures.append(self._submit(self.loss, shipped, piece, where(i, spans)))
            wait(futures, return_when=FIRST_EXCEPTION)
            errors = [f.exception() if f.done() else None for f in futures]
            lost = [i for i, e in enumerate(errors) if isinstance(e, BrokenExecutor)]
            if lost:  # a worker died and broke the pool: every shard not finished is lost
                first = errors[lost[0]]
                unfinished = ", ".join(map(str, lost))
                cause = f"a worker process died ({type(first).__name__}), and the pool with "
                cause += f"it: shard{'s' if len(lost) > 1 else ''} {unfinished} unfinished"
                hint = "a broken pool runs no more tasks: make a new one (a dask.distributed "
                hint += "Client runs a lost shard again on another worker)"
                raise WorkerLost(lost[0], len(spans), spans[lost[0]], cause, hint) from first
            for error in errors:
                if error is not None:
                    raise error
            return [future.result() for future in futures]
        finally:
            for future in futures:
                future.cancel()  # those not started yet, after an error

    def _submit(self, loss: bytes, params: bytes, piece: Any, label: str) -> Future[Any]:
        try:
            return self.executor.submit(run_pickled_shard, loss, params, piece, label)
        except RuntimeError as error:  # shut down, or broken by a worker that died before
            raise InvalidArgument(
                f"{WHO}: the executor cannot run tasks any more ({type(error).__name__}: "
                f"{error}); pass one that is running"
            ) from error

    def close(self) -> None:
        self.loss = None


def dumps(obj: Any) -> bytes:
    """``obj`` pickled with cloudpickle (a function of ``__main__`` by value, as Dask ships
    one), or with the standard pickle where cloudpickle is not installed."""
    try:
        import cloudpickle
    except ImportError:
        return pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    return cloudpickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)  # type: ignore[no-any-return]


Backend = Dask | Futures
