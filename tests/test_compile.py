"""tm.compile: a replay never answers differently from eager.

Each case calls a compiled loss and the eager ``tm.value_and_grad`` / ``tm.value_of`` on the
same arguments and compares the results bit for bit (tests/compile_helpers.py), and counts the
traces: arrays that reach a leaf unchanged are rebound (no new trace), everything else in the
arguments is part of the signature (a change traces again).
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, NamedTuple

import numpy as np
import pytest
from compile_helpers import linear_loss, per_sample, regression, same_result, same_tree

import tapem as tm
from tapem import ops

pytestmark = pytest.mark.filterwarnings("error::tapem.ReplayWarning")  # no bug hides


def params_data(seed: int, n: int = 5) -> tuple[dict[str, Any], Any, Any]:
    rng = np.random.default_rng(seed)
    params = {"W": rng.standard_normal((2, 3)), "b": rng.standard_normal(2)}
    return params, rng.standard_normal((n, 3)), rng.standard_normal((n, 2))


def check(c: tm.Compiled[Any], *args: Any, **kwargs: Any) -> None:
    """The compiled call's result is the eager one."""
    same_result(c.value_and_grad(*args, **kwargs), tm.value_and_grad(c.loss(*args, **kwargs)))


def test_the_same_arrays_again_are_replayed() -> None:
    c = tm.compile(linear_loss)
    params, x, y = params_data(0)
    for _ in range(3):
        check(c, params, x, y)
    assert (c.traces, c.replays) == (1, 2)


def test_new_arrays_of_the_same_shapes_are_rebound() -> None:
    c = tm.compile(linear_loss)
    for seed in range(4):
        check(c, *params_data(seed))
    assert (c.traces, c.replays) == (1, 3)


def test_an_array_used_through_a_computation_is_part_of_the_signature() -> None:
    @tm.tapem
    def scaled(w: Any, x: Any) -> tm.Gen[tm.Handle]:
        W = yield from tm.param(w, name="w")
        X = yield from tm.const(x / 255)  # x's values make the leaf: they are the key
        return (yield ops.sum((yield W * X)))

    c = tm.compile(scaled)
    w, x = np.ones(3), np.array([255.0, 510.0, 0.0])
    check(c, w, x)
    check(c, w + 1, x.copy())  # equal values: replayed, w rebound
    assert (c.traces, c.replays) == (1, 1)
    check(c, w, x + 1)  # other values: traced again
    check(c, w, x)  # ... and the first plan is still there
    assert (c.traces, c.replays) == (2, 2)


def test_values_read_in_python_are_part_of_the_signature() -> None:
    @tm.tapem
    def branching(w: Any, flag: Any) -> tm.Gen[tm.Handle]:
        W = yield from tm.param(w, name="w")
        y = (yield ops.sin(W)) if flag[0] > 0 else (yield ops.cos(W))
        return (yield ops.sum(y))

    c = tm.compile(branching)
    w = np.array([0.5, 1.5])
    for flag in ([1.0], [-1.0], [2.0], [-1.0]):
        check(c, w, np.array(flag))
    assert c.traces == 3 and c.replays == 1


@pytest.mark.parametrize(
    ("first", "second"),
    [(2.0, 3.0), (0.0, -0.0), (2, 2.0), (True, 1), ("a", "b"), (None, 0)],
)
def test_a_changed_python_value_traces_again(first: Any, second: Any) -> None:
    @tm.tapem
    def shifted(w: Any, c: Any) -> tm.Gen[tm.Handle]:
        W = yield from tm.param(w, name="w")
        shift = 1.0 if c is None or isinstance(c, str) else float(c)
        return (yield ops.sum((yield W * shift)))  # -0.0 gives gradients of -0.0

    c = tm.compile(shifted)
    w = np.array([1.0, -2.0])
    check(c, w, first)
    check(c, w, second)
    check(c, w, first)
    assert (c.traces, c.replays) == (2, 1)


def test_a_changed_structure_traces_again() -> None:
    @tm.tapem
    def total(ws: Any) -> tm.Gen[tm.Handle]:
        leaves = []
        for k, w in enumerate(ws):
            leaves.append((yield from tm.param(w, name=str(k))))
        acc = leaves[0]
        for leaf in leaves[1:]:
            acc = yield acc * leaf
        return (yield ops.sum(acc))

    c = tm.compile(total)
    a, b, d = np.array([1.0, 2.0]), np.array([3.0, 4.0]), np.array([5.0, 6.0])
    for ws in ([a, b], [a, b, d], (a, b), [a, b]):
        check(c, ws)
    assert (c.traces, c.replays) == (3, 1)

    @tm.tapem
    def keyed(params: dict[str, Any]) -> tm.Gen[tm.Handle]:
        leaves = []
        for k, v in params.items():
            leaves.append((yield from tm.param(v, name=k)))
        return (yield ops.sum((yield leaves[0] - leaves[-1])))

    c = tm.compile(keyed)
    for params in ({"a": a, "b": b}, {"b": b, "a": a}, {"a": a, "c": b}, {"a": d, "b": a}):
        check(c, params)
    assert (c.traces, c.replays) == (3, 1)


