"""check_grads: passes on correct programs, and on a wrong rule fails naming the parameter and
element with the largest error and the op (with the user's line) whose rule is wrong.

(``tests/test_op_second_order.py`` runs check_grads with ``order=2`` on every op in the table.)
"""

from __future__ import annotations

import inspect
from typing import Any

import numpy as np
import pytest

import tapem as tm
from tapem import ops
from tapem.ops.opdef import same_shape

WRONG_SIN = tm.OpDef(
    "wrong_sin",
    forward=np.sin,
    vjp=(lambda g, out, x: g * np.sin(x),),  # should be cos
    jvp=(lambda t, out, x: t * np.cos(x),),
    shape=same_shape,
)
# Right VJP (3x^2 = 3 out / x), wrong JVP: gradients agree, Hessians do not.
CUBE_BAD_JVP = tm.OpDef(
    "cube_bad_jvp",
    forward=lambda x: x**3,
    vjp=(lambda g, out, x: 3 * out / x * g,),
    jvp=(lambda t, out, x: x * x * t,),  # should be 3 x^2 t
    shape=same_shape,
)
# A VJP that converts its input to a plain array cannot run on dual numbers.
OPAQUE_SQUARE = tm.OpDef(
    "opaque_square",
    forward=lambda x: x * x,
    vjp=(lambda g, out, x: 2 * np.asarray(x) * g,),
    jvp=(lambda t, out, x: 2 * x * t,),
    shape=same_shape,
)


def line_of(function: Any, marker: str) -> int:
    lines, start = inspect.getsourcelines(function)
    return start + next(i for i, text in enumerate(lines) if marker in text)


@tm.tapem
def with_wrong_sin(x: tm.Handle) -> tm.Gen[tm.Handle]:
    a = yield x * 1.0
    y = yield WRONG_SIN(a)  # <- the wrong rule
    z = yield ops.tanh(y)
    return (yield ops.sum(z))


def test_a_wrong_vjp_is_found_with_its_line_and_worst_element() -> None:
    x = np.array([0.1, 0.2, 2.5])
    with pytest.raises(tm.GradCheckError) as info:
        tm.check_grads(with_wrong_sin, x)
    error = info.value
    assert isinstance(error, AssertionError)
    report = error.report
    assert not report.ok and report.failures >= 3
    # d/dx sum(tanh(sin x)) = (1 - tanh(sin x)^2) cos x; the rule uses sin x instead of cos x.
    # The error (1 - tanh(sin x)^2) |cos x - sin x| is largest at x = 2.5.
    worst = report.worst
    assert worst is not None and (worst.param, worst.index) == ("arg0", (2,))
    assert worst.expected == pytest.approx((1 - np.tanh(np.sin(2.5)) ** 2) * np.cos(2.5))
    assert worst.actual == pytest.approx((1 - np.tanh(np.sin(2.5)) ** 2) * np.sin(2.5))
    culprit = report.culprit
    assert culprit is not None and (culprit.op, culprit.node) == ("wrong_sin", 2)
    assert culprit.site is not None
    assert culprit.site.line == line_of(with_wrong_sin, "<- the wrong rule")
    assert culprit.site.file.endswith("test_gradcheck.py")
    text = str(error)
    assert "wrong_sin" in text and f"test_gradcheck.py:{culprit.site.line}" in text
    assert "arg0, element [2]" in text


@tm.tapem
def tapem_style(w: Any, b: Any) -> tm.Gen[tm.Handle]:
    W = yield from tm.param(w, name="W")
    B = yield from tm.param(b, name="b")
    x = yield from tm.const(np.array([0.5, -1.0, 2.0], dtype=w.dtype))
    z = yield ops.linear(W, B, x)
    r = yield ops.relu(z)  # z[0] is exactly 0: relu is not differentiable there
    s = yield WRONG_SIN(r)  # <- wrong
    return (yield ops.mean(s))


def test_a_program_with_named_params_and_a_kink_before_the_wrong_rule() -> None:
    w = np.array([[1.0, 0.5, 0.0], [0.2, 0.3, 0.4]], dtype=np.float32)  # z = [0, 0.6 + b1]
    b = np.array([0.0, 0.1], dtype=np.float32)
    with pytest.raises(tm.GradCheckError) as info:
        tm.check_grads(tapem_style(w, b))
    report = info.value.report
    assert {name for name, _ in report.params} == {"W", "b"}
    assert report.culprit is not None and report.culprit.op == "wrong_sin"
    assert report.culprit.site is not None
    assert report.culprit.site.line == line_of(tapem_style, "<- wrong")
    assert any(s.startswith("relu") for s in report.skipped)  # skipped, not blamed
    assert report.worst is not None and report.worst.param in ("W", "b")


def test_a_correct_program_passes_in_float64_even_when_it_is_float32() -> None:
    @tm.tapem
    def fine(w: Any) -> tm.Gen[tm.Handle]:
        W = yield from tm.param(w, name="W")
        x = yield from tm.const(np.array([0.5, -1.0], dtype=np.float32))
        y = yield ops.softplus((yield W @ x))
        return (yield ops.sum((yield ops.log_softmax_last(y))))

    w = np.array([[0.1, 0.2], [0.3, -0.4], [1.5, 0.7]], dtype=np.float32)
    report = tm.check_grads(fine(w), order=2)
    assert report.ok and report.order == 2 and report.failures == 0
    assert report.compared == 6 + 1 + 2 * 6  # elements, one direction, two HVP directions
    assert str(report).startswith("check_grads OK")


