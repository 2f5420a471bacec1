"""Bad requests to the neural-layer ops fail with a typed error before anything is recorded.

Each case builds one request from leaves. The checks: an uncaught error makes ``tm.run``
return ``Failure`` with the expected type and message, naming this file as the location, and
the input tape is unchanged; a program that catches the error ends with only its leaves on the
tape (the failing op recorded nothing); and static-parameter errors come from the shape rule,
on shapes alone.
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
CASES: list[tuple[str, Build, tuple[Any, ...], type[tm.TapeError], str, bool]] = [
    # (label, build(*handles), leaf values, error type, message fragment, static-only)
    ("pool kernel 0", lambda x: ops.max_pool(x, (0, 2)), (X2D,), tm.InvalidArgument,
     "max_pool: every kernel must be positive", True),
    ("pool stride 0", lambda x: ops.avg_pool(x, (2, 2), 0), (X2D,), tm.InvalidArgument,
     "avg_pool: every stride must be positive", True),
    ("pool stride tuple 0", lambda x: ops.max_pool(x, (2, 2), (1, 0)), (X2D,), tm.InvalidArgument,
     "stride must be positive", True),
    ("pool negative padding", lambda x: ops.max_pool(x, (2, 2), 1, -1), (X2D,),
     tm.InvalidArgument, "padding must be >= 0", True),
    ("pool int kernel", lambda x: ops.max_pool(x, 2), (X2D,), tm.InvalidArgument,
     "kernel must be a tuple", True),
    ("pool kernel length", lambda x: ops.max_pool(x, (2, 2), (1, 1, 1)), (X2D,),
     tm.InvalidArgument, "stride must be an int or a tuple of 2 ints", True),
    ("smooth beta 0", lambda x: ops.smooth_max_pool(x, (2, 2), 1, 0, 0.0), (X2D,),
     tm.InvalidArgument, "beta must be a finite non-zero number, got 0.0", True),
    ("smooth beta inf", lambda x: ops.smooth_max_pool(x, (2, 2), 1, 0, float("inf")), (X2D,),
     tm.InvalidArgument, "beta must be a finite non-zero number, got inf", True),
    ("smooth beta nan", lambda x: ops.smooth_max_pool(x, (2, 2), 1, 0, float("nan")), (X2D,),
     tm.InvalidArgument, "beta must be a finite non-zero number, got nan", True),
    ("pool window too big", lambda x: ops.max_pool(x, (2, 2)), (np.zeros((1, 1, 5)),),
     tm.ShapeMismatch, "larger than the padded input", True),
    ("pool rank", lambda x: ops.avg_pool(x, (2,)), (np.zeros(4),), tm.ShapeMismatch,
     "expected x of rank 2 ([C, *spatial]) or 3", True),
    ("conv stride 0", lambda k, b, x: ops.conv(k, b, x, 0, 0), (K, B3, X2D), tm.InvalidArgument,
     "conv: every stride must be positive", True),
    ("conv channels", lambda k, b, x: ops.conv(k, b, x, 1, 0), (K, B3, np.zeros((3, 5, 5))),
     tm.ShapeMismatch, "conv: shape mismatch", True),
    ("conv kernel too big", lambda k, b, x: ops.conv(k, b, x), (K, B3, np.zeros((2, 2, 5))),
     tm.ShapeMismatch, "larger than the padded input", True),
    ("conv_transpose empty output", lambda k, b, x: ops.conv_transpose(k, b, x, 1, 3),
     (np.zeros((2, 3, 3, 3)), B3, np.zeros((2, 2, 2))), tm.ShapeMismatch,
     "must be positive", True),
    ("layer_norm eps", lambda x, g, b: ops.layer_norm(x, g, b, -1.0),
     (SEQ, np.ones(4), np.zeros(4)), tm.InvalidArgument, "eps must be a finite number >= 0",
     True),
    ("layer_norm gamma", lambda x, g, b: ops.layer_norm(x, g, b),
     (SEQ, np.ones(3), np.zeros(3)), tm.ShapeMismatch, "gamma [D]", True),
    ("batch_norm layout", lambda x, g, b: ops.batch_norm(x, g, b, batched=True),
     (X2D, np.ones(2), np.zeros(2)), tm.ShapeMismatch, "(batched=True)", True),
    ("attention heads 0", lambda q, k, v, o, x: ops.multi_head_attention(q, k, v, o, x, 0),
     (W, W, W, W, SEQ), tm.InvalidArgument, "num_heads must be a positive int", True),
    ("attention heads divide", lambda q, k, v, o, x: ops.multi_head_attention(q, k, v, o, x, 3),
     (W, W, W, W, SEQ), tm.ShapeMismatch, "must divide the projection widths", True),
    ("attention mask dtype", lambda q, k, v, o, x, m: ops.multi_head_attention(q, k, v, o, x, 2, m),
     (W, W, W, W, SEQ, np.zeros((3, 3))), tm.ShapeMismatch, "mask must be a bool array", True),
    ("dropout p", lambda x: ops.dropout(x, 1.5, 0), (SEQ,), tm.InvalidArgument,
     "dropout: p (the probability of dropping) must be in [0, 1], got 1.5", True),
    ("dropout seed", lambda x: ops.dropout(x, 0.5, -1), (SEQ,), tm.InvalidArgument,
     "seed must be an int >= 0", True),
    ("flatten order", lambda x: ops.flatten(x, 1, 0), (X2D,), tm.InvalidArgument,
     "start_dim (1) comes after end_dim (0)", True),
    ("flatten range", lambda x: ops.flatten(x, 5), (X2D,), tm.ShapeMismatch,
     "out of range", True),
    ("concat shapes", lambda a, b: ops.concat([a, b], 0), (SEQ, np.zeros((2, 3))),
     tm.ShapeMismatch, "agree on every axis but axis 0", True),
    ("stack shapes", lambda a, b: ops.stack([a, b]), (SEQ, np.zeros((3, 5))),
     tm.ShapeMismatch, "same shape", True),
    ("index bounds", lambda x: x[7], (SEQ,), tm.ShapeMismatch, "index 7 is out of bounds", True),
    ("index fancy", lambda x: x[[0, 1]], (SEQ,), tm.InvalidArgument, "use ops.gather", False),
    ("gather float indices", lambda t, i: ops.gather(t, i), (W, np.zeros(2)),
     tm.InvalidArgument, "indices must have an integer dtype", True),
    ("gather range", lambda t, i: ops.gather(t, i), (W, np.array([0, 4])), tm.InvalidArgument,
     "indices must be in [0, 4)", False),
    ("where mask dtype", lambda m, a, b: ops.where(m, a, b), (np.zeros(4), SEQ, SEQ),
     tm.InvalidArgument, "where: mask must be a bool array", True),
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
    ("build", "values", "error", "message", "static"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_bad_request_fails_before_anything_is_recorded(
    build: Build, values: tuple[Any, ...], error: type, message: str, static: bool
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

    if static:  # the shape rule alone raises it, from shapes and dtypes
        request = build(*(tm.Handle(i, v) for i, v in enumerate(values)))
        avals = [tm.ShapeDtype(v.shape, v.dtype) for v in values]
        with pytest.raises(error) as info:
            request.rule.shape(*avals, *request.args)
        assert message in str(info.value)
