"""Linear algebra: ``linear`` (W x + b, PyTorch's weight layout) and ``matmul``.

Integer operands multiply as integers (numpy's promotion); two bool operands are refused
(numpy would compute a logical product, PyTorch refuses them). Zero-size axes work as in
PyTorch: with no input features, ``linear`` gives ``b`` and zero gradients for ``W`` and ``x``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from tapem.errors import ShapeMismatch
from tapem.ops.batch_rules import Emit
from tapem.ops.dtypes import product_dtype
from tapem.ops.elementwise import add
from tapem.ops.opdef import OpDef, ShapeDtype, broadcast_shapes, pass_through
from tapem.ops.structural import transpose
from tapem.requests import make_op

__all__ = ["linear", "matmul"]


def _linear_shape(W: Any, b: Any, x: Any) -> ShapeDtype:
    ws, bs, xs = W.shape, b.shape, x.shape
    if len(ws) != 2 or len(bs) != 1 or bs[0] != ws[0] or not xs or xs[-1] != ws[1]:
        detail = "expected W [out, in], b [out], x [..., in]"
        raise ShapeMismatch("linear", [ws, bs, xs], detail)
    dtype = W.dtype
    if b.dtype != dtype or x.dtype != dtype or dtype.kind == "b":
        dtype = product_dtype("linear", W, b, x)
    return ShapeDtype((*xs[:-1], ws[0]), dtype)


def _linear(W: Any, b: Any, x: Any) -> Any:
    if x.ndim == 1:  # one sample: the method skips numpy's function dispatch, a third of the cost
        return (W.dot(x) if W.__class__ is np.ndarray else np.dot(W, x)) + b
    out = np.dot(x, W.T) if x.ndim == 2 else np.matmul(x, W.T)
    if out.size >= 4096 and out.dtype == b.dtype:
        out += b  # ``out`` is ours: in place saves a large temporary
        return out
    return out + b  # for small outputs a new array is cheaper than an in-place ufunc call


def _rows(a: Any) -> Any:
    """``a`` ``[..., n]`` as the matrix ``[prod(...), n]`` (both sizes given: -1 cannot stand
    for either when the other is 0)."""
    shape = np.shape(a)
    return np.reshape(a, (math.prod(shape[:-1]), shape[-1]))


def _linear_dW(g: Any, out: Any, W: Any, b: Any, x: Any) -> Any:  # noqa: N802
    if x.ndim == 1:
        if g.__class__ is np.ndarray and x.__class__ is np.ndarray:
            return g[:, None].dot(x[None])  # the outer product: half the cost of broadcasting
        return g[:, None] * x
    return np.matmul(_rows(g).T, _rows(x))


def _linear_jvp_W(t: Any, out: Any, W: Any, b: Any, x: Any) -> Any:  # noqa: N802
    return np.matmul(x, t.T)


def _matmul_shape(a: Any, b: Any) -> ShapeDtype:
    shapes = [a.shape, b.shape]
    dtype = product_dtype("matmul", a, b)
    if len(a.shape) == 0 or len(b.shape) == 0:
        raise ShapeMismatch("matmul", shapes, "matmul needs operands of rank >= 1")
    k_a = a.shape[-1]
    k_b = b.shape[0] if len(b.shape) == 1 else b.shape[-2]
    if k_a != k_b:
        raise ShapeMismatch("matmul", shapes, f"contracted sizes differ ({k_a} vs {k_b})")
    if len(a.shape) == 1 and len(b.shape) == 1:
        return ShapeDtype((), dtype)
    if len(b.shape) == 1:
        return ShapeDtype(a.shape[:-1], dtype)
    if len(a.shape) == 1:
        return ShapeDtype((*b.shape[:-2], b.shape[-1]), dtype)
    batch = broadcast_shapes("matmul", a.shape[:-2], b.shape[:-2])
    return ShapeDtype((*batch, a.shape[-2], b.shape[-1]), dtype)


def _outer(column: Any, row: Any) -> Any:
    """``column [..., n, 1] @ row [..., 1, p]``: products of single terms, so no sum and no
    matmul per item; einsum writes them twice as fast as broadcasting (for arrays; duals and
    other array-likes broadcast)."""
    if column.__class__ is np.ndarray and row.__class__ is np.ndarray:
        return np.einsum("...ik,...kj->...ij", column, row)
    return column * row


def _matmul_da(g: Any, out: Any, a: Any, b: Any) -> Any:
    if np.ndim(b) == 1:  # out[...] = a[..., n] . b[n]
        return np.expand_dims(g, -1) * b
    if np.ndim(a) == 1:  # out[..., p] = a[n] . b[..., n, p]
        return np.squeeze(np.matmul(b, np.expand_dims(g, -1)), -1)
    if np.shape(b)[-1] == 1:  # nothing to sum over: outer products, without a matmul per item
        return _outer(g, np.swapaxes(b, -1, -2))
    return np.matmul(g, np.swapaxes(b, -1, -2))


def _matmul_db(g: Any, out: Any, a: Any, b: Any) -> Any:
    if np.ndim(b) == 1:
        return np.expand_dims(g, -1) * a
    if np.ndim(a) == 1:
        return np.expand_dims(a, -1) * np.expand_dims(g, -2)
    if np.shape(a)[-2] == 1:  # nothing to sum over (a row times a matrix, per item: the
        return _outer(np.swapaxes(a, -1, -2), g)  # per-sample weights' case)
    return np.matmul(np.swapaxes(a, -1, -2), g)


# fmt: off
linear = OpDef("linear", inputs=("W", "b", "x"), forward=_linear, shape=_linear_shape,
               vjp=(_linear_dW,
                    pass_through,
                    lambda g, out, W, b, x: np.matmul(g, W)),
               jvp=(_linear_jvp_W,
                    lambda t, out, W, b, x: t,
                    lambda t, out, W, b, x: np.matmul(t, W.T)),
               doc="W x + b, with PyTorch's layout: W [out, in], b [out], x [in] or "
                   "[..., in] (leading batch axes), giving [out] or [..., out].")
matmul = OpDef("matmul", inputs=("a", "b"), forward=np.matmul, shape=_matmul_shape,
               vjp=(_matmul_da, _matmul_db),
               jvp=(lambda t, out, a, b: np.matmul(t, b), lambda t, out, a, b: np.matmul(a, t)),
               doc="a @ b, as numpy's matmul: [m, n] @ [n, p] gives [m, p]; a vector operand "
                   "[n] is a row (first) or a column (second); leading batch axes broadcast. "
                   "What ``a @ b`` builds.")
# fmt: on


# --- batching rules (see tapem.ops.batch_rules) ------------------------------------------------


def _linear_batch(emit: Emit, xs: Any, batched: Any, args: Any) -> Any:
    W, b, x = xs
    if not batched[0] and not batched[1]:  # shared weights: one linear over the leading axes
        return emit(linear(W, b, x))
    # per-sample weights (per-sample gradients): x's rows times each sample's W^T, one matmul
    size, out = emit.size, W.shape[-2]
    lead = x.shape[1:-1] if batched[2] else x.shape[:-1]
    rows = (size, math.prod(lead)) if batched[2] else (math.prod(lead),)
    x_rows = emit.reshape(x, (*rows, x.shape[-1]))
    Wt = emit(make_op(transpose, (W,), ((0, 2, 1) if batched[0] else (1, 0),)))
    y = emit(matmul(x_rows, Wt))  # [N, rows, out] (or [rows, out]: b brings the batch axis)
    bias = emit.reshape(b, (size, 1, out)) if batched[1] else b
    return emit.reshape(emit(add(y, bias)), (size, *lead, out))


def _matmul_batch(emit: Emit, xs: Any, batched: Any, args: Any) -> Any:
    a, b = xs
    sa = a.shape[1:] if batched[0] else a.shape
    sb = b.shape[1:] if batched[1] else b.shape
    if batched[0] and not batched[1] and len(sa) >= 1 and len(sb) <= 2:
        return emit(matmul(a, b))  # the sample's rows (or its vector) times a shared matrix
    if batched[1] and not batched[0] and len(sa) == 2 and len(sb) == 1:
        at = emit(make_op(transpose, (a,), ((1, 0),)))  # a shared matrix times each vector:
        return emit(matmul(b, at))  # the vectors as rows, times its transpose
    # Vectors as matrices (a row first, a column second), and every batched operand with as
    # many axes per sample as the other, so that the batch axis broadcasts in front of the
    # sample's own (a shared operand's axes line up on the right, as numpy's do).
    ma = (1, *sa) if len(sa) == 1 else sa
    mb = (*sb, 1) if len(sb) == 1 else sb
    rank = max(len(ma), len(mb))

    def matrix(x: Any, shape: tuple[int, ...], is_batched: bool) -> Any:
        if is_batched:
            return emit.reshape(x, (emit.size, *(1,) * (rank - len(shape)), *shape))
        return emit.reshape(x, shape)

    y = emit(matmul(matrix(a, ma, batched[0]), matrix(b, mb, batched[1])))
    one = _matmul_shape(ShapeDtype(sa, a.dtype), ShapeDtype(sb, b.dtype))
    return emit.reshape(y, (emit.size, *one.shape))


linear.batch = _linear_batch
matmul.batch = _matmul_batch
