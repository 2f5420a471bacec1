"""Data-parallel gradients (``tapem.distributed``) on a real Dask ``LocalCluster`` (two worker
processes, one thread each, started here and shut down after), a ``ProcessPoolExecutor`` and a
``ThreadPoolExecutor``: equal to the single-process result for every kind of batch and shard
count; workers killed mid-step; errors raised on a worker; bad arguments; ``fit``.

Nothing here reaches beyond this machine: the cluster listens on 127.0.0.1.
"""

from __future__ import annotations

import functools
import logging
import multiprocessing
import os
import signal
import subprocess
import sys
import time
from collections import namedtuple
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path

import dask
import numpy as np
import pytest
from dask.distributed import Client, LocalCluster

import tapem as tm
import tapem.distributed
from tapem.optim import SGD

THIS_FILE = Path(__file__).read_text().splitlines()
Pair = namedtuple("Pair", ["x", "y"])


def line_of(marker: str) -> int:
    """The line number of the line in this file that ends with ``# <marker>``."""
    hits = [i for i, line in enumerate(THIS_FILE, start=1) if line.endswith(f"# {marker}")]
    assert len(hits) == 1, marker
    return hits[0]


# --------------------------------------------------------------------------------------------
# the loss: a per-sample MLP, averaged over its shard with the batched per-sample path


def fields(sample):
    return (sample["x"], sample["y"]) if isinstance(sample, dict) else (sample[0], sample[1])


def samples_of(batch):
    """The samples of any kind of batch, as mean_scalar_over takes them."""
    if isinstance(batch, tuple):
        return tm.Collated(tuple(batch))  # a named tuple too
    if isinstance(batch, dict):
        return tm.Collated(batch)
    if isinstance(batch, tm.Dataset):
        return batch.to_list()
    return batch  # a Collated, a list of samples


def mlp_body(params, batch):
    W1 = yield from tm.param(params["W1"], name="W1")
    b1 = yield from tm.param(params["b1"], name="b1")
    W2 = yield from tm.param(params["W2"], name="W2")
    b2 = yield from tm.param(params["b2"], name="b2")

    def per_sample(sample):
        x, y = fields(sample)
        X, Y = (yield from tm.const(x)), (yield from tm.const(y))
        h = yield np.tanh((yield (yield W1 @ X) + b1))
        out = yield (yield W2 @ h) + b2
        return (yield np.mean((yield (yield out - Y) ** 2)))

    return (yield from tm.mean_scalar_over(samples_of(batch), per_sample, batched=True))


@tm.tapem
def mlp_loss(params, batch):
    return (yield from mlp_body(params, batch))


@tm.tapem
def sleepy_loss(directory, params, batch):
    """The MLP loss, after saying which process runs it (a file named by its pid) and sleeping,
    so that a test can kill that process while the step runs."""
    Path(directory, str(os.getpid())).touch()
    time.sleep(1.5)
    return (yield from mlp_body(params, batch))


@tm.tapem
def dying_loss(size, params, batch):
    """The MLP loss, except that a shard of ``size`` samples kills the process that runs it."""
    if len(batch[0]) == size:
        os.kill(os.getpid(), signal.SIGKILL)
    return (yield from mlp_body(params, batch))


@tm.tapem
def failing_loss(params, batch):
    """The MLP loss, except that a shard of 7 samples makes a shape error on a worker."""
    if len(batch[0]) == 7:
        W1 = yield from tm.param(params["W1"], name="W1")
        Z = yield from tm.const(np.zeros((5, 5)))
        yield W1 + Z  # shape error on a worker
    return (yield from mlp_body(params, batch))


def make_params(seed=0):
    rng = np.random.default_rng(seed)
    return {
        "W1": rng.standard_normal((4, 3)),
        "b1": rng.standard_normal(4),
        "W2": rng.standard_normal((2, 4)),
        "b2": rng.standard_normal(2),
    }


def make_data(n=10, seed=1):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, 3)), rng.standard_normal((n, 2))


PARAMS = make_params()
XS, YS = make_data()


def batch_of(kind, xs=XS, ys=YS):
    pairs = list(zip(xs, ys, strict=True))
    return {
        "tuple": (xs, ys),
        "namedtuple": Pair(xs, ys),
        "dict": {"x": xs, "y": ys},
        "Collated": tm.Collated((xs, ys)),
        "Dataset": tm.Dataset.from_list(pairs),
        "list": pairs,
    }[kind]


