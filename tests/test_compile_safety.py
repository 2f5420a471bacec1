"""tm.compile hands out nothing that a later call changes, writes to no argument, and keeps a
bounded cache."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from compile_helpers import linear_loss, per_sample, regression, same_result, same_tree

import tapem as tm
from tapem import ops

pytestmark = pytest.mark.filterwarnings("error::tapem.ReplayWarning")  # no bug hides


def test_results_do_not_change_when_the_next_call_runs() -> None:
    c = tm.compile(per_sample)
    first = c.value_and_grad(*regression(0))
    kept = (first[0].copy(), {k: g.copy() for k, g in first[1].items()})
    for seed in (1, 2):
        c.value_and_grad(*regression(seed))
    assert c.replays == 2
    same_result(first, tm.value_and_grad(per_sample(*regression(0))))
    assert first[0].tobytes() == kept[0].tobytes()
    assert all(first[1][k].tobytes() == kept[1][k].tobytes() for k in kept[1])


def test_results_are_read_only_for_good() -> None:
    c = tm.compile(per_sample)
    for seed in (0, 1):
        value, grads = c.value_and_grad(*regression(seed))
        for array in (value, *grads.values()):
            with pytest.raises(ValueError, match="WRITEABLE"):
                array.flags.writeable = True


def test_arguments_are_read_not_copied_nor_written() -> None:
    c = tm.compile(linear_loss)
    rng = np.random.default_rng(0)
    for _ in range(3):
        params = {"W": rng.standard_normal((2, 3)), "b": rng.standard_normal(2)}
        x, y = rng.standard_normal((4, 3)), rng.standard_normal((4, 2))
        before = [a.copy() for a in (params["W"], params["b"], x, y)]
        c.value_and_grad(params, x, y)
        for array, old in zip((params["W"], params["b"], x, y), before, strict=True):
            assert array.flags.writeable and array.tobytes() == old.tobytes()
    assert c.replays == 2
    plan = c.plan(params, x, y)
    assert "copy" not in plan.source and "lv(" not in plan.source  # C-ordered: read in place


@tm.tapem
def identity(w: Any) -> tm.Gen[Any]:
    W = yield from tm.param(w, name="w")
    return W  # the value handed out is the leaf's own: eager's is a copy of w


@tm.tapem
def viewed(x: Any) -> tm.Gen[Any]:
    X = yield from tm.const(x)
    return (yield ops.reshape(X, (-1,)))  # a view of the leaf's array


@pytest.mark.parametrize(("loss", "mode"), [(identity, "value"), (viewed, "value"),
                                            (identity, "value_and_grad")])  # fmt: skip
def test_a_result_that_is_an_argument_array_is_handed_out_as_a_copy(loss: Any, mode: str) -> None:
    c = tm.compile(loss)
    results = []
    for k in range(3):
        array = np.full((2, 2) if loss is viewed else (), float(k))
        got = getattr(c, mode)(array)
        value = got[0] if mode == "value_and_grad" else got
        assert array.flags.writeable  # the caller's array is not made read-only ...
        array += 10  # ... and changing it changes no result
        results.append((value, float(k)))
    assert c.replays == 2
    for value, k in results:
        assert np.all(value == k) and not np.shares_memory(value, np.zeros(1))


def test_immutable_arguments_are_handed_back_as_eager_hands_them() -> None:
    from tapem.arrays import readonly

    c = tm.compile(viewed)
    for k in range(3):
        x = readonly(np.full((2, 2), float(k)))
        same_tree(c.value(x), tm.value_of(viewed(x)))
    assert c.replays == 2


def test_the_cache_keeps_the_most_recently_used_plans() -> None:
    c = tm.compile(linear_loss, cache_size=2)
    sizes = [3, 4, 5]

    def call(n: int) -> None:
        params, x, y = {"W": np.ones((2, 3)), "b": np.ones(2)}, np.ones((n, 3)), np.ones((n, 2))
        same_result(c.value_and_grad(params, x, y), tm.value_and_grad(linear_loss(params, x, y)))

    for n in sizes:
        call(n)
    assert c.traces == 3 and c.cached == 2  # 3 was dropped
    call(5)
    call(4)
    assert (c.traces, c.replays) == (3, 2)
    call(3)  # traced again, dropping 5 (the least recently used)
    call(4)
    assert (c.traces, c.replays, c.cached) == (4, 3, 2)
    call(5)
    assert c.traces == 5


@tm.tapem
def normalized(w: Any, x: Any) -> tm.Gen[tm.Handle]:
    W = yield from tm.param(w, name="w")
    X = yield from tm.const(x / np.abs(x).max())  # x's values are the key
    return (yield ops.sum((yield W * X)))


def test_a_loss_whose_signature_keeps_changing_stops_being_traced() -> None:
    c = tm.compile(normalized)
    rng = np.random.default_rng(0)
    w = np.ones(3)
    xs = [rng.standard_normal(3) for _ in range(20)]
    for x in xs:
        same_result(c.value_and_grad(w, x), tm.value_and_grad(normalized(w, x)))
    assert c.traces == 8 and c.replays == 0 and c.cached == 8  # at most 8 per structure
    for x in xs[:8]:  # the traced ones replay; once replays keep up, tracing resumes
        same_result(c.value_and_grad(w, x), tm.value_and_grad(normalized(w, x)))
    assert (c.traces, c.replays) == (8, 8)
    c.value_and_grad(w, xs[-1])
    assert c.traces == 9


def test_replays_of_values_do_not_keep_gradients_traced() -> None:
    c = tm.compile(normalized)
    rng = np.random.default_rng(1)
    w, fixed = np.ones(3), rng.standard_normal(3)
    for _ in range(20):
        same_tree(c.value(w, fixed), tm.value_of(normalized(w, fixed)))  # evaluation: replays
        x = rng.standard_normal(3)  # training batches that never repeat
        same_result(c.value_and_grad(w, x), tm.value_and_grad(normalized(w, x)))
    assert (c.traces, c.replays) == (1 + 8, 19)
