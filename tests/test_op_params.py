"""Static parameters: checked by their kinds when a request is built, against the inputs' shapes
by the shape rule, and refused alike under Eager and ShapeOnly (same error type and message).
Every op documents itself: a precise kind per parameter, a doc with its formula, a signature
with the op's inputs and parameters."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from op_cases import CASES, Case

import tapem as tm
from tapem import ops
from tapem.interpreters import Eager, ShapeOnly
from tapem.ops.params import ANY

X = np.arange(6.0).reshape(2, 3)
X4 = np.arange(4.0)

Build = Callable[..., Any]


def run_under(interpreter: Any, build: Build, values: tuple[Any, ...]) -> Any:
    """``build(*handles)`` yielded after a leaf per value (a param per float array)."""

    @tm.tapem
    def program() -> tm.Gen[Any]:
        handles = []
        for v in values:
            make = tm.param if v.dtype.kind == "f" else tm.const
            handles.append((yield from make(v)))
        return (yield build(*handles))

    return tm.run(program(), interpreter=interpreter)


# (label, build, inputs, error type, message fragment)
BAD: list[tuple[str, Build, tuple[Any, ...], type[tm.TapeError], str]] = [
    ("scale None", lambda x: ops.scale(x, None), (X,), tm.InvalidArgument,
     "scale: c must be a real number; got None"),
    ("scale array", lambda x: ops.scale(x, np.ones(2)), (X,), tm.InvalidArgument,
     "scale: c must be a real number; got array"),
    ("scale bool", lambda x: ops.scale(x, True), (X,), tm.InvalidArgument,
     "scale: c must be a real number; got True"),
    ("scale huge int", lambda x: ops.scale(x, 2**1100), (X.astype(np.float32),),
     tm.InvalidArgument, "(int too large to convert to float)"),
    ("clamp None", lambda x: ops.clamp(x, None, 1), (X,), tm.InvalidArgument,
     "clamp: lo must be a real number; got None"),
    ("pow str", lambda x: ops.pow(x, "a"), (X,), tm.InvalidArgument,
     "pow: p must be a real number; got 'a'"),
    ("sum float axis", lambda x: ops.sum(x, axis=1.5), (X,), tm.InvalidArgument,
     "sum: axis must be None, an int or a tuple of ints; got 1.5"),
    ("sum str axis", lambda x: ops.sum(x, axis="0"), (X,), tm.InvalidArgument,
     "sum: axis must be None, an int or a tuple of ints; got '0'"),
    ("sum bool axis", lambda x: ops.sum(x, axis=True), (X,), tm.InvalidArgument,
     "sum: axis must be None, an int or a tuple of ints; got True"),
    ("mean keepdims int", lambda x: ops.mean(x, keepdims=1), (X,), tm.InvalidArgument,
     "mean: keepdims must be True or False; got 1"),
    ("mse reduction", lambda x: ops.mse_loss(x, x, reduction="avg"), (X,), tm.InvalidArgument,
     "mse_loss: reduction must be 'mean', 'sum' or 'none'; got 'avg'"),
    ("reshape floats", lambda x: ops.reshape(x, (2.0, 2.0)), (X4,), tm.InvalidArgument,
     "reshape: shape must be an int or a tuple of ints; got (2.0, 2.0)"),
    ("reshape None", lambda x: ops.reshape(x, None), (X4,), tm.InvalidArgument,
     "reshape: shape must be an int or a tuple of ints; got None"),
    ("transpose floats", lambda x: ops.transpose(x, (1.0, 0.0)), (X,), tm.InvalidArgument,
     "transpose: axes must be None or a tuple of ints; got (1.0, 0.0)"),
    ("flatten float", lambda x: ops.flatten(x, 0.0), (X,), tm.InvalidArgument,
     "flatten: start_dim must be an int; got 0.0"),
    ("concat float axis", lambda a, b: ops.concat([a, b], axis=1.0), (X, X), tm.InvalidArgument,
     "concat: axis must be an int; got 1.0"),
    ("stack None axis", lambda a, b: ops.stack([a, b], axis=None), (X, X), tm.InvalidArgument,
     "stack: axis must be an int; got None"),
    ("index float", lambda x: ops.index(x, 1.5), (X,), tm.InvalidArgument,
     "index: a key holds ints, slices, None and ..."),
    ("safe_log eps str", lambda x: ops.safe_log(x, "a"), (X,), tm.InvalidArgument,
     "safe_log: eps must be a real number"),
    ("dropout seed float", lambda x: ops.dropout(x, 0.5, 1.5), (X,), tm.InvalidArgument,
     "dropout: seed must be an int >= 0; got 1.5"),
    ("dropout p nan", lambda x: ops.dropout(x, float("nan"), 1), (X,), tm.InvalidArgument,
     "dropout: p must be a number in [0, 1]; got nan"),
    ("conv padding float", lambda k, b, x: ops.conv(k, b, x, 1, 0.5),
     (np.ones((1, 1, 2)), np.ones(1), np.ones((1, 4))), tm.InvalidArgument,
     "conv: padding must be an int >= 0 or a tuple of ints >= 0; got 0.5"),
    ("batch_norm eps inf", lambda x, g, b: ops.batch_norm(x, g, b, float("inf")),
     (X, np.ones(2), np.ones(2)), tm.InvalidArgument,
     "batch_norm: eps must be a finite number >= 0; got inf"),
    ("attention heads float", lambda *ws: ops.multi_head_attention(*ws, 1.0),
     (np.ones((3, 2)), np.ones((3, 2)), np.ones((3, 2)), np.ones((2, 3)), np.ones((4, 3))),
     tm.InvalidArgument, "multi_head_attention: num_heads must be an int >= 1; got 1.0"),
    # well-typed, but not for these shapes: the shape rule's ShapeMismatch
    ("reshape overflow", lambda x: ops.reshape(x, (2**62 + 1, 4)), (X4,), tm.ShapeMismatch,
     "cannot reshape 4 elements to 18446744073709551620"),
    ("reshape negative", lambda x: ops.reshape(x, (-2, -2)), (X4,), tm.ShapeMismatch,
     "at most one -1 and no other negative sizes"),
    ("reshape two -1", lambda x: ops.reshape(x, (-1, -1)), (X4,), tm.ShapeMismatch,
     "at most one -1"),
    ("reshape size", lambda x: ops.reshape(x, (3, 2)), (X4,), tm.ShapeMismatch,
     "cannot reshape 4 elements to 6"),
    ("sum axis range", lambda x: ops.sum(x, axis=2), (X,), tm.ShapeMismatch,
     "axis 2 is out of range for an input of rank 2"),
    ("mean negative axis range", lambda x: ops.mean(x, axis=-3), (X,), tm.ShapeMismatch,
     "axis -3 is out of range"),
    ("sum repeated axes", lambda x: ops.sum(x, axis=(0, -2)), (X,), tm.ShapeMismatch,
     "repeats an axis"),
    ("transpose range", lambda x: ops.transpose(x, (0, 2)), (X,), tm.ShapeMismatch,
     "axes (0, 2) are out of range for an input of rank 2"),
    ("transpose repeated", lambda x: ops.transpose(x, (1, -1)), (X,), tm.ShapeMismatch,
     "axes (1, -1) are not a permutation of 2 axes"),
    ("transpose short", lambda x: ops.transpose(x, (0,)), (X,), tm.ShapeMismatch,
     "not a permutation of 2 axes"),
    ("flatten range", lambda x: ops.flatten(x, 0, 2), (X,), tm.ShapeMismatch,
     "dim 2 is out of range for an input of rank 2"),
    ("concat axis range", lambda a, b: ops.concat([a, b], axis=2), (X, X), tm.ShapeMismatch,
     "axis 2 is out of range for rank 2"),
    ("stack axis range", lambda a, b: ops.stack([a, b], axis=-4), (X, X), tm.ShapeMismatch,
     "axis -4 is out of range for rank 3"),
    ("index range", lambda x: x[:, 3], (X,), tm.ShapeMismatch, "index 3 is out of bounds"),
    ("pool stride length", lambda x: ops.avg_pool(x, (2,), (1, 1)), (X,), tm.InvalidArgument,
     "avg_pool: stride must be an int or a tuple of 1 ints"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("build", "values", "error", "message"),
    [case[1:] for case in BAD],
    ids=[case[0] for case in BAD],
)
def test_a_bad_parameter_fails_alike_under_eager_and_shape_only(
    build: Build, values: tuple[Any, ...], error: type, message: str
) -> None:
    eager = run_under(Eager(), build, values).failure()
    abstract = run_under(ShapeOnly(), build, values).failure()
    assert type(eager) is type(abstract) is error, (eager, abstract)
    assert message in eager.message, eager.message
    assert abstract.message == eager.message


def test_a_request_by_name_checks_its_parameters_at_its_yield() -> None:
    for interpreter in (Eager(), ShapeOnly()):
        failure = run_under(interpreter, lambda x: tm.Op("scale", [x], {"c": None}), (X,))
        assert isinstance(failure.failure(), tm.InvalidArgument)
        assert "scale: c must be a real number; got None" in failure.failure().message


def test_scale_takes_numbers_in_every_form_and_keeps_the_shape() -> None:
    for c in (2, 2.0, np.float32(2.0), np.int64(2), np.array(2.0)):
        for interpreter in (Eager(), ShapeOnly()):
            out, tape = run_under(interpreter, lambda x, c=c: ops.scale(x, c), (X,)).unwrap()
            assert out.shape == X.shape and out.dtype == np.float64
            assert tape.node(out).params["c"].__class__ in (int, float)  # plain data
    out, tape = run_under(Eager(), lambda x: ops.scale(x, np.array(2.0)), (X,)).unwrap()
    assert np.array_equal(tape.value(out), 2 * X)


def test_axes_and_shapes_become_plain_tuples() -> None:
    h = tm.Handle(0, X)
    assert ops.sum(h, axis=[0, np.int64(1)]).params["axis"] == (0, 1)
    assert ops.reshape(h, [np.int32(3), 2]).params["shape"] == (3, 2)
    assert ops.transpose(h, [1, 0]).params["axes"] == (1, 0)
    assert ops.max_pool(h, [2], 1).params["kernel"] == (2,)
    assert h[1:, None].params["key"] == ((1, None, None), None)


# --- every op documents itself --------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(ops.TABLE))
def test_every_op_has_a_doc_a_signature_and_precise_kinds(name: str) -> None:
    rule = ops.TABLE[name]
    assert rule.doc.strip(), f"{name} has no doc"
    assert rule.__doc__ is not None and rule.__doc__.startswith(rule.doc.strip())
    assert all(kind is not ANY for kind in rule.kinds), f"{name}: a parameter of kind ANY"
    signature = inspect.signature(rule)
    names = list(signature.parameters)
    assert names[len(names) - len(rule.params) :] == list(rule.params) or name == (
        "multi_head_attention"
    )
    for p in rule.params:
        assert signature.parameters[p].default == rule.defaults.get(p, inspect.Parameter.empty)


def test_the_custom_callers_show_their_own_signatures() -> None:
    assert str(inspect.signature(ops.multi_head_attention)) == (
        "(wq, wk, wv, wo, x, /, num_heads, mask=None) -> tapem.requests.Op"
    )
    assert str(inspect.signature(ops.index)) == "(x, /, key) -> tapem.requests.Op"
    assert str(inspect.signature(ops.concat)) == "(xs, /, axis=0) -> tapem.requests.Op"
    assert "num_heads: an int >= 1" in (ops.multi_head_attention.__doc__ or "")
    assert "key: a basic-indexing key" in (ops.index.__doc__ or "")


@pytest.mark.parametrize("name", sorted(n for n, r in ops.TABLE.items() if r.params))
@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_every_parameter_refuses_an_object_of_no_kind(name: str, data: st.DataObject) -> None:
    case: Case = data.draw(CASES[name](), label="case")
    rule = ops.TABLE[name]
    handles = [tm.Handle(i, x) for i, x in enumerate(case.inputs)]
    params = dict(zip(rule.params, case.args, strict=True))
    assert tm.Op(rule, handles, params).args == case.args  # the drawn case is well-typed
    bad = data.draw(st.sampled_from(rule.params), label="parameter")
    with pytest.raises(tm.InvalidArgument, match=f"^{name}: .*{bad}"):
        tm.Op(rule, handles, {**params, bad: object()})
