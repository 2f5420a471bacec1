"""tm.compile over random programs built from the op table (random_programs.py), repeated so
that the plans roll loops: every replay equals eager, bit for bit.

A program's leaves come from its arguments (rebound at each call); each of its steps is
repeated ``repeats`` times, the last node of one repetition carried into the next when its
shape fits, and every failing request (one in five is broken on purpose) fails again in each
repetition, so the tape repeats with every kind of op, broadcasting, unbroadcasting cotangent,
fresh constant and parameter leaves inside the repeats.
"""

from __future__ import annotations

import re
import warnings
from typing import Any

import numpy as np
import pytest
from compile_helpers import same_result, same_tree
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from random_programs import LeafSpec, Spec, Step, request, specs

import tapem as tm
from tapem import ops
from tapem.interpreters import Debugging, Eager

pytestmark = pytest.mark.filterwarnings("error::tapem.ReplayWarning")  # no bug hides

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@tm.tapem
def looped(spec: Spec, arrays: list[Any], repeats: int) -> tm.Gen[tm.Handle]:
    base = []
    for leaf, array in zip(spec.leaves, arrays, strict=True):
        base.append((yield from (tm.param if leaf.requires_grad else tm.const)(array)))
    carried = base[-1]
    nodes = base
    for _ in range(repeats):
        nodes = [*base, carried]
        for step in spec.steps:
            a, b = (nodes[i % len(nodes)] for i in step.inputs)
            op, *operands, params = yield from request(step, a, b)
            try:
                nodes.append((yield ops.TABLE[op](*operands, **params)))
            except tm.TapeError:
                continue
        if nodes[-1].shape == carried.shape and nodes[-1].dtype == carried.dtype:
            carried = nodes[-1]
    return (yield ops.sum(nodes[-1]))


def arrays_for(spec: Spec, seed: int) -> list[Any]:
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(leaf.shape).astype(leaf.dtype) for leaf in spec.leaves]


def eager(spec: Spec, arrays: list[Any], repeats: int, interpreter: Any = None) -> Any:
    try:
        return tm.value_and_grad(looped(spec, arrays, repeats), interpreter=interpreter)
    except tm.TapeError as error:
        return error


def compiled(c: tm.Compiled[Any], spec: Spec, arrays: list[Any], repeats: int) -> Any:
    try:
        return c.value_and_grad(spec, arrays, repeats)
    except tm.TapeError as error:
        return error


def same(got: Any, want: Any) -> None:
    if isinstance(want, Exception):
        assert type(got) is type(want) and str(got) == str(want)
    elif isinstance(want, dict):
        same_tree(got, want)
    else:
        same_result(got, want)


@SETTINGS
@given(specs(max_steps=8), st.integers(1, 10))
def test_a_replay_of_a_random_program_is_eager(spec: Spec, repeats: int) -> None:
    c = tm.compile(looped)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for seed in range(3):
            arrays = arrays_for(spec, seed)
            same(compiled(c, spec, arrays, repeats), eager(spec, arrays, repeats))
    assert c.traces <= 1 and c.replays == 2 * c.traces


@SETTINGS
@given(specs(max_steps=6), st.integers(4, 7))
def test_a_replay_under_debugging_is_eager_under_debugging(spec: Spec, repeats: int) -> None:
    c = tm.compile(looped, interpreter=Debugging(Eager()))
    with np.errstate(all="ignore"):
        for seed in range(2):
            arrays = arrays_for(spec, seed)
            got = compiled(c, spec, arrays, repeats)
            want = eager(spec, arrays, repeats, interpreter=Debugging(Eager()))
            same(got, want)
            if isinstance(want, tm.NonFinite):
                assert got.location == want.location and got.node_id == want.node_id


@tm.tapem
def several(spec: Spec, arrays: list[Any], repeats: int) -> tm.Gen[Any]:
    last = yield from looped(spec, arrays, repeats)
    return {"loss": last, "both": (last, (yield last * 2.0))}


@SETTINGS
@given(specs(max_steps=6), st.integers(1, 5))
def test_a_value_replay_of_a_random_program_is_value_of(spec: Spec, repeats: int) -> None:
    c = tm.compile(several)
    with np.errstate(all="ignore"):
        for seed in range(2):
            arrays = arrays_for(spec, seed)
            same(value(c, spec, arrays, repeats), value(None, spec, arrays, repeats))


