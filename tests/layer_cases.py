"""Hypothesis strategies for the neural-network ops (merged into ``op_cases.CASES``).

Spatial ops are drawn over 1, 2 and 3 spatial dimensions, with and without a batch axis, with
strides and paddings given as ints or per-axis tuples; sizes stay at most 4-5 per axis so the
generated suite stays fast. Max-pool and normalization inputs are *distinct* values spaced 0.1
apart (no ties for the argmax, no vanishing variance), so finite differences are meaningful.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from tapem.ops.selection import encode_key

if TYPE_CHECKING:
    from op_cases import Strategy

# op_cases imports this module to merge LAYER_CASES into CASES, so its helpers are looked up
# when a case is drawn, not at import (either module may be imported first).


def case(inputs: tuple[Any, ...], args: tuple[Any, ...] = ()) -> Any:
    from op_cases import Case

    return Case(inputs, args)


def shapes(min_dims: int = 0, max_dims: int = 3) -> Strategy:
    from op_cases import shapes as base

    return base(min_dims, max_dims)


def values(shape: tuple[int, ...], lo: float = -2.0, hi: float = 2.0) -> Strategy:
    from op_cases import values as base

    return base(shape, lo, hi)


def distinct(shape: tuple[int, ...], spacing: float = 0.1) -> Strategy:
    """Arrays of ``shape`` whose values are all different, ``spacing`` apart."""
    size = int(np.prod(shape, dtype=np.int64))
    return st.permutations(range(size)).map(
        lambda perm: ((np.array(perm, dtype=np.float64) - size / 2) * spacing).reshape(shape)
    )


def per_axis(draw: Any, sizes: list[int]) -> Any:
    """``sizes`` as an int when they agree (sometimes) or as a tuple."""
    if len(set(sizes)) == 1 and draw(st.booleans()):
        return sizes[0]
    return tuple(sizes)


@st.composite
def conv_case(draw: Any, transpose: bool = False) -> Any:
    nd = draw(st.integers(1, 3))
    side = 5 if nd < 3 else 3
    c_in, c_out = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    kernel = [draw(st.integers(1, 3)) for _ in range(nd)]
    stride = [draw(st.integers(1, 3)) for _ in range(nd)]
    padding, spatial = [], []
    for k, s in zip(kernel, stride, strict=True):
        if transpose:
            n = draw(st.integers(1, side - 1))
            padding.append(draw(st.integers(0, min(2, ((n - 1) * s + k - 1) // 2))))
        else:
            p = draw(st.integers(0, 2))
            padding.append(p)
            n = draw(st.integers(max(1, k - 2 * p), side))
        spatial.append(n)
    lead = (draw(st.integers(1, 2)),) if draw(st.booleans()) else ()
    own = lead if lead and draw(st.booleans()) else ()  # per-sample kernels and biases
    k_shape = (*own, c_in, c_out, *kernel) if transpose else (*own, c_out, c_in, *kernel)
    x = draw(values((*lead, c_in, *spatial)))
    inputs = (draw(values(k_shape)), draw(values((*own, c_out))), x)
    return case(inputs, (per_axis(draw, stride), per_axis(draw, padding)))


@st.composite
def pool_case(draw: Any, kind: str) -> Any:
    nd = draw(st.integers(1, 3))
    side = 5 if nd < 3 else 4
    kernel = tuple(draw(st.integers(1, 3)) for _ in range(nd))
    stride = [draw(st.integers(1, 3)) for _ in range(nd)]
    # mostly padding <= kernel // 2; sometimes more, which empties that axis (SPEC)
    padding = [draw(st.integers(0, k // 2 + (draw(st.integers(0, 9)) == 0))) for k in kernel]
    fits = [max(1, k - 2 * p) for k, p in zip(kernel, padding, strict=True)]
    spatial = [draw(st.integers(low, side)) for low in fits]
    lead = tuple(draw(st.integers(1, 2)) for _ in range(draw(st.integers(1, 2))))
    shape = (*lead, *spatial)
    x = draw(distinct(shape) if kind == "max" else values(shape))
    step = None if draw(st.booleans()) else per_axis(draw, stride)
    args: tuple[Any, ...] = (kernel, step, per_axis(draw, padding))
    if kind == "smooth":
        args = (*args, draw(st.sampled_from([-3.0, -0.5, 0.7, 2.0])))
    return case((x,), args)


@st.composite
def layer_norm_case(draw: Any) -> Any:
    lead = draw(shapes(0, 2))
    d = draw(st.integers(1, 5))
    x = draw(distinct((*lead, d)))
    gamma, beta = draw(values((d,))), draw(values((d,)))
    return case((x, gamma, beta), (draw(st.sampled_from([1e-5, 1e-3, 0.1])),))


@st.composite
def batch_norm_case(draw: Any) -> Any:
    c = draw(st.integers(1, 3))
    spatial = tuple(draw(st.integers(1, 3)) for _ in range(draw(st.integers(0, 2))))
    batched = draw(st.booleans())
    shape = (draw(st.integers(1, 3)), c, *spatial) if batched else (c, *spatial)
    explicit = draw(st.booleans()) or (batched and shape[0] == c)
    x = draw(distinct(shape))
    gamma, beta = draw(values((c,))), draw(values((c,)))
    eps = draw(st.sampled_from([1e-5, 1e-3, 0.1]))
    return case((x, gamma, beta), (eps, batched if explicit else None))


@st.composite
def attention_case(draw: Any) -> Any:
    heads = draw(st.integers(1, 2))
    n, d, d_out = (draw(st.integers(1, 4)) for _ in range(3))
    e, e_v = heads * draw(st.integers(1, 2)), heads * draw(st.integers(1, 2))
    lead = (draw(st.integers(1, 2)),) if draw(st.booleans()) else ()

    def own() -> tuple[int, ...]:  # one weight (or mask) per sequence, sometimes
        return lead if lead and draw(st.integers(0, 2)) == 0 else ()

    shapes = ((d, e), (d, e), (d, e_v), (e_v, d_out))
    ws = [draw(values((*own(), *s), -1, 1)) for s in shapes]
    x = draw(values((*lead, n, d), -1, 1))
    inputs: tuple[Any, ...] = (*ws, x)
    if draw(st.booleans()):  # a mask, possibly with fully blocked rows
        inputs = (*inputs, draw(hnp.arrays(np.bool_, (*own(), n, n))))
    return case(inputs, (heads,))


@st.composite
def index_case(draw: Any) -> Any:
    x = draw(values(draw(shapes(1, 3))))
    items: list[Any] = []
    for n in x.shape:
        kind = draw(st.sampled_from(["int", "slice", "slice", "full"]))
        if kind == "int":
            items.append(draw(st.integers(-n, n - 1)))
        elif kind == "slice":
            step = draw(st.sampled_from([None, 1, 2, -1]))
            start, stop = (draw(st.one_of(st.none(), st.integers(-n - 1, n + 1))) for _ in "ab")
            items.append(slice(start, stop, step))
        else:
            items.append(slice(None))
        if draw(st.integers(0, 5)) == 0:
            items.append(None)
    cut = draw(st.integers(0, len(items)))
    if draw(st.booleans()):  # replace the tail (or the head) by an Ellipsis
        items = [*items[:cut], Ellipsis] if draw(st.booleans()) else [Ellipsis, *items[cut:]]
    return case((x,), (encode_key(tuple(items)),))


@st.composite
def gather_case(draw: Any) -> Any:
    rows = draw(st.integers(1, 4))
    table = draw(values((rows, *draw(shapes(0, 2)))))
    indices = draw(hnp.arrays(np.int64, draw(shapes(0, 2)), elements=st.integers(0, rows - 1)))
    return case((table, indices))


@st.composite
def where_case(draw: Any) -> Any:
    shape_set = draw(hnp.mutually_broadcastable_shapes(num_shapes=3, max_dims=3, max_side=4))
    sm, sa, sb = shape_set.input_shapes
    return case((draw(hnp.arrays(np.bool_, sm)), draw(values(sa)), draw(values(sb))))


@st.composite
def join_case(draw: Any, new_axis: bool) -> Any:
    count = draw(st.integers(1, 3))
    base = draw(shapes(0 if new_axis else 1, 3))
    rank = len(base) + new_axis
    axis = draw(st.integers(-rank, rank - 1))
    parts = []
    for _ in range(count):
        shape = list(base)
        if not new_axis:
            shape[axis % rank] = draw(st.integers(1, 3))
        parts.append(draw(values(tuple(shape))))
    return case(tuple(parts), (axis,))


@st.composite
def flatten_case(draw: Any) -> Any:
    x = draw(values(draw(shapes(0, 4))))
    rank = max(x.ndim, 1)
    start = draw(st.integers(-rank, rank - 1))
    end = draw(st.integers(start % rank, rank - 1))
    return case((x,), (start, end if draw(st.booleans()) else end - rank))


@st.composite
def dropout_case(draw: Any) -> Any:
    x = draw(values(draw(shapes())))
    return case((x,), (draw(st.sampled_from([0.0, 0.3, 0.5, 1.0])), draw(st.integers(0, 2**32))))


@st.composite
def gelu_case(draw: Any) -> Any:
    return case((draw(values(draw(shapes()), -8.0, 8.0)),))


LAYER_CASES: dict[str, Callable[[], Strategy]] = {
    "conv": conv_case,
    "conv_transpose": lambda: conv_case(transpose=True),
    "max_pool": lambda: pool_case("max"),
    "avg_pool": lambda: pool_case("avg"),
    "smooth_max_pool": lambda: pool_case("smooth"),
    "layer_norm": layer_norm_case,
    "batch_norm": batch_norm_case,
    "multi_head_attention": attention_case,
    "flatten": flatten_case,
    "concat": lambda: join_case(new_axis=False),
    "stack": lambda: join_case(new_axis=True),
    "index": index_case,
    "gather": gather_case,
    "where": where_case,
    "gelu": gelu_case,
    "dropout": dropout_case,
}
