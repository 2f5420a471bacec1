"""Every op on zero-size inputs: it computes what PyTorch computes, or refuses them in its shape
rule with a typed error, alike under Eager and ShapeOnly, and never raises a raw numpy error or
warning.

For each op in the table, :data:`ZERO` holds cases with an empty axis where the op's layout
allows one. Each case says the value of ``sum(op(inputs))`` (0 over nothing; nan for a mean,
as in PyTorch) and the gradients that are not zero (the inputs that are not empty get zero
gradients unless the case says otherwise), or the typed error that refuses it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest

import tapem as tm
from tapem import ops
from tapem.interpreters import Eager, ShapeOnly

pytestmark = pytest.mark.filterwarnings("error::RuntimeWarning")  # no "mean of empty slice"

NAN = float("nan")


@dataclass(frozen=True)
class Zero:
    inputs: tuple[Any, ...]
    args: tuple[Any, ...] = ()
    value: float = 0.0
    grads: dict[int, Any] = field(default_factory=dict)  # by input position; others: zeros
    refused: type[tm.TapeError] | None = None

    def __repr__(self) -> str:
        shapes = ", ".join(f"{x.dtype}{list(x.shape)}" for x in self.inputs)
        return f"Zero({shapes}; {self.args})"


def z(*shape: int) -> Any:
    return np.zeros(shape)


def ints(*shape: int) -> Any:
    return np.zeros(shape, dtype=np.int64)


UNARY = [Zero((z(0),)), Zero((z(2, 0),)), Zero((z(0, 3, 1),))]
BINARY = [
    Zero((z(0), z(0))),
    Zero((z(0, 3), z(3))),  # b broadcasts over no rows: a zero gradient of shape (3,)
    Zero((z(2, 0), z(2, 1))),
    Zero((z(0), np.ones(()))),
]
UNARY_OPS = [
    "abs",
    "cos",
    "exp",
    "gelu",
    "inv",
    "log",
    "neg",
    "relu",
    "sigmoid",
    "sin",
    "softplus",
    "sqrt",
    "tanh",
]
SCALAR_OPS = {"scale": (2.0,), "shift": (1.0,), "rsub": (1.0,), "rdiv": (1.0,), "pow": (2.0,),
              "clamp": (0.0, 1.0), "safe_log": (1e-6,), "dropout": (0.5, 7)}  # fmt: skip
BINARY_OPS = ["add", "sub", "mul", "div", "max", "min"]

ZERO: dict[str, list[Zero]] = {
    **dict.fromkeys(UNARY_OPS, UNARY),
    **{name: [Zero(c.inputs, args) for c in UNARY] for name, args in SCALAR_OPS.items()},
    **dict.fromkeys(BINARY_OPS, BINARY),
    "sum": [Zero((z(0, 3),), (None, False)), Zero((z(0, 3),), (0, True)),
            Zero((z(3, 0),), ((0, 1), False))],
    "mean": [Zero((z(0, 3),), (None, False), NAN), Zero((z(0, 3),), (0, False), NAN),
             Zero((z(3, 0),), (0, False)), Zero((z(2, 0),), (1, True), NAN)],
    "softmax_last": [Zero((z(2, 0),)), Zero((z(0, 3),))],
    "log_softmax_last": [Zero((z(2, 0),)), Zero((z(0, 3),))],
    "reshape": [Zero((z(0, 3),), ((3, 0),)), Zero((z(0, 3),), ((-1,),)),
                Zero((z(0, 3),), ((-1, 0),), refused=tm.ShapeMismatch)],  # -1 is ambiguous
    "transpose": [Zero((z(0, 3),), (None,)), Zero((z(2, 0, 3),), ((1, 2, 0),))],
    "flatten": [Zero((z(2, 0, 3),), (0, -1)), Zero((z(2, 0, 3),), (1, 2))],
    "concat": [Zero((z(0, 2), np.ones((1, 2))), (0,), 2.0, {1: np.ones((1, 2))}),
               Zero((z(2, 0), z(2, 0)), (1,))],
    "stack": [Zero((z(0), z(0)), (0,)), Zero((z(0, 2), z(0, 2)), (-1,))],
    "index": [Zero((z(0, 3),), (((None, None, None), 1),)), Zero((z(3, 0),), ((1,),)),
              Zero((z(0, 3),), ((0,),), refused=tm.ShapeMismatch)],  # no row 0
    "gather": [Zero((z(0, 2), ints(0))), Zero((z(3, 2), ints(0, 4)))],
    "where": [Zero((np.zeros(0, dtype=bool), z(0), z(0))),
              Zero((np.zeros((2, 0), dtype=bool), z(2, 1), z(1, 0)))],
    "linear": [Zero((z(2, 0), np.array([0.5, -1.5]), z(3, 0)), (), -3.0, {1: [3.0, 3.0]}),
               Zero((np.ones((2, 3)), np.ones(2), z(0, 3))),
               Zero((z(0, 3), z(0), np.ones(3)))],  # no outputs
    "matmul": [Zero((z(2, 0), z(0, 3))), Zero((z(0, 2), np.ones((2, 3)))),
               Zero((z(0), z(0))), Zero((z(4, 2, 0), z(0, 5)))],
    "mse_loss": [Zero((z(0), z(0)), (), NAN), Zero((z(2, 0), z(0)), (), NAN),
                 Zero((z(2, 0), z(0)), ("sum",)), Zero((z(2, 0), z(0)), ("none",))],
    "cross_entropy": [Zero((z(0, 3), ints(0)), (), NAN), Zero((z(0, 3), ints(0)), ("sum",)),
                      Zero((z(0, 3), ints(0)), ("none",)),
                      Zero((z(2, 0), ints(2)), refused=tm.ShapeMismatch)],  # no classes
    "conv": [Zero((np.ones((2, 1, 3)), np.ones(2), z(0, 1, 5)), (1, 0)),  # no samples
             Zero((z(0, 1, 3), z(0), np.ones((1, 5))), (1, 0)),  # no output channels
             Zero((z(2, 0, 3), z(2), z(0, 5)), (1, 0), refused=tm.ShapeMismatch),
             Zero((z(2, 1, 1), z(2), z(1, 0)), (1, 0), refused=tm.ShapeMismatch)],
    "conv_transpose": [Zero((np.ones((1, 2, 3)), np.ones(2), z(0, 1, 4)), (1, 0)),
                       Zero((z(0, 2, 3), z(2), z(0, 4)), (1, 0), refused=tm.ShapeMismatch)],
    "max_pool": [Zero((z(0, 2, 4),), ((2,), None, 0)),
                 Zero((np.ones((1, 4)),), ((2,), 1, 2)),  # padding > kernel // 2: no windows
                 Zero((z(0, 4),), ((2,), None, 0), refused=tm.ShapeMismatch),
                 Zero((z(2, 0),), ((2,), None, 1), refused=tm.ShapeMismatch)],
    "layer_norm": [Zero((z(0, 3), np.ones(3), np.ones(3)), (1e-5,)),
                   Zero((z(2, 0), z(0), z(0)), (1e-5,), refused=tm.ShapeMismatch)],
    "batch_norm": [Zero((z(0, 3), z(0), z(0)), (1e-5, None)),  # no channels
                   Zero((z(0, 2, 3), np.ones(2), np.ones(2)), (1e-5, True),
                        refused=tm.ShapeMismatch)],  # no values per channel
    "multi_head_attention": [
        Zero((*[np.ones((2, 2))] * 4, z(0, 2)), (1,)),  # an empty sequence
        Zero((*[np.ones((2, 2))] * 4, z(0, 3, 2)), (2,)),  # no sequences
        Zero((*[np.ones((2, 2))] * 3, z(2, 0), np.ones((3, 2))), (1,)),  # no outputs
        Zero((*[np.ones((2, 2))] * 4, z(0, 2), np.zeros((0, 0), dtype=bool)), (1,)),
        Zero((z(2, 0), z(2, 0), np.ones((2, 2)), np.ones((2, 2)), np.ones((3, 2))), (1,),
             refused=tm.ShapeMismatch)],  # e = 0: no head width
}  # fmt: skip
ZERO["avg_pool"] = ZERO["max_pool"]
ZERO["smooth_max_pool"] = [
    Zero(c.inputs, (*c.args, 0.5), c.value, c.grads, c.refused) for c in ZERO["max_pool"]
]


def test_every_op_has_zero_size_cases() -> None:
    assert set(ZERO) == set(ops.TABLE), "add zero-size cases for each new op"


def request(name: str, handles: list[tm.Handle], args: tuple[Any, ...]) -> tm.Op:
    rule = ops.TABLE[name]
    given = dict(zip(rule.params[: len(args)], args, strict=True))  # others: their defaults
    return tm.Op(rule, handles, given)  # kinds checked


@tm.tapem
def summed(name: str, case: Zero) -> tm.Gen[tm.Handle]:
    handles = []
    for i, x in enumerate(case.inputs):
        make = tm.param if x.dtype.kind == "f" else tm.const
        handles.append((yield from make(x, name=f"x{i}")))
    return (yield ops.sum((yield request(name, handles, case.args))))


@tm.tapem
def applied(name: str, case: Zero) -> tm.Gen[tm.Handle]:
    handles = []
    for x in case.inputs:
        handles.append((yield from tm.const(x)))
    return (yield request(name, handles, case.args))


CASES = [(name, case) for name in sorted(ZERO) for case in ZERO[name]]


@pytest.mark.parametrize(("name", "case"), CASES, ids=[f"{n}-{c!r}" for n, c in CASES])
def test_zero_size_inputs(name: str, case: Zero) -> None:
    eager = tm.run(applied(name, case), interpreter=Eager())
    abstract = tm.run(applied(name, case), interpreter=ShapeOnly())
    if case.refused is not None:
        assert type(eager.failure()) is type(abstract.failure()) is case.refused
        assert abstract.failure().message == eager.failure().message
        return
    (out, _), (shape, _) = eager.unwrap(), abstract.unwrap()
    assert (out.shape, out.dtype) == (shape.shape, shape.dtype)
    value, grads = tm.value_and_grad(summed(name, case))
    assert np.array_equal(value, case.value, equal_nan=True), value
    for i, x in enumerate(case.inputs):
        if x.dtype.kind != "f":
            continue
        grad = grads[f"x{i}"]
        assert grad.shape == x.shape and grad.dtype == x.dtype
        expected = case.grads.get(i, np.zeros(x.shape))
        assert np.array_equal(grad, expected), (i, grad)
