"""Every op on int and bool inputs: the shape rule predicts the forward's shape and dtype, and
ShapeOnly gives the dtypes Eager computes; where numpy refuses a dtype, the op refuses it with
a typed error from its shape rule, under both interpreters, at the same request.

Inputs come from each op's strategy (``tests/op_cases.py``) with some float inputs converted to
bool, int8, int32, int64, uint8, float32 or float64 (:func:`op_cases.typed`). Labels, indices and
masks keep their dtypes, so the only check of values that can fire is ``log``'s domain (a
``DomainError`` that ShapeOnly, which sees no values, cannot raise).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from op_cases import Case, typed
from returns.result import Success

import tapem as tm
from tapem import ops
from tapem.interpreters import Eager, ShapeOnly
from tapem.requests import make_op

# int inputs hold zeros (divisions by them give the inf and nan IEEE prescribes), and int8
# arithmetic wraps around, as in numpy
pytestmark = pytest.mark.filterwarnings(
    "ignore:divide by zero:RuntimeWarning",
    "ignore:invalid value:RuntimeWarning",
    "ignore:overflow:RuntimeWarning",
)

OPS = sorted(ops.TABLE)
SETTINGS = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.mark.parametrize("name", OPS)
@SETTINGS
@given(data=st.data())
def test_the_shape_rule_predicts_the_forward_dtype(name: str, data: st.DataObject) -> None:
    _, case = data.draw(typed(name))
    rule = ops.TABLE[name]
    avals = [tm.ShapeDtype(x.shape, x.dtype) for x in case.inputs]
    try:
        predicted = rule.shape(*avals, *case.args)
    except (tm.InvalidArgument, tm.ShapeMismatch):
        return  # refused, typed (that every interpreter refuses it is checked below)
    try:
        out = np.asarray(rule.forward(*case.inputs, *case.args))
    except tm.DomainError:
        assert name == "log"
        return
    assert (predicted.shape, predicted.dtype) == (out.shape, out.dtype), case


@tm.tapem
def applied_twice(name: str, warm: Case, case: Case) -> tm.Gen[tm.Handle]:
    """The op on ``warm`` (float64), then on ``case``: the second request takes the recording
    path's fast path, which skips an elementwise op's shape rule on equal shapes."""
    rule = ops.TABLE[name]
    for inputs in (warm.inputs, case.inputs):
        handles = []
        for x in inputs:
            handles.append((yield from tm.const(x)))
        out = yield make_op(rule, tuple(handles), case.args)
    return out


@pytest.mark.parametrize("name", OPS)
@SETTINGS
@given(data=st.data())
def test_shape_only_gives_eager_dtypes_or_the_same_typed_refusal(
    name: str, data: st.DataObject
) -> None:
    warm, case = data.draw(typed(name))
    eager = tm.run(applied_twice(name, warm, case), interpreter=Eager())  # no raw numpy error
    abstract = tm.run(applied_twice(name, warm, case), interpreter=ShapeOnly())
    if not _ok(eager) and isinstance(eager.failure(), tm.DomainError):
        assert name == "log" and _ok(abstract)
        return
    assert _ok(eager) == _ok(abstract), (eager, abstract)
    if _ok(eager):
        (out, _), (shape, _) = eager.unwrap(), abstract.unwrap()
        assert (out.shape, out.dtype) == (shape.shape, shape.dtype), case
    else:
        refused = eager.failure()
        assert isinstance(refused, (tm.InvalidArgument, tm.ShapeMismatch)), refused
        assert type(abstract.failure()) is type(refused)
        assert abstract.failure().message == refused.message


def _ok(result: Any) -> bool:
    return isinstance(result, Success)


# --- the dtype rules the issue names, and the refusals -------------------------------------------


def dtype_under(interpreter: Any, build: Any, *values: Any) -> Any:
    @tm.tapem
    def program() -> tm.Gen[tm.Handle]:
        handles = []
        for v in values:
            handles.append((yield from tm.const(v)))
        return (yield build(*handles))

    out, _ = tm.run(program(), interpreter=interpreter).unwrap()
    return out.dtype


I32 = np.array([1, 2, 3], dtype=np.int32)
I8 = np.array([1, -2, 3], dtype=np.int8)
U8 = np.array([1, 2, 3], dtype=np.uint8)
B = np.array([True, False, True])
F32 = np.array([1.0, 2.0, 3.0], dtype=np.float32)

EXPECTED = [
    ("sum int32", lambda x: ops.sum(x), (I32,), np.int64),
    ("sum bool", lambda x: ops.sum(x), (B,), np.int64),
    ("sum uint8", lambda x: ops.sum(x, axis=0), (U8,), np.uint64),
    ("mean int8", lambda x: ops.mean(x), (I8,), np.float64),
    ("tanh int32", lambda x: ops.tanh(x), (I32,), np.float64),
    ("exp int8", lambda x: ops.exp(x), (I8,), np.float64),  # numpy alone: float16
    ("sqrt bool", lambda x: ops.sqrt(x), (B,), np.float64),  # numpy alone: float16
    ("relu bool", lambda x: ops.relu(x), (B,), np.int64),
    ("relu int8", lambda x: ops.relu(x), (I8,), np.int8),
    ("abs bool", lambda x: ops.abs(x), (B,), np.bool_),
    ("scale int8 by 2", lambda x: ops.scale(x, 2), (I8,), np.int8),
    ("scale int8 by 2.0", lambda x: ops.scale(x, 2.0), (I8,), np.float64),
    ("scale float32 by 2.0", lambda x: ops.scale(x, 2.0), (F32,), np.float32),
    ("pow bool", lambda x: ops.pow(x, 2), (B,), np.int64),  # numpy alone: int8
    ("pow int8 float", lambda x: ops.pow(x, 0.5), (U8,), np.float64),
    ("div int", lambda a, b: ops.div(a, b), (I8, I32), np.float64),
    ("div float32 int", lambda a, b: ops.div(a, b), (F32, I8), np.float32),
    ("add bools", lambda a, b: ops.add(a, b), (B, B), np.bool_),
    ("matmul ints", lambda a, b: ops.matmul(a, b), (I8, I8), np.int8),
    ("softmax int", lambda x: ops.softmax_last(x), (I8,), np.float64),
    ("mse ints", lambda a, b: ops.mse_loss(a, b), (I8, U8), np.float64),
    ("mse bools", lambda a, b: ops.mse_loss(a, b), (B, B), np.float64),
    ("gelu bool", lambda x: ops.gelu(x), (B,), np.float64),
    ("max_pool int8", lambda x: ops.max_pool(x, (2,)), (I8[None],), np.int8),
    ("avg_pool uint8", lambda x: ops.avg_pool(x, (2,)), (U8[None],), np.float64),
    ("layer_norm int + float32", lambda x, g, b: ops.layer_norm(x, g, b), (I8, F32, F32),
     np.float32),
    ("where", lambda m, a, b: ops.where(m, a, b), (B, I8, U8), np.int16),
]  # fmt: skip


@pytest.mark.parametrize(
    ("build", "values", "dtype"), [c[1:] for c in EXPECTED], ids=[c[0] for c in EXPECTED]
)
def test_dtypes_for_int_and_bool_inputs(build: Any, values: Any, dtype: Any) -> None:
    assert dtype_under(Eager(), build, *values) == dtype
    assert dtype_under(ShapeOnly(), build, *values) == dtype


REFUSED = [
    ("neg bool", lambda x: -x, (B,), "neg: bool inputs are not supported"),
    ("sub bools", lambda a, b: a - b, (B, B), "sub: a - b of two bool arrays"),
    ("scale overflow", lambda x: ops.scale(x, 1000), (I8,), "scale: 1000 does not fit"),
    ("shift negative uint", lambda x: ops.shift(x, -1), (U8,), "shift: -1 does not fit the input"),
    ("rsub overflow", lambda x: ops.rsub(x, 2**70), (I32,), "rsub: 1180591620717411303424 does"),
    ("clamp overflow", lambda x: ops.clamp(x, -1000, 0), (I8,), "clamp: -1000 does not fit"),
    ("pow negative int", lambda x: ops.pow(x, -1), (I32,), "pow: an integer input to a negative"),
    ("matmul bools", lambda a, b: a @ b, (B, B), "matmul: bool operands are not supported"),
    ("linear bools", lambda w, b, x: ops.linear(w, b, x), (B[None], B[:1], B),
     "linear: bool operands"),
    ("cross_entropy bool labels", lambda z, y: ops.cross_entropy(z, y),
     (F32, np.array(True)), "labels must be integers"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("build", "values", "message"), [c[1:] for c in REFUSED], ids=[c[0] for c in REFUSED]
)
def test_refused_dtypes_fail_alike_even_after_a_valid_use(
    build: Any, values: Any, message: str
) -> None:
    """A valid use first (float64 inputs) lets the second request take the fast path."""

    @tm.tapem
    def program() -> tm.Gen[tm.Handle]:
        floats = []
        for v in values:
            floats.append((yield from tm.const(np.asarray(v, dtype=np.float64))))
        if values[-1].dtype.kind != "b" or len(values) != 2:  # (cross_entropy: a label)
            yield build(*floats)
        handles = []
        for v in values:
            handles.append((yield from tm.const(v)))
        return (yield build(*handles))

    for interpreter in (Eager(), ShapeOnly()):
        failure = tm.run(program(), interpreter=interpreter).failure()
        assert isinstance(failure, tm.InvalidArgument), failure
        assert message in failure.message
