"""What the tests of ``tm.compile`` share: comparing a compiled call's result with eager's, bit
for bit, and a few losses."""

from __future__ import annotations

from typing import Any

import numpy as np

import tapem as tm
from tapem import ops


def same_array(got: Any, want: Any) -> None:
    """``got`` is ``want``'s twin: the same type, dtype, shape and bytes, and read-only."""
    assert type(got) is type(want), (type(got), type(want))
    if isinstance(want, np.ndarray):
        assert got.dtype == want.dtype and got.shape == want.shape, (got, want)
        assert np.array_equal(got, want, equal_nan=True) and got.tobytes() == want.tobytes()
        assert got.flags.writeable == want.flags.writeable
    else:
        assert got == want or (got != got and want != want), (got, want)


def same_result(got: tuple[Any, Any], want: tuple[Any, Any]) -> None:
    """``(value, grads)`` of a compiled call equals eager's: same keys in the same order."""
    value, grads = got
    same_array(value, want[0])
    assert list(grads) == list(want[1])
    for key in grads:
        same_array(grads[key], want[1][key])


def same_tree(got: Any, want: Any) -> None:
    """``value``'s result equals ``value_of``'s: containers alike, arrays twins."""
    assert type(got) is type(want)
    if isinstance(want, (tuple, list)):
        assert len(got) == len(want)
        for a, b in zip(got, want, strict=True):
            same_tree(a, b)
    elif isinstance(want, dict):
        assert list(got) == list(want)
        for key in want:
            same_tree(got[key], want[key])
    else:
        same_array(got, want)


@tm.tapem
def linear_loss(params: dict[str, Any], x: Any, y: Any) -> tm.Gen[tm.Handle]:
    """A batched linear regression: params, data and targets all from the arguments."""
    W = yield from tm.param(params["W"], name="W")
    b = yield from tm.param(params["b"], name="b")
    X = yield from tm.const(x)
    Y = yield from tm.const(y)
    return (yield ops.mse_loss((yield ops.linear(W, b, X)), Y))


@tm.tapem
def per_sample(w: Any, b: Any, xs: Any, ys: Any) -> tm.Gen[tm.Handle]:
    """The README's per-sample loss: mean_scalar_over the rows of xs and ys."""
    W = yield from tm.param(w, name="W")
    B = yield from tm.param(b, name="b")

    def one(sample: Any) -> tm.Gen[tm.Handle]:
        x, y = sample
        X = yield from tm.const(x)
        Y = yield from tm.const(y)
        return (yield ops.mse_loss((yield ops.linear(W, B, X)), Y))

    return (yield from tm.mean_scalar_over(list(zip(xs, ys, strict=True)), one))


def regression(seed: int, n: int = 12, d: int = 3) -> tuple[Any, Any, Any, Any]:
    rng = np.random.default_rng(seed)
    xs = rng.standard_normal((n, d))
    ys = rng.standard_normal((n, 1))
    return rng.standard_normal((1, d)), rng.standard_normal(1), xs, ys