KINDS = ["tuple", "namedtuple", "dict", "Collated", "Dataset", "list"]
SHARDS = [1, 2, 3, [2, 7, 1]]  # 10 samples in 3 shards: 4, 3, 3; explicit uneven sizes


def assert_same(result, expected, rtol=1e-12):
    (value, grads), (expected_value, expected_grads) = result, expected
    np.testing.assert_allclose(value, expected_value, rtol=rtol, atol=0)
    assert grads.keys() == expected_grads.keys()
    for key in grads:
        np.testing.assert_allclose(grads[key], expected_grads[key], rtol=rtol, atol=0)


REFERENCE = tm.value_and_grad(mlp_loss(PARAMS, (XS, YS)))


# --------------------------------------------------------------------------------------------
# executors: one cluster and one process pool for the module


@pytest.fixture(scope="module")
def client():
    # one worker death is retried; a shard that kills a second worker is given up (WorkerLost)
    with dask.config.set({"distributed.scheduler.allowed-failures": 1}):
        cluster = LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            silence_logs=logging.CRITICAL,
        )
    client = Client(cluster)
    yield client
    client.close()
    cluster.close()


def spawn_pool(workers=2):
    # spawn, not fork: the test process runs the cluster's threads
    return ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))


@pytest.fixture(scope="module")
def pool():
    with spawn_pool() as pool:
        yield pool


@pytest.fixture(scope="module")
def threads():
    with ThreadPoolExecutor(2) as threads:
        yield threads


# --------------------------------------------------------------------------------------------
# equal to the single-process result


@pytest.mark.parametrize("shards", SHARDS, ids=str)
@pytest.mark.parametrize("kind", KINDS)
def test_a_dask_cluster_gives_the_single_process_result(client, kind, shards):
    batch = batch_of(kind)
    result = tapem.distributed.value_and_grad(mlp_loss, PARAMS, batch, client, shards=shards)
    assert_same(result, tm.value_and_grad(mlp_loss(PARAMS, batch)))
    assert_same(result, REFERENCE)


@pytest.mark.parametrize("shards", [1, 2, 3, [2, 7, 1]], ids=str)
@pytest.mark.parametrize("kind", ["tuple", "Dataset"])
def test_a_process_pool_gives_the_single_process_result(pool, kind, shards):
    result = tapem.distributed.value_and_grad(mlp_loss, PARAMS, batch_of(kind), pool, shards=shards)
    assert_same(result, REFERENCE)


@pytest.mark.parametrize("shards", SHARDS, ids=str)
@pytest.mark.parametrize("kind", KINDS)
def test_a_thread_pool_gives_the_single_process_result(threads, kind, shards):
    result = tapem.distributed.value_and_grad(
        mlp_loss, PARAMS, batch_of(kind), threads, shards=shards
    )
    assert_same(result, REFERENCE)


def test_one_shard_is_the_single_process_result_bit_for_bit(client, pool):
    for executor in (client, pool):
        value, grads = tapem.distributed.value_and_grad(
            mlp_loss, PARAMS, (XS, YS), executor, shards=1
        )
        assert value == REFERENCE[0] and value.dtype == np.float64 and value.shape == ()
        assert all(np.array_equal(grads[k], REFERENCE[1][k]) for k in grads)
        assert not value.flags.writeable and not any(g.flags.writeable for g in grads.values())


def test_by_default_each_worker_gets_a_shard_and_never_more_shards_than_samples(client, pool):
    from tapem.distributed.shards import spans

    assert spans(10, None, 3) == [(0, 4), (4, 7), (7, 10)]  # sizes differ by one at most
    assert spans(10, 3, 2) == [(0, 4), (4, 7), (7, 10)]
    assert spans(2, 5, 1) == spans(2, None, 8) == [(0, 1), (1, 2)]
    assert spans(10, [2, 7, 1], 2) == [(0, 2), (2, 9), (9, 10)]
    for executor in (client, pool):
        assert tapem.distributed.DataParallel(mlp_loss, executor)._backend.workers() == 2


