"""The shape-only interpreter: no arithmetic and no copies, the same shape errors as eager at
the same request, value checks skipped (as documented), and no reverse pass."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import tapem as tm
from tapem import ops
from tapem.interpreters import Eager, ShapeOnly


class Untouchable(np.ndarray):  # type: ignore[type-arg]
    """An array that fails on any arithmetic, copy or conversion (only its shape is free)."""

    def __array_ufunc__(self, *args: Any, **kwargs: Any) -> Any:
        raise AssertionError("arithmetic on a leaf")

    def __array_function__(self, *args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a numpy function on a leaf")

    def copy(self, *args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a copy of a leaf")

    def __array__(self, *args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a conversion of a leaf")


def untouchable(shape: tuple[int, ...]) -> Untouchable:
    return np.broadcast_to(np.zeros((), dtype=np.float32), shape).view(Untouchable)


@tm.tapem
def network(x: Any, w: Any) -> tm.Gen[tm.Handle]:
    X = yield from tm.const(x)
    W = yield from tm.param(w)
    h = yield ops.tanh((yield W @ X))
    s = yield h + h
    return (yield ops.mean(s, axis=0))


def test_runs_on_shapes_without_touching_the_arrays() -> None:
    x, w = untouchable((10**6, 4)), untouchable((10**5, 10**6))  # 4e11 elements, no memory
    out, tape = tm.run(network(x, w), interpreter=ShapeOnly()).unwrap()
    assert (out.shape, out.dtype) == ((4,), np.float32)
    assert [node.shape for node in tape] == [
        (10**6, 4),
        (10**5, 10**6),
        (10**5, 4),
        (10**5, 4),
        (10**5, 4),
        (4,),
    ]
    assert all(isinstance(node.value, tm.ShapeDtype) for node in tape)


def test_shape_errors_are_the_eager_ones() -> None:
    x, w = np.ones((3, 4)), np.ones((2, 5))  # W @ X: 5 != 3
    eager = tm.run(network(x, w)).failure()
    abstract = tm.run(network(x, w), interpreter=ShapeOnly()).failure()
    assert type(abstract) is type(eager) is tm.ShapeMismatch
    assert abstract.message == eager.message and abstract.location == eager.location


def test_bad_handles_fail_as_under_eager() -> None:
    _, big = tm.run(network(np.ones((3, 4)), np.ones((2, 3)))).unwrap()
    stray = big.handle(5)

    @tm.tapem
    def uses(h: Any) -> tm.Gen[tm.Handle]:
        x = yield from tm.param(np.ones(4))
        return (yield ops.add(x, h))

    for bad, error_type in [(stray, tm.InvalidNodeId), (np.ones(4), tm.InvalidRequest)]:
        eager = tm.run(uses(bad), interpreter=Eager()).failure()
        abstract = tm.run(uses(bad), interpreter=ShapeOnly()).failure()
        assert type(eager) is type(abstract) is error_type
        assert abstract.message == eager.message


def test_value_checks_are_skipped() -> None:
    @tm.tapem
    def needs_values() -> tm.Gen[tm.Handle]:
        x = yield from tm.param(np.array([-1.0, 2.0]))
        labels = yield from tm.const(np.array([7]))  # out of range for 2 classes
        logits = yield ops.reshape(x, (1, 2))
        loss = yield ops.cross_entropy(logits, labels)
        logged = yield ops.log(x)  # log of -1
        return (yield loss + (yield ops.sum(logged)))

    assert isinstance(tm.run(needs_values()).failure(), tm.InvalidArgument)  # labels
    out, _ = tm.run(needs_values(), interpreter=ShapeOnly()).unwrap()
    assert out.shape == ()


def test_a_shape_only_tape_has_no_gradients() -> None:
    @tm.tapem
    def loss() -> tm.Gen[tm.Handle]:
        return (yield ops.sum((yield from network(np.ones((3, 4)), np.ones((2, 3))))))

    with pytest.raises(tm.InvalidArgument, match="ShapeOnly"):
        tm.value_and_grad(loss(), interpreter=ShapeOnly())
    out, tape = tm.run(loss(), interpreter=ShapeOnly()).unwrap()
    for error in (
        tm.backward_scalar(tape, out).failure(),
        tm.backward(tape, 5, np.ones(4)).failure(),
    ):
        assert (
            isinstance(error, tm.InvalidArgument) and "holds a shape, not a value" in error.message
        )


def test_continues_an_eager_tape() -> None:
    x, tape = tm.run(network(np.ones((3, 4)), np.ones((2, 3)))).unwrap()

    @tm.tapem
    def more() -> tm.Gen[tm.Handle]:
        return (yield ops.softmax_last(x))

    out, longer = tm.run(more(), tape, interpreter=ShapeOnly()).unwrap()
    assert out.id == len(tape) and out.shape == (4,)
    assert longer.value(0) is not None and len(tape) == 6  # the input tape is unchanged


def test_elementwise_shape_rules_return_the_input_shape_value() -> None:
    """The fast path that lets shape-only skip an allocation per elementwise op."""
    a = tm.ShapeDtype((2, 3), np.float32)
    assert ops.sin.shape(a) is a and ops.add.shape(a, a) is a
    b = ops.add.shape(a, tm.ShapeDtype((3,), np.float64))
    assert (b.shape, b.dtype) == ((2, 3), np.float64)
    arrays = ops.add.shape(np.ones((2, 3)), np.ones((2, 3)))
    assert isinstance(arrays, tm.ShapeDtype) and arrays.shape == (2, 3)