@pytest.mark.parametrize(
    "change",
    [
        lambda x: x[:, :2],  # another shape
        lambda x: x.astype(np.float32),  # another dtype
        lambda x: np.asfortranarray(x),  # another layout (eager copies it to C order)
        lambda x: np.repeat(x, 2, axis=1)[:, ::2],  # strided
    ],
)
def test_another_shape_dtype_or_layout_traces_again(change: Any) -> None:
    @tm.tapem
    def loss(x: Any) -> tm.Gen[tm.Handle]:
        X = yield from tm.param(x, name="x")
        return (yield ops.sum((yield ops.tanh((yield X @ (yield ops.transpose(X)))))))

    c = tm.compile(loss)
    x = np.random.default_rng(0).standard_normal((4, 3))
    check(c, x)
    check(c, change(x))
    check(c, change(x + 1))  # rebound in the new plan (the same layout)
    assert (c.traces, c.replays) == (2, 1)


def test_a_per_sample_loss_over_zipped_rows_is_rebound_row_by_row() -> None:
    c = tm.compile(per_sample)
    for seed in range(4):
        check(c, *regression(seed, n=12))
    assert (c.traces, c.replays) == (1, 3)
    assert len(c.plan(*regression(0, n=12)).loops) == 1  # the samples: one loop
    check(c, *regression(5, n=13))  # another batch size is another signature
    assert c.traces == 2


def test_rows_elements_and_numpy_scalars_are_rebound() -> None:
    @tm.tapem
    def classify(w: Any, batch: Any) -> tm.Gen[tm.Handle]:
        W = yield from tm.param(w, name="W")

        def one(sample: Any) -> tm.Gen[tm.Handle]:
            x, label = sample
            logits = yield W @ (yield from tm.const(x))
            return (yield ops.cross_entropy(logits, (yield from tm.const(label))))

        samples = list(zip(*batch, strict=True)) if isinstance(batch, tuple) else batch
        return (yield from tm.mean_scalar_over(samples, one))

    rng = np.random.default_rng(1)
    w = rng.standard_normal((3, 4))
    c = tm.compile(classify)
    for _ in range(3):  # zipped in the loss: rows of xs, elements of labels (numpy scalars)
        check(c, w, (rng.standard_normal((6, 4)), rng.integers(0, 3, size=6)))
    for _ in range(3):  # zipped by the caller: rows, and numpy scalars among the arguments
        xs, labels = rng.standard_normal((6, 4)), rng.integers(0, 3, size=6)
        check(c, w, list(zip(xs, labels, strict=True)))
    assert (c.traces, c.replays) == (2, 4)
    xs, labels = rng.standard_normal((12, 4)), rng.integers(0, 3, size=12)
    plan = c.plan(w, list(zip(xs, labels, strict=True)))
    assert len(plan.loops) == 1 and "asarray(A[" in plan.source  # slots that step, scalars


def test_a_batch_given_as_a_list_of_samples_is_rebound_sample_by_sample() -> None:
    @tm.tapem
    def listed(w: Any, b: Any, batch: list[Any]) -> tm.Gen[tm.Handle]:
        return (yield from per_sample(w, b, *zip(*batch, strict=True)))

    c = tm.compile(listed)
    for seed in range(3):
        w, b, xs, ys = regression(seed, n=10)
        check(c, w, b, list(zip(xs, ys, strict=True)))
    assert (c.traces, c.replays) == (1, 2)
    plan = c.plan(w, b, list(zip(xs, ys, strict=True)))
    assert len(plan.loops) == 1 and plan.loops[0].back is not None and "A[2 * j + " in plan.source


def test_a_loss_that_catches_an_error_on_values_runs_eagerly() -> None:
    @tm.tapem
    def guarded(x: Any) -> tm.Gen[tm.Handle]:
        X = yield from tm.param(x, name="x")
        try:
            y = yield ops.log(X)
        except tm.DomainError:  # the tape now depends on x's values
            y = yield ops.sin(X)
        return (yield ops.sum(y))

    c = tm.compile(guarded)
    for x in ([-1.0, 2.0], [1.0, 2.0], [-2.0, 1.0], [1.0, 3.0]):  # traced with the error
        check(c, np.array(x))
    assert (c.traces, c.replays) == (1, 0)
    c = tm.compile(guarded)
    for x in ([1.0, 2.0], [-1.0, 2.0], [1.0, 3.0], [-2.0, 1.0]):  # traced without: a replay
        check(c, np.array(x))  # of a call with the error fails, and eager answers
    assert (c.traces, c.replays) == (1, 1)