@pytest.mark.parametrize("shards", [None, 3, [4, 6]])
def test_the_workers_are_counted_once_and_only_when_the_shards_are_not_given(threads, shards):
    """Counting them is a round trip to a Dask scheduler: only the default needs it."""
    calls = []
    with tapem.distributed.DataParallel(mlp_loss, threads, shards=shards) as parallel:
        workers = parallel._backend.workers
        parallel._backend.workers = lambda: calls.append(1) or workers()
        for _ in range(2):
            assert_same(parallel.value_and_grad(PARAMS, (XS, YS)), REFERENCE)
    assert len(calls) == (1 if shards is None else 0)


def test_a_data_parallel_loss_takes_many_steps(client):
    with tapem.distributed.DataParallel(mlp_loss, client, shards=3) as parallel:
        for seed in range(3):
            params = make_params(seed)
            assert_same(
                parallel.value_and_grad(params, (XS, YS)),
                tm.value_and_grad(mlp_loss(params, (XS, YS))),
            )
        shipped = parallel._backend.loss
        assert shipped is not None and shipped.status == "finished"  # shipped once, kept
    assert parallel._backend.loss is None  # released


def test_nothing_passed_in_is_changed(client):
    params = {k: v.copy() for k, v in PARAMS.items()}
    frozen = params["b2"]
    frozen.flags.writeable = False
    xs, ys = XS.copy(), YS.copy()
    batch = {"x": xs, "y": ys}
    tapem.distributed.value_and_grad(mlp_loss, params, batch, client, shards=2)
    assert list(params) == ["W1", "b1", "W2", "b2"] and params["b2"] is frozen
    assert all(np.array_equal(params[k], PARAMS[k]) for k in PARAMS)
    assert params["W1"].flags.writeable and not frozen.flags.writeable
    assert list(batch) == ["x", "y"] and batch["x"] is xs and xs.flags.writeable
    assert np.array_equal(xs, XS) and np.array_equal(ys, YS)


# --------------------------------------------------------------------------------------------
# errors raised on a worker, and workers that die


@pytest.mark.parametrize("executor", ["client", "pool"])
def test_a_tape_error_on_a_worker_reaches_the_caller_typed_with_the_users_line(executor, request):
    executor = request.getfixturevalue(executor)
    with pytest.raises(tm.ShapeMismatch, match="shape mismatch") as caught:
        tapem.distributed.value_and_grad(failing_loss, PARAMS, (XS, YS), executor, shards=[3, 7])
    error = caught.value
    assert error.location is not None
    assert Path(error.location.file).resolve() == Path(__file__).resolve()
    assert error.location.line == line_of("shape error on a worker")
    assert error.location.function == "failing_loss"
    assert any("shard 1 of 2 (samples 3:10)" in note for note in error.__notes__)