def value(c: tm.Compiled[Any] | None, spec: Spec, arrays: list[Any], repeats: int) -> Any:
    """``c.value`` (``value_of`` for ``None``), or the error it raises."""
    try:
        if c is None:
            return tm.value_of(several(spec, arrays, repeats))
        return c.value(spec, arrays, repeats)
    except tm.TapeError as error:
        return error


def test_long_repeats_roll_into_loops_both_ways() -> None:
    leaves = (LeafSpec((3,), "f8", True, 1), LeafSpec((3,), "f8", False, 2))
    steps = (Step("mul", (0, 2), 0, False), Step("tanh", (3, 0), 1, False),
             Step("add", (1, 4), 2, False))  # fmt: skip
    spec = Spec(leaves, steps)  # x <- c + tanh(w * x), 50 times
    c = tm.compile(looped)
    for seed in range(3):
        arrays = arrays_for(spec, seed)
        same(c.value_and_grad(spec, arrays, 50), eager(spec, arrays, 50))
    plan = c.plan(spec, arrays_for(spec, 0), 50)
    assert len(plan.loops) == 1 and plan.loops[0].back is not None
    assert plan.loops[0].repeats >= 45 and plan.source.count("\n") < 120


@SETTINGS
@given(specs(max_steps=8), st.integers(1, 5))
def test_a_traced_program_records_the_eager_tape(spec: Spec, repeats: int) -> None:
    """Proxies are transparent: the trace's requests, and so its tape, are eager's."""
    from tapem.replay import Recorder, Usage
    from tapem.replay.arguments import proxied

    arrays = arrays_for(spec, 0)
    proxy_args, _, _ = proxied((spec, arrays, repeats), {}, Usage())
    with np.errstate(all="ignore"):
        _, traced = tm.run(looped(*proxy_args), interpreter=Recorder(Eager())).unwrap()
        _, eager = tm.run(looped(spec, arrays, repeats)).unwrap()
    assert len(traced) == len(eager)
    for a, b in zip(traced, eager, strict=True):
        assert (a.op, a.name, a.requires_grad, a.parents, a.args) == (
            b.op, b.name, b.requires_grad, b.parents, b.args
        )  # fmt: skip
        assert a.value.dtype == b.value.dtype and a.value.tobytes() == b.value.tobytes()


@tm.tapem
def joined(ws: list[Any], xs: list[Any], repeats: int) -> tm.Gen[tm.Handle]:
    """``concat`` and ``stack`` of many inputs (params, constants, one handle twice), alone and
    repeated in a loop."""
    parts = []
    for w, x in zip(ws, xs, strict=True):
        parts.append((yield from tm.param(w)))
        parts.append((yield from tm.const(x)))
    parts.append(parts[0])
    flat = yield ops.concat(parts, axis=0)
    rows = yield ops.stack(parts, axis=1)
    h = yield ops.sum(rows, axis=1)
    for _ in range(repeats):  # h <- sum(stack([h, tanh(h), w0, w1, x0])), rolled into a loop
        rows = yield ops.stack([h, (yield ops.tanh(h)), parts[0], parts[2], parts[1]], axis=0)
        h = yield ops.sum(rows, axis=0)
    return (yield ops.add((yield ops.sum((yield flat * flat))), (yield ops.sum(h))))


@pytest.mark.parametrize("n", [4, 40])
def test_a_replay_computes_the_cotangents_of_concat_and_stack_at_once(n: int) -> None:
    """A node of ``concat`` / ``stack`` with more than three inputs runs ``at_once`` (one call,
    every input's cotangent), as eager's reverse pass does, not each input's rule (each of
    which reads every input: n calls cost n**2)."""
    c = tm.compile(joined)
    rng = np.random.default_rng(0)
    for _ in range(3):
        ws = [rng.standard_normal(3) for _ in range(n)]
        xs = [rng.standard_normal(3) for _ in range(n)]
        same_result(c.value_and_grad(ws, xs, 30), tm.value_and_grad(joined(ws, xs, 30)))
    assert c.traces == 1 and c.replays == 2
    plan = c.plan(ws, xs, 30)
    assert len(plan.loops) == 1 and plan.loops[0].back is not None
    assert "concat.vjp.at_once[" in plan.listing and "stack.vjp.at_once[" in plan.listing
    at_once = [line for line in plan.listing.splitlines() if ".at_once[" in line]
    assert plan.source.count("e = r") == len(at_once) >= 4  # one call per node it serves
    assert not re.search(r"\br\d+\(\d", plan.source)  # no rule of one input (``rule(i, g, ...)``)
