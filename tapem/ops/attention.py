"""Multi-head self-attention: ``multi_head_attention(wq, wk, wv, wo, x, num_heads, mask=None)``.

``x`` is ``[n, d]`` (one sequence, as in TorchLean) or ``[N, n, d]``. Projections multiply on the
right and have no biases: ``Q = x @ wq``, ``K = x @ wk``, ``V = x @ wv`` (``wq``, ``wk``
``[d, e]``, ``wv`` ``[d, e_v]``), each split into ``num_heads`` heads along its last axis. Per
head, ``softmax(Q Kᵀ / sqrt(e / num_heads)) V``; the heads are concatenated and multiplied by
``wo`` (``[e_v, d_out]``).

**The mask** is an optional sixth *input*, not a parameter: a handle to a boolean ``const`` of
shape ``[n, n]`` (``True`` = may attend), shared by every sequence of a batch and every head.
The op is therefore variadic: the request has five inputs without a mask and six with one, under
the one name ``multi_head_attention``, so a tape shows the mask as a parent like any other node
(and records stay plain data: no handle or array hides in the parameters). Blocked scores get
weight exactly 0; a row with nothing allowed gets all-zero weights (its output row is 0), never
NaN, and passes no gradient back.

**Per-sequence weights and masks.** For a batch ``x`` ``[N, n, d]``, any of the four weights
and the mask may carry a leading axis of size ``N`` (``wq`` ``[N, d, e]``, mask ``[N, n, n]``,
...): sequence ``i`` is then computed with its own ``wq[i]`` (or mask ``[i]``), and a weight's
gradient is one per sequence. This is how a batched run computes per-sample weights (per-sample
gradients of a transformer) in one op.

>>> import numpy as np
>>> from tapem import ops
>>> x = np.eye(2)
>>> w = np.eye(2)
>>> causal = np.array([[True, False], [True, True]])
>>> y = ops.multi_head_attention.forward(w, w, w, w, x, causal, 1)
>>> assert np.allclose(y[0], [1.0, 0.0])  # the first token only sees itself
"""

from __future__ import annotations

import inspect
import math
from typing import Any

import numpy as np

from tapem.errors import ShapeMismatch
from tapem.ops.batch_rules import Emit, merged, split
from tapem.ops.convolution import repeated
from tapem.ops.dtypes import float_dtype, result_dtype
from tapem.ops.opdef import OpDef, ShapeDtype, Variadic
from tapem.ops.params import POSITIVE_INT
from tapem.ops.reductions import _softmax, _softmax_vjp
from tapem.requests import Op, make_op

__all__ = ["multi_head_attention"]

_LAYOUT = (
    "expected wq [d, e], wk [d, e], wv [d, e_v], wo [e_v, d_out], x [n, d] or [N, n, d] "
    "and an optional bool mask [n, n]; with x [N, n, d], each weight and the mask may have a "
    "leading axis N (one per sequence)"
)


def _shape(*avals_and_heads: Any) -> ShapeDtype:
    *avals, num_heads = avals_and_heads
    shapes = [tuple(a.shape) for a in avals]
    if len(avals) not in (5, 6):
        raise ShapeMismatch("multi_head_attention", shapes, f"{_LAYOUT}; got {len(avals)} inputs")
    wq, wk, wv, wo, x = avals[:5]
    if len(x.shape) not in (2, 3) or not all(_fits(w, x, 2) for w in (wq, wk, wv, wo)):
        raise ShapeMismatch("multi_head_attention", shapes, _LAYOUT)
    d, e, e_v = x.shape[-1], wq.shape[-1], wv.shape[-1]
    fits = wq.shape[-2] == wk.shape[-2] == wv.shape[-2] == d and wk.shape[-1] == e
    if not fits or wo.shape[-2] != e_v:
        raise ShapeMismatch("multi_head_attention", shapes, _LAYOUT)
    if e == 0 or e_v == 0:
        detail = "the projection widths e and e_v must be positive"
        raise ShapeMismatch("multi_head_attention", shapes, detail)
    if e % num_heads or e_v % num_heads:
        raise ShapeMismatch(
            "multi_head_attention",
            shapes,
            f"num_heads = {num_heads} must divide the projection widths e = {e} and e_v = {e_v}",
        )
    if len(avals) == 6:
        n = x.shape[-2]
        mask = avals[5]
        if not _fits(mask, x, 2) or tuple(mask.shape[-2:]) != (n, n) or mask.dtype != np.bool_:
            each = f" or [{x.shape[0]}, {n}, {n}] (one per sequence)" if len(x.shape) == 3 else ""
            raise ShapeMismatch(
                "multi_head_attention",
                shapes,
                f"the mask must be a bool array of shape [{n}, {n}]{each} (got {mask.dtype})",
            )
    return ShapeDtype((*x.shape[:-1], wo.shape[-1]), float_dtype(result_dtype(wq, wk, wv, wo, x)))


