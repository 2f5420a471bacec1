"""The arguments of a compiled loss: what their signature holds, and how a traced argument's
proxy reads like the array and notes what the program does with it."""

from __future__ import annotations

import copy
import pickle
from collections import namedtuple
from typing import Any

import numpy as np
import pytest
from compile_helpers import same_result
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tapem as tm
from tapem import ops
from tapem.replay import ArgArray, Usage
from tapem.replay.arguments import fetch, proxied, signature
from tapem.replay.proxy import basic_key

pytestmark = pytest.mark.filterwarnings("error::tapem.ReplayWarning")  # no bug hides

Pair = namedtuple("Pair", "x y")


def structures() -> list[Any]:
    a, b = np.arange(3.0), np.ones((2, 2), dtype=np.float32)
    return [
        ((a, b), {}),
        (({"w": a, "nested": [b, (a, 2.0)]}, Pair(a, np.int64(3))), {"k": b}),
        (([np.float32(1.5), np.array("text"), {1, 2}, frozenset({3})], None, "s"), {}),
        ((np.array([object()], dtype=object), np.ma.masked_array([1.0]), 1 + 2j), {}),
    ]


@pytest.mark.parametrize(("args", "kwargs"), structures())
def test_slots_and_proxies_come_in_the_same_order(args: Any, kwargs: Any) -> None:
    _, slots = signature(args, kwargs)
    usage = Usage()
    proxy_args, proxy_kwargs, places = proxied(args, kwargs, usage)
    found: list[ArgArray] = []

    def collect(tree: Any) -> None:
        if type(tree) is ArgArray:
            found.append(tree)
        elif isinstance(tree, (tuple, list)):
            for item in tree:
                collect(item)
        elif isinstance(tree, dict):
            for item in tree.values():
                collect(item)

    collect((proxy_args, proxy_kwargs))
    assert [p.slot for p in found] == list(range(len(slots))) and len(places) == len(slots)
    for proxy, slot in zip(found, slots, strict=True):
        assert np.asarray(slot).tobytes() == proxy.real.tobytes()
        assert fetch(slots, proxy.slot, ()).tobytes() == proxy.real.tobytes()
    assert not usage.computed  # building proxies reads no values


def test_the_signature_holds_structure_values_and_layouts() -> None:
    def key(*args: Any, **kwargs: Any) -> Any:
        return signature(args, kwargs)[0]

    x = np.zeros((2, 3))
    assert key(x) == key(np.ones((2, 3)))
    assert key(x) != key(np.zeros((3, 2))) and key(x) != key(x.astype(np.float32))
    assert key(x) != key(np.asfortranarray(x)) and key(x) != key(np.zeros((2, 6))[:, ::2])
    assert key([x]) != key((x,)) and key([x]) != key([x, x]) and key({"a": x}) != key({"b": x})
    assert key(0.0) != key(-0.0) and key(1) != key(1.0) and key(1) != key(True)
    assert key(x, y=1) != key(x, 1) and key(Pair(x, x)) != key((x, x))
    assert key(np.float64(1.0)) == key(np.float64(2.0)) != key(np.float32(1.0))
    f = np.sin
    assert key(f) == key(f) and key(f) != key(np.cos)
    assert key(slice(1, 2)) == key(slice(1, 2)) != key(slice(1, 3)) != key(slice(1.0, 3))
    assert key(range(3)) == key(range(3)) != key(range(4)) and key(...) == key(...)


def test_a_proxy_reads_like_its_array() -> None:
    usage = Usage()
    real = np.arange(12.0).reshape(3, 4)
    x = ArgArray(real, 0, (), usage)
    assert isinstance(x, np.ndarray) and x.__class__ is np.ndarray and type(x) is ArgArray
    assert (x.shape, x.dtype, x.ndim, x.size, len(x), x.strides) == (
        (3, 4), real.dtype, 2, 12, 3, real.strides
    )  # fmt: skip
    assert np.shape(x) == (3, 4) and np.zeros_like(x).shape == (3, 4)
    rows = list(x)
    assert [r.keys for r in rows] == [((0,),), ((1,),), ((2,),)]
    assert x[1:, ::2][0].keys == ((slice(1, None), slice(None, None, 2)), (0,))
    element = x[np.int64(2), 3]
    assert isinstance(element, float) and element.__class__ is np.float64
    assert element.keys == ((2, 3, Ellipsis),) and element.real.shape == ()
    assert not usage.computed  # nothing above read a value


@pytest.mark.parametrize(
    "use",
    [
        lambda x: x / 255,
        lambda x: np.exp(x),
        lambda x: np.asarray(x),
        lambda x: np.stack([x, x]),
        lambda x: x.sum(),
        lambda x: x.T,
        lambda x: x.astype(np.float32),
        lambda x: float(x[0, 0]),
        lambda x: bool(x[0, 0] > 0),
        lambda x: repr(x),
        lambda x: x[[0, 1]],
        lambda x: x[x > 3],
        lambda x: 2.0 in x,
        lambda x: copy.deepcopy(x),
        lambda x: pickle.loads(pickle.dumps(x)),
    ],
)
def test_reading_values_notes_the_proxy_and_gives_eager_answers(use: Any) -> None:
    usage = Usage()
    real = np.arange(12.0).reshape(3, 4)
    got = use(ArgArray(real, 0, (), usage))
    want = use(real)
    assert usage.computed
    if isinstance(want, np.ndarray):
        assert type(got) is np.ndarray and np.array_equal(got, want) and got.dtype == want.dtype
    else:
        assert got == want


