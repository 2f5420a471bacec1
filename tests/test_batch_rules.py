"""Every op's batching rule against the op it transforms: for inputs drawn by the op's own
hypothesis strategy (``tests/op_cases.py``), some of them given per sample (a batch axis of
1 to 3 samples, each sample a permutation of the drawn input's elements, so samples differ but
stay in the op's domain) and the others shared, the op in a batched run gives what the op
mapped over the samples gives: the same dtypes, values and gradients (float64, to the order of
summation), with no op run sample by sample."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from op_cases import CASES, Case

import tapem as tm
from tapem import ops
from tapem.batching import BatchingWarning
from tapem.ops.opdef import ShapeDtype

OPS = sorted(ops.TABLE)
SETTINGS = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def test_every_op_has_a_batching_rule() -> None:
    missing = [name for name, rule in ops.TABLE.items() if rule.batch is None]
    elementwise = [name for name in missing if ops.TABLE[name].elementwise]
    assert sorted(set(missing) - set(elementwise)) == []  # elementwise ops broadcast


def _samples(data: st.DataObject, x: np.ndarray, size: int) -> np.ndarray:
    """``size`` samples like ``x``: permutations of its elements (the first one ``x``)."""
    flat = np.ravel(x)
    orders = [np.arange(flat.size)] + [
        np.asarray(data.draw(st.permutations(range(flat.size)), label="order"), dtype=np.intp)
        for _ in range(size - 1)
    ]
    return np.stack([flat[order].reshape(np.shape(x)) for order in orders])


def _program(
    rule: ops.OpDef,
    case: Case,
    stacked: dict[int, np.ndarray],
    weights: np.ndarray | None,
    batched: bool,
) -> tm.Program[tm.Handle]:
    """op(samples), stacked, or sum(weights * op(samples)): in one batched run, or the op on
    each sample in turn."""
    variadic = rule.arity is None

    def leaf(k: int, value: Any) -> tm.Gen[tm.Handle]:
        if value.dtype.kind == "f":
            return (yield from tm.param(value, name=f"x{k}"))
        return (yield from tm.const(value))

    def apply(inputs: list[tm.Handle]) -> tm.Gen[tm.Handle]:
        if variadic:
            return (yield rule(inputs, *case.args))
        return (yield rule(*inputs, *case.args))

    @tm.tapem
    def program() -> tm.Gen[tm.Handle]:
        shared = {}
        for k, x in enumerate(case.inputs):
            if k not in stacked:
                shared[k] = yield from leaf(k, x)
        keys = sorted(stacked)
        if batched:

            def each(sample: tuple[Any, ...]) -> tm.Gen[tm.Handle]:
                own = {}
                for k, value in zip(keys, sample, strict=True):
                    own[k] = yield from leaf(k, value)
                inputs = [own[k] if k in own else shared[k] for k in range(len(case.inputs))]
                return (yield from apply(inputs))

            samples = list(zip(*(stacked[k] for k in keys), strict=True))
            outs = yield from tm.vmap(each, samples)
        else:
            whole = {}
            for k in keys:
                whole[k] = yield from leaf(k, stacked[k])
            per = []
            for i in range(len(next(iter(stacked.values())))):
                inputs = []
                for k in range(len(case.inputs)):
                    inputs.append((yield whole[k][i]) if k in whole else shared[k])
                per.append((yield from apply(inputs)))
            outs = yield ops.stack(per, 0)
        if weights is None:
            return outs
        w = yield from tm.const(weights)
        return (yield ops.sum((yield outs * w)))

    return program()


@pytest.mark.parametrize("name", OPS)
@SETTINGS
@given(data=st.data())
def test_a_batched_op_equals_the_op_mapped_over_samples(name: str, data: st.DataObject) -> None:
    rule = ops.TABLE[name]
    case: Case = data.draw(CASES[name](), label="case")
    n = len(case.inputs)
    per_sample = data.draw(
        st.lists(st.booleans(), min_size=n, max_size=n).filter(any), label="per_sample"
    )
    size = data.draw(st.integers(1, 3), label="size")
    stacked = {
        k: _samples(data, np.asarray(x), size) for k, x in enumerate(case.inputs) if per_sample[k]
    }
    one = rule.shape(
        *(ShapeDtype(np.shape(x), np.asarray(x).dtype) for x in case.inputs), *case.args
    )
    weights = data.draw(
        hnp.arrays(np.float64, (size, *one.shape), elements=st.floats(-2, 2)), label="weights"
    )

    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("error", BatchingWarning)  # no op runs sample by sample
        looped_out = tm.value_of(_program(rule, case, stacked, None, batched=False))
        batched_out = tm.value_of(_program(rule, case, stacked, None, batched=True))
        looped = tm.value_and_grad(_program(rule, case, stacked, weights, batched=False))
        batched = tm.value_and_grad(_program(rule, case, stacked, weights, batched=True))

    assert batched_out.dtype == looped_out.dtype and batched_out.shape == looped_out.shape
    np.testing.assert_allclose(batched_out, looped_out, rtol=1e-12, atol=1e-12, equal_nan=True)
    np.testing.assert_allclose(batched[0], looped[0], rtol=1e-12, atol=1e-12, equal_nan=True)
    assert batched[1].keys() == looped[1].keys()
    for key, g in looped[1].items():
        np.testing.assert_allclose(batched[1][key], g, rtol=1e-12, atol=1e-12, equal_nan=True)