@tm.tapem
def batched_scalars(w: Any, xs: Any) -> tm.Gen[tm.Handle]:
    """A batched per-sample loss of elementwise ops only: each sample is a number."""
    W = yield from tm.param(w, name="w")

    def one(x: Any) -> tm.Gen[tm.Handle]:
        d = yield (yield from tm.const(x)) - W
        return (yield ops.tanh((yield d * d)))

    return (yield from tm.mean_scalar_over(xs, one, batched=True))


@tm.tapem
def batched_rows(w: Any, xs: Any) -> tm.Gen[tm.Handle]:
    """A batched per-sample loss of elementwise ops and ops.sum: each sample is a row."""
    W = yield from tm.param(w, name="w")

    def one(x: Any) -> tm.Gen[tm.Handle]:
        d = yield (yield from tm.const(x)) - W
        return (yield ops.sum((yield ops.tanh((yield d * d)))))

    return (yield from tm.mean_scalar_over(xs, one, batched=True))


@pytest.mark.filterwarnings("ignore::tapem.batching.BatchingWarning")  # sum's rule is coming
@pytest.mark.parametrize(("loss", "shape"), [(batched_scalars, ()), (batched_rows, (3,))])
def test_a_batched_program_replays(loss: Any, shape: tuple[int, ...]) -> None:
    c = tm.compile(loss)
    rng = np.random.default_rng(2)
    w = rng.standard_normal(shape)
    for _ in range(3):
        check(c, w, rng.standard_normal((8, *shape)))
    assert (c.traces, c.replays) == (1, 2)


def test_value_is_value_of() -> None:
    @tm.tapem
    def several(params: dict[str, Any], x: Any) -> tm.Gen[Any]:
        W = yield from tm.param(params["W"], name="W")
        X = yield from tm.const(x)
        y = yield ops.linear(W, (yield from tm.param(params["b"])), X)
        return {"y": y, "pair": (y, (yield ops.sum(y))), "x": x, "rows": [x[0]], "n": len(x)}

    c = tm.compile(several)
    for seed in range(3):
        params, x, _ = params_data(seed)
        same_tree(c.value(params, x), tm.value_of(several(params, x)))
    assert (c.traces, c.replays) == (1, 2)
    got = c.value(params, x)
    assert got["x"] is x and np.shares_memory(got["rows"][0], x)  # as value_of hands them


class Pair(NamedTuple):
    loss: Any
    doubled: Any


def test_a_named_tuple_and_an_ordered_dict_of_handles_are_value_ofs_from_the_first_call() -> None:
    """Tuples, lists and dicts of any class hold handles (and arguments) as ``value_of`` sees
    them: the trace's result and the replays' are plain containers of values, as eager's."""

    @tm.tapem
    def named(params: dict[str, Any], x: Any) -> tm.Gen[Any]:
        W = yield from tm.param(params["W"], name="W")
        y = yield ops.linear(W, (yield from tm.param(params["b"])), (yield from tm.const(x)))
        total = yield ops.sum(y)
        return Pair(total, (yield total * 2.0)), OrderedDict(y=y, x=x, rows=Pair(x[0], x[1]))

    c = tm.compile(named)
    for seed in range(3):
        params, x, _ = params_data(seed)
        got, want = c.value(params, x), tm.value_of(named(params, x))
        same_tree(got, want)
        assert got[1]["x"] is x
    assert (c.traces, c.replays) == (1, 2)


def test_keyword_arguments_and_a_plain_function_argument() -> None:
    @tm.tapem
    def loss(w: Any, *, act: Any, x: Any) -> tm.Gen[tm.Handle]:
        W = yield from tm.param(w, name="w")
        X = yield from tm.const(x)
        return (yield ops.sum((yield act((yield W * X)))))

    c = tm.compile(loss)
    w, x = np.array([0.5, -1.0]), np.array([2.0, 3.0])
    check(c, w, act=ops.tanh, x=x)
    check(c, w + 1, act=ops.tanh, x=x - 1)
    check(c, w, act=ops.sin, x=x)  # another function: by identity, traced again
    assert (c.traces, c.replays) == (2, 1)


def test_the_traced_tape_is_the_eager_tape() -> None:
    """The proxies are transparent: the trace records what eager records, op by op."""
    from tapem.replay import Recorder, Usage
    from tapem.replay.arguments import proxied

    args = regression(3)
    proxy_args, _, _ = proxied(args, {}, Usage())
    recorder = Recorder(tm.interpreters.Eager())
    _, traced = tm.run(per_sample(*proxy_args), interpreter=recorder).unwrap()
    _, eager = tm.run(per_sample(*args)).unwrap()
    assert len(traced) == len(eager) and len(recorder.sources) == 2 + 2 * len(args[2])
    for a, b in zip(traced, eager, strict=True):
        assert (a.op, a.name, a.requires_grad, a.parents, a.args) == (
            b.op, b.name, b.requires_grad, b.parents, b.args
        )  # fmt: skip
        assert a.value.dtype == b.value.dtype and a.value.tobytes() == b.value.tobytes()
