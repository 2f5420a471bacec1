"""The loss the training tests share: least squares of a linear model, ``fit``'s ``loss_fn``."""

from __future__ import annotations

from typing import Any

import tapem as tm
from tapem import ops


@tm.tapem
def least_squares(params: dict[str, Any], batch: Any) -> tm.Gen[tm.Handle]:
    x, y = batch
    W = yield from tm.param(params["W"], name="W")
    b = yield from tm.param(params["b"], name="b")
    X = yield from tm.const(x)
    Y = yield from tm.const(y)
    return (yield ops.mse_loss((yield ops.linear(W, b, X)), Y))
