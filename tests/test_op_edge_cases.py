"""Defects found by the outside audit of the ops (issue 10), each with its expected numbers
worked out by hand (PyTorch's semantics where the issue names them)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import tapem as tm
from tapem import ops
from tapem.interpreters import Eager, ShapeOnly

Build = Callable[..., Any]


@tm.tapem
def summed(build: Build, values: tuple[Any, ...]) -> tm.Gen[tm.Handle]:
    """``sum(build(*leaves))``, a param per float value (named x0, x1, ...), a const for the
    rest."""
    handles = []
    for i, v in enumerate(values):
        make = tm.param if v.dtype.kind == "f" else tm.const
        handles.append((yield from make(v, name=f"x{i}")))
    return (yield ops.sum((yield build(*handles))))


def value_and_grads(build: Build, *values: Any) -> tuple[Any, dict[str, Any]]:
    value, grads = tm.value_and_grad(summed(build, values))
    return value, grads


def shape_of(build: Build, *values: Any) -> tuple[tuple[int, ...], Any]:
    """The shape and dtype of ``build(*leaves)`` under ShapeOnly."""

    @tm.tapem
    def program() -> tm.Gen[tm.Handle]:
        handles = []
        for v in values:
            handles.append((yield from tm.const(v)))
        return (yield build(*handles))

    out, _ = tm.run(program(), interpreter=ShapeOnly()).unwrap()
    return out.shape, out.dtype


# --- softmax over an empty last axis: an empty result, as in PyTorch ---------------------------


@pytest.mark.parametrize("op", [ops.softmax_last, ops.log_softmax_last])
@pytest.mark.parametrize("shape", [(0,), (3, 0), (0, 4), (2, 0, 5, 0)])
def test_softmax_of_an_empty_axis_is_empty(op: tm.OpDef, shape: tuple[int, ...]) -> None:
    x = np.zeros(shape, dtype=np.float32)

    @tm.tapem
    def program() -> tm.Gen[tm.Handle]:
        return (yield op((yield from tm.param(x))))

    out, tape = tm.run(program(), interpreter=Eager()).unwrap()
    y = tape.value(out)
    assert y.shape == shape and y.dtype == np.float32
    assert shape_of(op, x) == (shape, np.float32)
    value, grads = value_and_grads(op, x)
    assert value == 0 and grads["x0"].shape == shape