def test_writing_through_a_proxy_writes_the_array_and_notes_it() -> None:
    usage = Usage()
    real = np.zeros(3)
    x = ArgArray(real, 0, (), usage)
    x[1] = 5.0
    y = ArgArray(real, 0, (), usage)
    y += 1
    assert real.tolist() == [1.0, 6.0, 1.0] and len(usage.computed) == 2
    [(_, first), _] = usage.computed.values()
    assert first == np.zeros(3).tobytes()  # the snapshot is from before the write


def test_basic_keys() -> None:
    assert basic_key(1) == (1,) and basic_key((None, ..., slice(1, None))) == (
        None, ..., slice(1, None)
    )  # fmt: skip
    assert basic_key(slice(np.int32(1), np.int64(3))) == (slice(1, 3),)
    assert basic_key(True) is None and basic_key(np.array([0])) is None
    assert basic_key([1, 2]) is None and basic_key((0, [1])) is None


def test_a_parameter_converted_from_ints_is_compared_by_value() -> None:
    @tm.tapem
    def loss(w: Any) -> tm.Gen[tm.Handle]:
        W = yield from tm.param(w, name="w")  # ints become float64: a new array
        return (yield ops.sum((yield W * W)))

    c = tm.compile(loss)
    for w in ([1, 2, 3], [1, 2, 3], [4, 5, 6]):
        array = np.array(w)
        same_result(c.value_and_grad(array), tm.value_and_grad(loss(array)))
    assert (c.traces, c.replays) == (2, 1)


def test_an_argument_array_as_a_static_parameter_is_compared_by_value() -> None:
    @tm.tapem
    def loss(w: Any, c: Any) -> tm.Gen[tm.Handle]:
        W = yield from tm.param(w, name="w")
        return (yield ops.sum((yield ops.scale(W, c))))  # c, a 0-d array, is read

    compiled = tm.compile(loss)
    w = np.ones(2)
    for c in (np.array(2.0), np.array(2.0), np.array(3.0)):
        same_result(compiled.value_and_grad(w, c), tm.value_and_grad(loss(w, c)))
    assert (compiled.traces, compiled.replays) == (2, 1)


def test_an_isinstance_branch_takes_the_eager_path() -> None:
    @tm.tapem
    def loss(x: Any) -> tm.Gen[tm.Handle]:
        X = yield from tm.param(x if isinstance(x, np.ndarray) else np.zeros(2), name="x")
        return (yield ops.sum((yield X * X)))

    c = tm.compile(loss)
    for x in (np.ones(2), np.full(2, 3.0)):
        same_result(c.value_and_grad(x), tm.value_and_grad(loss(x)))
    assert c.replays == 1


def test_containers_without_arrays_are_passed_as_they_are() -> None:
    @tm.tapem
    def logging(w: Any, log: list[Any], options: dict[str, Any]) -> tm.Gen[tm.Handle]:
        log.append(options["scale"])  # a side effect: it happens when the loss is traced
        W = yield from tm.param(w, name="w")
        return (yield ops.sum((yield W * options["scale"])))

    c = tm.compile(logging)
    log: list[Any] = []
    c.value_and_grad(np.ones(2), log, {"scale": 2.0})
    assert log == [2.0]  # the caller's list, as eagerly
    usage = Usage()
    args = (np.ones(2), log, {"scale": 2.0}, [np.ones(1), "x"])
    proxy_args, _, _ = proxied(args, {}, usage)
    assert proxy_args[1] is log and proxy_args[2] is args[2] and proxy_args[3] is not args[3]


KEYS = [0, -1, 1, (0, 1), (slice(None), 0), slice(1, None), slice(None, None, 2), (Ellipsis, 0),
        (None, 0), (1, slice(0, 2)), slice(-2, None), (0, Ellipsis), ()]  # fmt: skip


@tm.tapem
def indexed(w: Any, x: Any, keys: tuple[Any, ...], rows: bool) -> tm.Gen[tm.Handle]:
    """A leaf of ``x`` (or of each of its rows) indexed by ``keys`` in turn."""
    W = yield from tm.param(w, name="w")
    total = yield ops.sum(W)
    for part in list(x) if rows else [x]:
        for key in keys:
            if np.ndim(part) == 0:
                break
            try:
                part = part[key]
            except IndexError:
                break
        s = yield ops.sum((yield (yield from tm.const(part)) * 1.5))
        total = yield total + (yield s * (yield ops.sum((yield W * W))))
    return total


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.sampled_from(KEYS), max_size=3).map(tuple),
    st.booleans(),
    st.sampled_from([(4, 3), (5, 3, 2), (6,), (3, 1)]),
    st.sampled_from(["f8", "f4", "i8"]),
    st.booleans(),
)
def test_views_of_any_basic_index_are_rebound(
    keys: tuple[Any, ...], rows: bool, shape: tuple[int, ...], dtype: str, fortran: bool
) -> None:
    c = tm.compile(indexed)
    rng = np.random.default_rng(0)
    w = np.array([0.5, -1.0])
    for _ in range(3):
        x = (rng.standard_normal(shape) * 5).astype(dtype)
        x = np.asfortranarray(x) if fortran else x
        same_result(
            c.value_and_grad(w, x, keys, rows), tm.value_and_grad(indexed(w, x, keys, rows))
        )
    assert (c.traces, c.replays) == (1, 2)
