"""Bad requests to the neural-layer ops fail with a typed error before anything is recorded.

Each case builds one request from leaves. The checks: an uncaught error makes ``tm.run``
return ``Failure`` with the expected type and message, naming this file as the location, and
the input tape is unchanged; a program that catches the error ends with only its leaves on the
tape (the failing op recorded nothing); and each error comes from where it says: a static
parameter of the wrong kind from building the request (``"build"``), a mismatch of shapes,
dtypes or parameter lengths from the shape rule, on shapes alone (``"shape"``), and the rest
from the values (``"values"``).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from returns.result import Failure

import tapem as tm
from tapem import ops

X2D = np.zeros((2, 5, 5))  # [C, H, W]
K = np.zeros((3, 2, 3, 3))  # conv kernel [out_c, in_c, kh, kw]
B3 = np.zeros(3)
W = np.zeros((4, 4))
SEQ = np.zeros((3, 4))  # [n, d]

Build = Callable[..., Any]
CASES: list[tuple[str, Build, tuple[Any, ...], type[tm.TapeError], str, str]] = [
    # (label, build(*handles), leaf values, error type, message fragment, where it is raised)
    ("pool kernel 0", lambda x: ops.max_pool(x, (0, 2)), (X2D,), tm.InvalidArgument,
     "max_pool: kernel must be a non-empty tuple of ints >= 1", "build"),
    ("pool stride 0", lambda x: ops.avg_pool(x, (2, 2), 0), (X2D,), tm.InvalidArgument,
     "avg_pool: stride must be None, an int >= 1 or a tuple of ints >= 1; got 0", "build"),
    ("pool stride tuple 0", lambda x: ops.max_pool(x, (2, 2), (1, 0)), (X2D,), tm.InvalidArgument,
     "stride must be None, an int >= 1 or a tuple of ints >= 1; got (1, 0)", "build"),
    ("pool negative padding", lambda x: ops.max_pool(x, (2, 2), 1, -1), (X2D,),
     tm.InvalidArgument, "padding must be an int >= 0 or a tuple of ints >= 0", "build"),
    ("pool int kernel", lambda x: ops.max_pool(x, 2), (X2D,), tm.InvalidArgument,
     "kernel must be a non-empty tuple of ints >= 1 (one window size per spatial axis)",
     "build"),
    ("pool kernel length", lambda x: ops.max_pool(x, (2, 2), (1, 1, 1)), (X2D,),
     tm.InvalidArgument, "stride must be an int or a tuple of 2 ints", "shape"),
    ("smooth beta 0", lambda x: ops.smooth_max_pool(x, (2, 2), 1, 0, 0.0), (X2D,),
     tm.InvalidArgument, "beta must be a finite non-zero number; got 0.0", "build"),
    ("smooth beta inf", lambda x: ops.smooth_max_pool(x, (2, 2), 1, 0, float("inf")), (X2D,),
     tm.InvalidArgument, "beta must be a finite non-zero number; got inf", "build"),
    ("smooth beta nan", lambda x: ops.smooth_max_pool(x, (2, 2), 1, 0, float("nan")), (X2D,),
     tm.InvalidArgument, "beta must be a finite non-zero number; got nan", "build"),
    ("pool window too big", lambda x: ops.max_pool(x, (2, 2)), (np.zeros((1, 1, 5)),),
     tm.ShapeMismatch, "larger than the padded input", "shape"),
    ("pool rank", lambda x: ops.avg_pool(x, (2,)), (np.zeros(4),), tm.ShapeMismatch,
     "expected x of rank 2 ([C, *spatial]) or 3", "shape"),
    ("conv stride 0", lambda k, b, x: ops.conv(k, b, x, 0, 0), (K, B3, X2D), tm.InvalidArgument,
     "conv: stride must be an int >= 1 or a tuple of ints >= 1; got 0", "build"),
    ("conv stride length", lambda k, b, x: ops.conv(k, b, x, (1, 1, 1)), (K, B3, X2D),
     tm.InvalidArgument, "conv: stride must be an int or a tuple of 2 ints", "shape"),
    ("conv bool", lambda k, b, x: ops.conv(k, b, x), (K > 0, B3 > 0, X2D > 0),
     tm.InvalidArgument, "conv: bool operands are not supported", "shape"),
    ("conv channels", lambda k, b, x: ops.conv(k, b, x, 1, 0), (K, B3, np.zeros((3, 5, 5))),
     tm.ShapeMismatch, "conv: shape mismatch", "shape"),
    ("conv kernel too big", lambda k, b, x: ops.conv(k, b, x), (K, B3, np.zeros((2, 2, 5))),
     tm.ShapeMismatch, "larger than the padded input", "shape"),
    ("conv_transpose empty output", lambda k, b, x: ops.conv_transpose(k, b, x, 1, 3),
     (np.zeros((2, 3, 3, 3)), B3, np.zeros((2, 2, 2))), tm.ShapeMismatch,
     "must be positive", "shape"),
    ("layer_norm eps", lambda x, g, b: ops.layer_norm(x, g, b, -1.0),
     (SEQ, np.ones(4), np.zeros(4)), tm.InvalidArgument, "eps must be a finite number >= 0",
     "build"),
    ("batch_norm batched", lambda x, g, b: ops.batch_norm(x, g, b, batched=1),
     (X2D, np.ones(2), np.zeros(2)), tm.InvalidArgument,
     "batched must be None, True or False; got 1 (int)", "build"),
    ("layer_norm gamma", lambda x, g, b: ops.layer_norm(x, g, b),
     (SEQ, np.ones(3), np.zeros(3)), tm.ShapeMismatch, "gamma [D]", "shape"),
    ("batch_norm layout", lambda x, g, b: ops.batch_norm(x, g, b, batched=True),
     (X2D, np.ones(2), np.zeros(2)), tm.ShapeMismatch, "(batched=True)", "shape"),
    ("attention heads 0", lambda q, k, v, o, x: ops.multi_head_attention(q, k, v, o, x, 0),
     (W, W, W, W, SEQ), tm.InvalidArgument, "num_heads must be an int >= 1; got 0", "build"),
    ("attention heads divide", lambda q, k, v, o, x: ops.multi_head_attention(q, k, v, o, x, 3),
     (W, W, W, W, SEQ), tm.ShapeMismatch, "must divide the projection widths", "shape"),
    ("attention mask dtype", lambda q, k, v, o, x, m: ops.multi_head_attention(q, k, v, o, x, 2, m),
     (W, W, W, W, SEQ, np.zeros((3, 3))), tm.ShapeMismatch, "mask must be a bool array", "shape"),
    ("dropout p", lambda x: ops.dropout(x, 1.5, 0), (SEQ,), tm.InvalidArgument,
     "dropout: p must be a number in [0, 1]; got 1.5", "build"),
    ("dropout seed", lambda x: ops.dropout(x, 0.5, -1), (SEQ,), tm.InvalidArgument,
     "seed must be an int >= 0", "build"),
    ("flatten order", lambda x: ops.flatten(x, 1, 0), (X2D,), tm.InvalidArgument,
     "start_dim (1) comes after end_dim (0)", "shape"),
    ("flatten range", lambda x: ops.flatten(x, 5), (X2D,), tm.ShapeMismatch,
     "out of range", "shape"),
    ("concat shapes", lambda a, b: ops.concat([a, b], 0), (SEQ, np.zeros((2, 3))),
     tm.ShapeMismatch, "agree on every axis but axis 0", "shape"),
    ("stack shapes", lambda a, b: ops.stack([a, b]), (SEQ, np.zeros((3, 5))),
     tm.ShapeMismatch, "same shape", "shape"),
    ("index bounds", lambda x: x[7], (SEQ,), tm.ShapeMismatch, "index 7 is out of bounds", "shape"),
    ("index fancy", lambda x: x[[0, 1]], (SEQ,), tm.InvalidArgument, "use ops.gather", "build"),
    ("gather float indices", lambda t, i: ops.gather(t, i), (W, np.zeros(2)),
     tm.InvalidArgument, "indices must have an integer dtype", "shape"),
    ("gather range", lambda t, i: ops.gather(t, i), (W, np.array([0, 4])), tm.InvalidArgument,
     "indices must be in [0, 4)", "values"),
    ("where mask dtype", lambda m, a, b: ops.where(m, a, b), (np.zeros(4), SEQ, SEQ),
     tm.InvalidArgument, "where: mask must be a bool array", "shape"),
]  # fmt: skip


def leaves(values: tuple[Any, ...]) -> tm.Gen[list[tm.Handle]]:
    """A trainable leaf per float array, a const for the rest (masks, indices)."""
    handles = []
    for v in values:
        make = tm.param if v.dtype.kind == "f" else tm.const
        handles.append((yield from make(v)))
    return handles


@tm.tapem
def existing() -> tm.Gen[tm.Handle]:
    return (yield from tm.param(np.ones(2), "earlier"))


@pytest.mark.parametrize(
    ("build", "values", "error", "message", "where"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_bad_request_fails_before_anything_is_recorded(
    build: Build, values: tuple[Any, ...], error: type, message: str, where: str
) -> None:
    tape = tm.execute(existing()).unwrap()

    @tm.tapem
    def uncaught() -> tm.Gen[Any]:
        handles = yield from leaves(values)
        return (yield build(*handles))

    result = tm.run(uncaught(), tape)
    assert isinstance(result, Failure)
    failure = result.failure()
    assert type(failure) is error, failure
    assert message in str(failure)
    assert failure.location is not None and Path(failure.location.file).name == Path(__file__).name
    assert len(tape) == 1  # the input tape is unchanged

    @tm.tapem
    def caught() -> tm.Gen[Any]:
        handles = yield from leaves(values)
        try:
            yield build(*handles)
        except tm.TapeError as raised:
            return raised
        raise AssertionError("no error")

    raised, extended = tm.run(caught(), tape).unwrap()
    assert type(raised) is error
    assert len(extended) == 1 + len(values)  # the leaves, and no node for the failing op

    handles = [tm.Handle(i, v) for i, v in enumerate(values)]
    if where == "build":  # the parameter's kind refuses it, whatever the interpreter
        with pytest.raises(error) as info:
            build(*handles)
        assert message in str(info.value)
        return
    request = build(*handles)
    avals = [tm.ShapeDtype(v.shape, v.dtype) for v in values]
    if where == "shape":  # the shape rule alone raises it, from shapes and dtypes
        with pytest.raises(error) as info:
            request.rule.shape(*avals, *request.args)
        assert message in str(info.value)
    else:  # from the values: the shape rule accepts the request
        request.rule.shape(*avals, *request.args)
