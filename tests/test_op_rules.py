"""Every op in the table: VJP, JVP and shape rule against finite differences and the forward."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from op_cases import CASES, Case

import tapem as tm
from tapem import ops
from tapem.checks.rules import check_jvp, check_shape, check_vjp

OPS = sorted(ops.TABLE)
SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def test_every_op_has_a_case() -> None:
    assert set(CASES) == set(ops.TABLE), "add a strategy to tests/op_cases.py for each new op"


def test_every_op_has_a_vjp_and_jvp_per_input() -> None:
    for rule in ops.TABLE.values():
        if rule.arity is not None:
            assert len(rule.vjp) == rule.arity == len(rule.jvp), rule.name


@pytest.mark.parametrize("name", OPS)
@SETTINGS
@given(data=st.data())
def test_vjp_matches_finite_differences(name: str, data: st.DataObject) -> None:
    case: Case = data.draw(CASES[name](), label="case")
    result = check_vjp(ops.TABLE[name], case.inputs, case.args)
    assert result.ok, str(result)


@pytest.mark.parametrize("name", OPS)
@SETTINGS
@given(data=st.data())
def test_jvp_matches_finite_differences(name: str, data: st.DataObject) -> None:
    case: Case = data.draw(CASES[name](), label="case")
    result = check_jvp(ops.TABLE[name], case.inputs, case.args)
    assert result.ok, str(result)


@pytest.mark.parametrize("name", OPS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@SETTINGS
@given(data=st.data())
def test_shape_rule_matches_forward(name: str, dtype: type, data: st.DataObject) -> None:
    case: Case = data.draw(CASES[name](), label="case")
    inputs = tuple(x.astype(dtype) if x.dtype.kind == "f" else x for x in case.inputs)
    result = check_shape(ops.TABLE[name], inputs, case.args)
    assert result.ok, str(result)
    # float inputs keep their dtype through the forward
    floats = {x.dtype for x in inputs if x.dtype.kind == "f"}
    out = ops.TABLE[name].forward(*inputs, *case.args)
    if floats == {np.dtype(dtype)}:
        assert np.asarray(out).dtype == dtype


# --- the checker itself must catch wrong rules ---------------------------------------------------

WRONG_SIN = tm.OpDef(
    "wrong_sin",
    forward=np.sin,
    vjp=(lambda g, out, x: g * np.sin(x),),  # should be cos
    jvp=(lambda t, out, x: t * np.sin(x),),
    shape=ops.opdef.same_shape,
)
OFF_BY_A_FACTOR = tm.OpDef(
    "half_square",
    forward=lambda x: x * x,
    vjp=(lambda g, out, x: g * x,),  # should be 2x
    jvp=(lambda t, out, x: t * x,),
    shape=ops.opdef.same_shape,
)
WRONG_SHAPE = tm.OpDef(
    "wrong_shape",
    forward=lambda x: np.sum(x, axis=-1),
    vjp=(lambda g, out, x: np.broadcast_to(g[..., None], x.shape),),
    jvp=(lambda t, out, x: np.sum(t, axis=-1),),
    shape=ops.opdef.same_shape,  # wrong: the last axis is reduced
)


@pytest.mark.parametrize("rule", [WRONG_SIN, OFF_BY_A_FACTOR])
def test_checker_catches_a_wrong_vjp_and_jvp(rule: tm.OpDef) -> None:
    x = np.array([0.3, -1.1, 2.0])
    vjp = check_vjp(rule, (x,), ())
    jvp = check_jvp(rule, (x,), ())
    assert not vjp.ok and "MISMATCH" in str(vjp)
    assert not jvp.ok
    # the same checks pass on the correct rule
    assert check_vjp(ops.sin, (x,), ()).ok and check_jvp(ops.sin, (x,), ()).ok


def test_checker_catches_a_wrong_shape_rule() -> None:
    result = check_shape(WRONG_SHAPE, (np.ones((2, 3)),), ())
    assert not result.ok and "(2,)" in result.detail


def test_checker_catches_a_wrong_rule_for_one_input_of_two() -> None:
    bad_mul = tm.OpDef(
        "bad_mul",
        inputs=("a", "b"),
        forward=lambda a, b: a * b,
        vjp=(lambda g, out, a, b: g * b, lambda g, out, a, b: g * b),  # second should be g * a
        jvp=(lambda t, out, a, b: t * b, lambda t, out, a, b: a * t),
        shape=ops.opdef.binary_shape("bad_mul"),
    )
    a, b = np.array([1.0, 2.0]), np.array([3.0, -4.0])
    assert not check_vjp(bad_mul, (a, b), ()).ok