def pid_files(directory: Path, timeout: float = 60.0) -> list[int]:
    """The pids of the processes that started a sleepy loss so far (waits for the first)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pids = [int(p.name) for p in directory.iterdir()]
        if pids:
            return pids
        time.sleep(0.02)
    raise AssertionError("no worker started the step")


def test_a_dask_worker_killed_mid_step_is_retried_and_the_result_is_right(client, tmp_path):
    workers = set(client.run(os.getpid).values())
    loss = functools.partial(sleepy_loss, str(tmp_path))
    with ThreadPoolExecutor(1) as background:
        step = background.submit(
            tapem.distributed.value_and_grad, loss, PARAMS, (XS, YS), client, shards=2
        )
        victim = pid_files(tmp_path)[0]
        assert victim in workers
        os.kill(victim, signal.SIGKILL)
        result = step.result(timeout=120)
    assert_same(result, REFERENCE)
    client.wait_for_workers(2, timeout=60)
    assert victim not in client.run(os.getpid).values()


def test_a_shard_that_dask_gives_up_on_is_a_worker_lost_naming_it(client):
    loss = functools.partial(dying_loss, 7)
    with pytest.raises(tm.WorkerLost, match=r"shard 1 of 2 \(samples 3:10\) was lost") as caught:
        tapem.distributed.value_and_grad(loss, PARAMS, (XS, YS), client, shards=[3, 7])
    assert (caught.value.shard, caught.value.shards, caught.value.samples) == (1, 2, (3, 10))
    assert caught.value.cause == "Dask gave up on it after 2 workers died running it"
    client.wait_for_workers(2, timeout=60)
    assert_same(tapem.distributed.value_and_grad(mlp_loss, PARAMS, (XS, YS), client), REFERENCE)


def test_a_process_pool_worker_killed_mid_step_is_a_worker_lost(tmp_path):
    loss = functools.partial(sleepy_loss, str(tmp_path))
    with spawn_pool() as broken:
        with ThreadPoolExecutor(1) as background:
            step = background.submit(
                tapem.distributed.value_and_grad, loss, PARAMS, (XS, YS), broken, shards=2
            )
            os.kill(pid_files(tmp_path)[0], signal.SIGKILL)
            with pytest.raises(tm.WorkerLost, match="was lost: a worker process died") as caught:
                step.result(timeout=120)
        lost = caught.value  # which shards the pool lost depends on when it noticed the death
        assert lost.shards == 2 and lost.samples == [(0, 5), (5, 10)][lost.shard]
        assert f"shard {lost.shard} of 2 (samples {lost.samples[0]}:{lost.samples[1]})" in str(lost)
        assert lost.cause.startswith("a worker process died (BrokenProcessPool), and the pool")
        assert "make a new one" in str(lost)
        with pytest.raises(tm.InvalidArgument, match="cannot run tasks any more"):
            tapem.distributed.value_and_grad(mlp_loss, PARAMS, (XS, YS), broken)


def test_fit_never_applies_half_a_step_when_a_worker_dies():
    """The second batch's shard of 2 kills its worker: the error keeps the parameters of the
    first step, and the caller's are untouched."""
    batches = [(XS[:6], YS[:6]), (XS[6:], YS[6:])]  # shards of 3 and 3, then of 2 and 2
    after_one = tm.fit(mlp_loss, PARAMS, batches[:1], SGD(lr=0.1), 1, progress=False).params
    loss = functools.partial(dying_loss, 2)
    with spawn_pool() as broken, pytest.raises(tm.WorkerLost) as caught:
        tm.fit(loss, PARAMS, batches, SGD(lr=0.1), 1, progress=False, executor=broken)
    error = caught.value
    assert error.history.epochs == 0
    for key in PARAMS:
        np.testing.assert_allclose(error.params[key], after_one[key], rtol=1e-12, atol=0)
        assert np.array_equal(PARAMS[key], make_params()[key])


# --------------------------------------------------------------------------------------------
# fit


def fit_both_ways(executor, tmp_path, progress=False):
    samples = list(zip(XS, YS, strict=True)) * 4  # 40 samples
    histories = []
    for name, parallel in (("local", None), ("parallel", executor)):
        opt = SGD(lr=0.1, momentum=0.9)
        loader = tm.DataLoader(samples, batch_size=16, shuffle=True, seed=3)
        checkpoint = tmp_path / f"{name}.npz"
        history = tm.fit(mlp_loss, PARAMS, loader, opt, 3, eval_data=[(XS, YS)],
                         progress=progress, checkpoint=checkpoint, executor=parallel)  # fmt: skip
        histories.append(history)
    return histories


@pytest.mark.parametrize("executor", ["client", "pool"])
def test_fit_on_an_executor_has_the_history_of_fit_without(executor, request, tmp_path, capsys):
    local, parallel = fit_both_ways(request.getfixturevalue(executor), tmp_path, progress=True)
    assert parallel.epochs == local.epochs == 3
    np.testing.assert_allclose(parallel.train_loss, local.train_loss, rtol=1e-12, atol=0)
    np.testing.assert_allclose(parallel.eval_loss, local.eval_loss, rtol=1e-12, atol=0)
    assert parallel.learning_rate == local.learning_rate
    for key in PARAMS:
        np.testing.assert_allclose(parallel.params[key], local.params[key], rtol=1e-12, atol=0)
    saved, state = tm.load_checkpoint(tmp_path / "parallel.npz")
    assert all(np.array_equal(saved[k], parallel.params[k]) for k in PARAMS)
    captured = capsys.readouterr()
    assert captured.out.count("epoch 3/3  loss") == 2  # the summary line, both runs
    assert "epoch 3/3" in captured.err  # the progress bar


