"""A custom op: declare its four rules once, use it in a program, check it. No registry.

An op is a value (an ``OpDef``): forward, one VJP and one JVP per input, and a shape rule,
declared side by side like the built-in ops. Programs use it by calling it, exactly like
``ops.tanh``; nothing global is modified, so two libraries can define ops with the same name.

Run: python examples/custom_op.py
"""

from __future__ import annotations

import numpy as np

import tapem as tm
from tapem.checks.rules import check_jvp, check_shape, check_vjp
from tapem.ops.opdef import same_shape


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


def _swish_derivative(x, beta):
    s = _sigmoid(beta * x)
    return s + beta * x * s * (1 - s)


# swish(x) = x * sigmoid(beta * x), with a static parameter beta (positional after the inputs)
swish = tm.OpDef(
    "swish",
    params=("beta",),
    defaults={"beta": 1.0},
    forward=lambda x, beta: x * _sigmoid(beta * x),
    vjp=(lambda g, out, x, beta: g * _swish_derivative(x, beta),),
    jvp=(lambda t, out, x, beta: t * _swish_derivative(x, beta),),
    shape=same_shape,
)


@tm.tapem
def loss(w, x, y):
    W = yield from tm.param(w, name="W")
    X = yield from tm.const(x)
    Y = yield from tm.const(y)
    pre = yield X @ W
    hidden = yield swish(pre, beta=1.5)  # used like any built-in op
    yhat = yield tm.ops.sum(hidden, axis=-1)
    return (yield tm.ops.mse_loss(yhat, Y))


def main() -> None:
    rng = np.random.default_rng(0)
    x, w, y = rng.standard_normal((8, 3)), rng.standard_normal((3, 4)), rng.standard_normal(8)
    value, grads = tm.value_and_grad(loss(w, x, y))
    print(f"loss {float(value):.6f}, |dL/dW| = {np.linalg.norm(grads['W']):.6f}")

    # check the rules against finite differences, as the built-in ops are checked
    sample = (rng.standard_normal((2, 3)),)
    for check in (check_vjp, check_jvp, check_shape):
        result = check(swish, sample, (1.5,))
        print(result)
        assert result.ok


if __name__ == "__main__":
    main()