def test_order_2_finds_a_rule_whose_gradient_is_right_but_whose_hessian_is_wrong() -> None:
    @tm.tapem
    def f(x: tm.Handle) -> tm.Gen[tm.Handle]:
        c = yield CUBE_BAD_JVP(x)  # <- jvp
        return (yield ops.sum(c))

    x = np.array([0.5, -1.5, 2.0])
    assert tm.check_grads(f, x).ok  # first order is fine
    with pytest.raises(tm.GradCheckError) as info:
        tm.check_grads(f, x, order=2)
    report = info.value.report
    assert report.worst is not None and report.worst.kind == "hvp"
    assert report.culprit is not None and report.culprit.op == "cube_bad_jvp"
    assert report.culprit.site is not None and report.culprit.site.line == line_of(f, "<- jvp")


def test_order_2_names_a_vjp_rule_that_cannot_run_on_dual_numbers() -> None:
    @tm.tapem
    def f(x: tm.Handle) -> tm.Gen[tm.Handle]:
        return (yield ops.sum((yield OPAQUE_SQUARE(x))))

    x = np.array([0.5, -1.5])
    assert tm.check_grads(f, x).ok
    with pytest.raises(tm.GradCheckError) as info:
        tm.check_grads(f, x, order=2)
    report = info.value.report
    assert "could not be computed" in report.error and "drop its tangent" in report.error
    assert report.culprit is not None and report.culprit.op == "opaque_square"
    assert "TypeError" in report.culprit.check


def test_large_parameters_are_sampled_and_checked_along_a_direction() -> None:
    @tm.tapem
    def f(x: tm.Handle) -> tm.Gen[tm.Handle]:
        return (yield ops.sum((yield ops.sin(x))))

    report = tm.check_grads(f, np.linspace(-2, 2, 500), max_elements=20)
    assert report.ok and report.compared == 21


def test_bad_calls_are_typed_errors() -> None:
    @tm.tapem
    def no_params() -> tm.Gen[tm.Handle]:
        x = yield from tm.const(np.ones(2))
        return (yield ops.sum(x))

    @tm.tapem
    def vector(x: tm.Handle) -> tm.Gen[tm.Handle]:
        return (yield x * 2.0)

    with pytest.raises(tm.InvalidArgument, match="no trainable leaves"):
        tm.check_grads(no_params())
    with pytest.raises(tm.NotScalar):
        tm.check_grads(vector, np.ones(2))
    with pytest.raises(tm.InvalidArgument, match="order"):
        tm.check_grads(vector, np.ones(2), order=3)
    with pytest.raises(TypeError, match="primals"):
        tm.check_grads(vector)


@tm.tapem
def param_after_the_loss() -> tm.Gen[tm.Handle]:
    a = yield from tm.param(np.array([0.5, -1.5]), name="a")
    s = yield ops.sum((yield a * a))
    yield from tm.param(np.array([3.0]), name="b")  # made after the loss node: no gradient
    return s


def test_a_param_made_after_the_loss_gets_a_zero_gradient() -> None:
    assert set(tm.grad(param_after_the_loss())) == {"a"}
    for order in (1, 2):
        report = tm.check_grads(param_after_the_loss(), order=order)
        assert report.ok and {name for name, _ in report.params} == {"a", "b"}


def test_a_program_that_returns_no_handle_is_named_in_the_error() -> None:
    @tm.tapem
    def no_handle(x: tm.Handle) -> tm.Gen[Any]:
        yield ops.sum(x)
        return 1.0

    with pytest.raises(tm.NotAHandle, match="check_grads.*'no_handle' returned float"):
        tm.check_grads(no_handle, np.ones(2))


# A VJP off by a small constant: finite differences see it unless atol allows it.
NEARLY_DOUBLE = tm.OpDef(
    "nearly_double",
    forward=lambda x: 2 * x,
    vjp=(lambda g, out, x: 2 * g + 1e-3,),
    jvp=(lambda t, out, x: 2 * t,),
    shape=same_shape,
)


def test_find_wrong_rule_passes_atol_to_the_first_order_check() -> None:
    from tapem.checks.second_order import find_wrong_rule

    @tm.tapem
    def nearly() -> tm.Gen[tm.Handle]:
        x = yield from tm.param(np.array([0.5, -1.0, 2.0]))
        return (yield ops.sum((yield NEARLY_DOUBLE(x))))

    _, tape = tm.run(nearly()).unwrap()
    culprit, _ = find_wrong_rule(tape, {}, 1, rtol=0.0, atol=1e-9)
    assert culprit is not None and culprit.op == "nearly_double" and "vjp" in culprit.check
    assert find_wrong_rule(tape, {}, 1, rtol=0.0, atol=1.0) == (None, [])