# --------------------------------------------------------------------------------------------
# bad arguments: typed errors, raised before anything is shipped


def not_a_program(params, batch):
    return 1.0


def plain_generator(params, batch):
    yield from ()


@pytest.mark.parametrize(
    ("arguments", "error", "message"),
    [
        ({"executor": object()}, tm.InvalidArgument, "executor must be a dask"),
        ({"executor": "tcp://127.0.0.1:8786"}, tm.InvalidArgument, r'Client\("tcp://'),
        ({"shards": 0}, tm.InvalidArgument, "shards must be >= 1"),
        ({"shards": True}, tm.InvalidArgument, "shards must be a number"),
        ({"shards": 1.5}, tm.InvalidArgument, "shards must be a number"),
        ({"shards": []}, tm.InvalidArgument, "shards must be a number"),
        ({"shards": [0, 10]}, tm.InvalidArgument, "shards must be a number"),
        ({"shards": [3, 3]}, tm.InvalidArgument, r"add up to 6, the batch has 10"),
        ({"batch": (XS[:0], YS[:0])}, tm.EmptyDataset, "empty dataset"),
        ({"batch": tm.Dataset([])}, tm.EmptyDataset, "empty dataset"),
        ({"batch": (XS, YS[:9])}, tm.InvalidArgument, "the fields have 10, 9 rows"),
        ({"batch": (XS, 3.0)}, tm.InvalidArgument, "float without a length"),
        ({"batch": ()}, tm.InvalidArgument, "no fields"),
        ({"batch": np.array(1.0)}, tm.InvalidArgument, "0-d array"),
        ({"batch": iter([(XS, YS)])}, tm.InvalidArgument, "got list_iterator"),
        ({"params": [PARAMS]}, tm.InvalidArgument, "params must be a dict"),
        ({"loss_fn": mlp_loss(PARAMS, (XS, YS))}, tm.InvalidArgument, "not a program"),
        ({"loss_fn": plain_generator}, tm.InvalidArgument, "decorate it with @tm.tapem"),
        ({"loss_fn": "mlp_loss"}, tm.InvalidArgument, "loss_fn must be a @tm.tapem"),
        ({"loss_fn": not_a_program}, tm.InvalidArgument, "must return a program"),
    ],
    ids=lambda v: (
        "" if not isinstance(v, dict) else next(iter(v)) + "=" + type(v[next(iter(v))]).__name__
    ),
)
def test_bad_arguments_are_typed_errors(threads, arguments, error, message):
    call = {"loss_fn": mlp_loss, "params": PARAMS, "batch": (XS, YS), "executor": threads}
    call.update(arguments)
    with pytest.raises(error, match=message):
        tapem.distributed.value_and_grad(**call)


def test_an_executor_that_was_shut_down_is_an_invalid_argument():
    closed = ThreadPoolExecutor(1)
    closed.shutdown()
    with pytest.raises(tm.InvalidArgument, match="cannot run tasks any more"):
        tapem.distributed.value_and_grad(mlp_loss, PARAMS, (XS, YS), closed)


def test_fit_refuses_an_executor_that_is_none_of_the_two():
    with pytest.raises(tm.InvalidArgument, match="executor must be a dask"):
        tm.fit(mlp_loss, PARAMS, [(XS, YS)], SGD(lr=0.1), 1, executor="cluster")


# --------------------------------------------------------------------------------------------
# without Dask


def test_tapem_imports_no_dask_and_runs_on_a_pool_without_dask_or_cloudpickle():
    script = """
import sys
import tapem, tapem.distributed
assert "dask" not in sys.modules and "distributed" not in sys.modules, "imported dask"
sys.modules.update(dask=None, distributed=None, cloudpickle=None)  # as if not installed
from concurrent.futures import ThreadPoolExecutor
import numpy as np
import tapem as tm

@tm.tapem
def loss(params, xs):
    w = yield from tm.param(params["w"], name="w")
    return (yield tm.ops.mean((yield (yield from tm.const(xs)) * w)))

with ThreadPoolExecutor(2) as pool:
    value, grads = tapem.distributed.value_and_grad(loss, {"w": np.array(2.0)}, np.arange(5.), pool)
assert float(value) == 4.0 and float(grads["w"]) == 2.0
print("ok")
"""
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"