def _fits(a: Any, x: Any, rank: int) -> bool:
    """Whether ``a`` has rank ``rank``, or one more with a leading axis one per sequence of
    ``x`` ``[N, n, d]``."""
    shape = tuple(a.shape)
    own = len(shape) == rank + 1 and len(x.shape) == 3 and shape[0] == x.shape[0]
    return len(shape) == rank or own


def _split(m: Any, heads: int) -> Any:
    """``[N, n, e]`` -> ``[N, heads, n, e / heads]``."""
    n_batch, n, e = np.shape(m)
    return np.swapaxes(np.reshape(m, (n_batch, n, heads, e // heads)), 1, 2)


def _merge(m: Any) -> Any:
    """``[N, heads, n, h]`` -> ``[N, n, heads * h]``."""
    n_batch, heads, n, h = np.shape(m)
    return np.reshape(np.swapaxes(m, 1, 2), (n_batch, n, heads * h))


def _masked_softmax(scores: Any, mask: Any | None) -> Any:
    """Softmax over the last axis, with blocked entries (and fully blocked rows) exactly 0."""
    if np.size(scores) == 0:  # an empty sequence: nothing to normalize (and no max to take)
        return scores
    if mask is None:
        return _softmax(scores)
    any_allowed = np.any(mask, axis=-1, keepdims=True)
    pivot = np.max(np.where(mask, scores, -np.inf), axis=-1, keepdims=True)
    pivot = np.where(any_allowed, pivot, 0)  # a fully blocked row has no max
    z = np.exp(np.where(mask, scores - pivot, -np.inf))  # exp(-inf) is exactly 0
    total = np.sum(z, axis=-1, keepdims=True)
    return z / np.where(any_allowed, total, 1)


class Parts:
    """The forward's intermediates, recomputed from the inputs (rules keep no state)."""

    def __init__(self, xs: tuple[Any, ...], heads: int) -> None:
        wq, wk, wv, x = xs[0], xs[1], xs[2], xs[4]
        self.single = np.ndim(x) == 2
        self.x = x[None] if self.single else x
        mask = xs[5] if len(xs) == 6 else None
        if mask is not None and np.ndim(mask) == 3:
            mask = mask[:, None]  # one mask per sequence, lined up with the scores' heads axis
        self.mask = mask
        self.heads = heads
        self.scale = 1 / math.sqrt(np.shape(wq)[-1] // heads)
        self.q = _split(np.matmul(self.x, wq), heads)
        self.k = _split(np.matmul(self.x, wk), heads)
        self.v = _split(np.matmul(self.x, wv), heads)
        scores = np.matmul(self.q, np.swapaxes(self.k, -1, -2)) * self.scale
        self.a = _masked_softmax(scores, self.mask)
        self.o = _merge(np.matmul(self.a, self.v))  # heads concatenated, [N, n, e_v]

    def out(self, y: Any) -> Any:
        return y[0] if self.single else y

    def softmax_back(self, da: Any) -> Any:
        """The cotangent of the scaled scores from that of the weights."""
        return _softmax_vjp(da, self.a) * self.scale

    def dq(self, ds: Any) -> Any:
        """The cotangent of ``Q`` (heads merged) from that of the scaled scores."""
        return _merge(np.matmul(ds, self.k))

    def dk(self, ds: Any) -> Any:
        """The cotangent of ``K`` (heads merged) from that of the scaled scores."""
        return _merge(np.matmul(np.swapaxes(ds, -1, -2), self.q))

    def dv(self, do: Any) -> Any:
        """The cotangent of ``V`` (heads merged) from that of the heads' outputs."""
        return _merge(np.matmul(np.swapaxes(self.a, -1, -2), do))


def _forward(*xs_and_heads: Any) -> Any:
    *xs, heads = xs_and_heads
    dtype = float_dtype(result_dtype(*xs[:5]))  # ints compute in floating point
    xs[:5] = [x if x.dtype.kind == "f" else x.astype(dtype) for x in xs[:5]]
    parts = Parts(tuple(xs), heads)
    return parts.out(np.matmul(parts.o, xs[3]))


def _flat(m: Any) -> Any:
    """``m`` ``[..., k]`` as ``[prod(...), k]`` (both sizes given: either may be 0)."""
    shape = np.shape(m)
    return np.reshape(m, (math.prod(shape[:-1]), shape[-1]))


def _weight_grad(a: Any, d: Any, w: Any) -> Any:
    """The cotangent of ``w`` in ``a @ w`` from ``d``, that of the product (rows of every
    sequence summed; per sequence for a weight ``[N, ...]`` of its own per sequence)."""
    if np.ndim(w) == 3:
        return np.matmul(np.swapaxes(a, -1, -2), d)
    return np.matmul(np.swapaxes(_flat(a), 0, 1), _flat(d))


def _vjp(i: int, g: Any, out: Any, *xs_and_heads: Any) -> Any:
    """Input ``i``'s cotangent, computing only what that input needs."""
    *xs, heads = xs_and_heads
    p = Parts(tuple(xs), heads)
    wq, wk, wv, wo = xs[:4]
    g = g[None] if p.single else g
    if i == 3:
        return _weight_grad(p.o, g, wo)
    do = _split(np.matmul(g, np.swapaxes(wo, -1, -2)), heads)
    if i == 2:
        return _weight_grad(p.x, p.dv(do), wv)
    ds = p.softmax_back(np.matmul(do, np.swapaxes(p.v, -1, -2)))
    if i == 0:
        return _weight_grad(p.x, p.dq(ds), wq)
    if i == 1:
        return _weight_grad(p.x, p.dk(ds), wk)
    dx = (
        np.matmul(p.dq(ds), np.swapaxes(wq, -1, -2))
        + np.matmul(p.dk(ds), np.swapaxes(wk, -1, -2))
        + np.matmul(p.dv(do), np.swapaxes(wv, -1, -2))
    )
    return p.out(dx)


def _plus(total: Any, term: Any) -> Any:
    """``total + term``, where a ``total`` of None is zero."""
    return term if total is None else total + term


def _jvp(i: int, t: Any, out: Any, *xs_and_heads: Any) -> Any:
    *xs, heads = xs_and_heads
    p = Parts(tuple(xs), heads)
    if i == 3:
        return p.out(np.matmul(p.o, t))
    tx = t[None] if p.single else t  # the tangent of x (when i == 4)

    def moved(w: int) -> Any:
        """The tangent of ``x @ xs[w]`` split into heads, or None if it is constant."""
        if i == w:
            return _split(np.matmul(p.x, t), heads)
        return _split(np.matmul(tx, xs[w]), heads) if i == 4 else None

    dq, dk, dv = moved(0), moved(1), moved(2)
    do = None  # the tangent of the heads' outputs (every input but wo moves it)
    if dq is not None or dk is not None:
        dscores = None if dq is None else np.matmul(dq, np.swapaxes(p.k, -1, -2))
        if dk is not None:
            dscores = _plus(dscores, np.matmul(p.q, np.swapaxes(dk, -1, -2)))
        do = np.matmul(p.softmax_back(dscores), p.v)  # softmax's Jacobian is symmetric
    if dv is not None:
        do = _plus(do, np.matmul(p.a, dv))
    return p.out(np.matmul(_merge(do), xs[3]))


class _Rules(Variadic):
    """The rule of each input; the mask (input 5) has none."""

    __slots__ = ()

    def __getitem__(self, i: Any) -> Any:
        return None if i == 5 else super().__getitem__(i)


class AttentionOpDef(OpDef):
    """The attention op, called with the mask as an optional keyword handle."""

    __slots__ = ()

    def __call__(self, *args: Any, **kwargs: Any) -> Op:
        """``multi_head_attention(wq, wk, wv, wo, x, num_heads, mask=None)``; ``mask`` is a
        handle to a bool ``const`` (``mask = yield from tm.const(allowed)``). Like any variadic
        op, it also takes its inputs as one sequence (the mask, if any, sixth):
        ``multi_head_attention([wq, wk, wv, wo, x], num_heads)``, as generic code calls ops."""
        if args and isinstance(args[0], (list, tuple)):
            return super().__call__(*args, **kwargs)
        return self._of_handles(*args, **kwargs)

    def _of_handles(
        self,
        wq: Any,
        wk: Any,
        wv: Any,
        wo: Any,
        x: Any,
        num_heads: int,
        mask: Any = None,
    ) -> Op:
        inputs = (wq, wk, wv, wo, x) if mask is None else (wq, wk, wv, wo, x, mask)
        return make_op(self, inputs, self.bind((num_heads,), {}))

    def _signature(self) -> inspect.Signature:
        handles = [
            inspect.Parameter(name, inspect.Parameter.POSITIONAL_ONLY)
            for name in ("wq", "wk", "wv", "wo", "x")
        ]
        keyword = inspect.Parameter.POSITIONAL_OR_KEYWORD
        rest = [
            inspect.Parameter("num_heads", keyword),
            inspect.Parameter("mask", keyword, default=None),
        ]
        return inspect.Signature([*handles, *rest], return_annotation=Op)


# fmt: off
# --- neural layers: attention -------------------------------------------------------------------

multi_head_attention = AttentionOpDef(
    "multi_head_attention", inputs=None, params={"num_heads": POSITIVE_INT},
    forward=_forward, shape=_shape, vjp=_Rules(_vjp), jvp=_Rules(_jvp),
    doc="softmax(Q Kᵀ / sqrt(e / num_heads)) V per head, heads concatenated, times wo: Q = x wq, "
        "K = x wk, V = x wv (no biases); x [n, d] or [N, n, d], wq and wk [d, e], wv [d, e_v], "
        "wo [e_v, d_out]. mask (optional) is a handle to a bool const [n, n], True where a "
        "position may attend; a row with nothing allowed gets zero weights (its output is 0). "
        "With x [N, n, d], each weight and the mask may have a leading axis N: sequence i "
        "then uses its own (wq [N, d, e], mask [N, n, n], ...).")
# fmt: on


# --- batching rules (see tapem.ops.batch_rules) ------------------------------------------------


def _attention_batch(emit: Emit, xs: Any, batched: Any, args: Any) -> Any:
    """Samples ``x`` ``[n, d]`` are the sequences of one batch ``[B, n, d]``, and per-sample
    weights and masks the op's per-sequence ones. Samples ``[N, n, d]`` are merged into one
    batch of ``B * N`` sequences: a per-sample weight (or mask) is repeated for its sample's
    ``N`` sequences, one that is per sequence already is merged like ``x``."""
    (heads,), x = args, xs[4]
    if len(x.shape) - batched[4] == 2:
        inputs = [emit.expanded(x, batched[4]) if i == 4 else v for i, v in enumerate(xs)]
        return emit(multi_head_attention(inputs, heads))
    size, count = emit.size, x.shape[-3]
    inputs = []
    for i, (v, per_sample) in enumerate(zip(xs, batched, strict=True)):
        if i == 4 or len(v.shape) - per_sample == 3:  # one per sequence of the sample
            inputs.append(merged(emit, emit.expanded(v, per_sample)))
        else:  # [d, e] (or a mask [n, n]): shared, or repeated for the sample's sequences
            inputs.append(repeated(emit, v, count) if per_sample else v)
    y = emit(multi_head_attention(inputs, heads))
    return split(emit, y, (size, count))


multi_head_attention.batch = _attention_batch
