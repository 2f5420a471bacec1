"""Second order, for every op in the table (driven by ``tests/op_cases.py``, so new ops are
covered automatically): the VJP rules run on dual numbers (forward-over-reverse) against
central differences of the gradient of ``F(xs) = sum(u * op(xs))``, and ``check_grads`` with
``order=2`` on a program built around the op."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from op_cases import CASES, Case

import tapem as tm
from tapem import ops
from tapem.checks.rules import differentiable_inputs
from tapem.checks.second_order import check_hvp
from tapem.requests import make_op

OPS = sorted(ops.TABLE)
SETTINGS = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
FEW = settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.mark.parametrize("name", OPS)
@SETTINGS
@given(data=st.data())
def test_hvp_of_vjp_rules_on_duals_matches_finite_differences(
    name: str, data: st.DataObject
) -> None:
    case: Case = data.draw(CASES[name](), label="case")
    result = check_hvp(ops.TABLE[name], case.inputs, case.args)
    assert result.ok, str(result)


@tm.tapem
def weighted_sum(rule: tm.OpDef, case: Case, u: Any) -> tm.Gen[tm.Handle]:
    """``sum(u * op(xs))`` with the op's differentiable inputs as params, the rest as consts."""
    trainable = differentiable_inputs(rule, case.inputs)
    handles = []
    for i, x in enumerate(case.inputs):
        make = tm.param if i in trainable else tm.const
        handles.append((yield from make(x, name=f"x{i}")))
    y = yield make_op(rule, tuple(handles), case.args)  # args in declared order, as in CASES
    U = yield from tm.const(u)
    weighted = yield y * U
    return (yield ops.sum(weighted))


@pytest.mark.parametrize("name", OPS)
@FEW
@given(data=st.data())
def test_check_grads_passes_on_every_op(name: str, data: st.DataObject) -> None:
    case: Case = data.draw(CASES[name](), label="case")
    rule = ops.TABLE[name]
    out_shape = np.shape(rule.forward(*case.inputs, *case.args))
    u = np.random.default_rng(0).standard_normal(out_shape)
    report = tm.check_grads(weighted_sum(rule, case, u), order=2)
    assert report.ok and report.compared > 0
    assert "check_grads OK" in str(report)


@pytest.mark.parametrize("name", OPS)
@settings(max_examples=3, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_float32_programs_are_checked_in_float64(name: str, data: st.DataObject) -> None:
    case: Case = data.draw(CASES[name](), label="case")
    inputs = tuple(x.astype(np.float32) if x.dtype.kind == "f" else x for x in case.inputs)
    rule = ops.TABLE[name]
    u = np.ones(np.shape(rule.forward(*case.inputs, *case.args)), dtype=np.float32)
    # float32 finite differences at eps=1e-6 would be noise; the checker upcasts every leaf.
    report = tm.check_grads(weighted_sum(rule, Case(inputs, case.args), u), order=2)
    assert report.ok, str(report)


def test_softplus_and_safe_log_second_derivatives_at_zero() -> None:
    # Their VJPs use sigmoid, written with -|x|; at exactly 0 the dual derivative must still be
    # the smooth one (sigma' = 1/4), not the subgradient sign(0) = 0 of |x|.
    x = np.array([0.0, 1.0, -2.0])
    s = 1 / (1 + np.exp(-x))

    @tm.tapem
    def softplus_sum(x: tm.Handle) -> tm.Gen[tm.Handle]:
        return (yield ops.sum((yield ops.softplus(x))))

    @tm.tapem
    def safe_log_sum(x: tm.Handle) -> tm.Gen[tm.Handle]:
        return (yield ops.sum((yield ops.safe_log(x, 0.1))))

    assert np.allclose(tm.hessian(softplus_sum, x), np.diag(s * (1 - s)), rtol=1e-14, atol=0)
    d = np.log1p(np.exp(x)) + 0.1  # safe_log = log(softplus + eps); (s/d)' = s(1-s)/d - s^2/d^2
    expected = np.diag(s * (1 - s) / d - s * s / (d * d))
    assert np.allclose(tm.hessian(safe_log_sum, x), expected, rtol=1e-13, atol=0)
