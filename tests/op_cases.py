"""Hypothesis strategies of valid inputs for every op in the table (one entry per op).

Each strategy draws a :class:`Case`: the op's input arrays (float64 unless the op needs
integers) and its static parameters, chosen inside the op's domain and away from its kinks
(``relu`` at 0, ``max`` ties, ``clamp`` bounds) so that finite differences are meaningful.
``tests/test_op_rules.py`` runs the VJP, JVP and shape checks on every entry, and fails if an
op in ``tapem.ops.TABLE`` has no entry here. The neural-network ops' strategies live in
``tests/layer_cases.py`` and are merged in at the end.

Scalar parameters are drawn as ints as well as floats (an int parameter keeps an int input
int). :func:`typed` turns any case into one with int and bool inputs (``tests/test_op_dtypes.py``
checks that the shape rules predict their dtypes).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

Strategy = st.SearchStrategy


@dataclass(frozen=True)
class Case:
    inputs: tuple[Any, ...]
    args: tuple[Any, ...] = ()

    def __repr__(self) -> str:
        shapes = ", ".join(f"{np.asarray(x).dtype}{list(np.shape(x))}" for x in self.inputs)
        return f"Case({shapes}; args={self.args})"


def shapes(min_dims: int = 0, max_dims: int = 3, min_side: int = 1, max_side: int = 4) -> Strategy:
    return hnp.array_shapes(
        min_dims=min_dims, max_dims=max_dims, min_side=min_side, max_side=max_side
    )


def values(shape: tuple[int, ...], lo: float = -2.0, hi: float = 2.0) -> Strategy:
    return hnp.arrays(np.float64, shape, elements=st.floats(lo, hi, allow_subnormal=False))


def away_from_zero(shape: tuple[int, ...], lo: float = 0.2, hi: float = 2.0) -> Strategy:
    magnitude = st.floats(lo, hi, allow_subnormal=False)
    elements = st.one_of(magnitude, magnitude.map(lambda v: -v))
    return hnp.arrays(np.float64, shape, elements=elements)


def grid(shape: tuple[int, ...], offset: float) -> Strategy:
    """Values k/5 + offset for integers k in [-10, 10]: two grids with different offsets never
    meet, and stay at least 0.1 apart (for ops with ties or kinks)."""
    return hnp.arrays(
        np.float64, shape, elements=st.integers(-10, 10).map(lambda k: k / 5 + offset)
    )


def broadcast_pair(max_dims: int = 3) -> Strategy:
    return hnp.mutually_broadcastable_shapes(
        num_shapes=2, min_dims=0, max_dims=max_dims, max_side=4
    ).map(lambda s: s.input_shapes)


@st.composite
def unary(draw: Any, lo: float = -2.0, hi: float = 2.0, args: Strategy | None = None) -> Case:
    x = draw(values(draw(shapes()), lo, hi))
    return Case((x,), draw(args) if args is not None else ())


@st.composite
def unary_away(draw: Any, args: Strategy | None = None) -> Case:
    x = draw(away_from_zero(draw(shapes())))
    return Case((x,), draw(args) if args is not None else ())


@st.composite
def binary(draw: Any, b_away_from_zero: bool = False) -> Case:
    sa, sb = draw(broadcast_pair())
    a = draw(values(sa))
    b = draw(away_from_zero(sb) if b_away_from_zero else values(sb))
    return Case((a, b))


@st.composite
def binary_no_ties(draw: Any) -> Case:
    sa, sb = draw(broadcast_pair())
    return Case((draw(grid(sa, 0.05)), draw(grid(sb, -0.05))))


@st.composite
def clamp_case(draw: Any) -> Case:
    x = draw(grid(draw(shapes()), 0.05))
    if draw(st.booleans()):  # int bounds
        lo = draw(st.integers(-2, 0))
        return Case((x,), (lo, lo + draw(st.integers(1, 2))))
    lo = draw(st.integers(-6, 0)) / 5
    hi = lo + draw(st.integers(1, 8)) / 5
    return Case((x,), (lo, hi))


def _axis(ndim: int) -> Strategy:
    if ndim == 0:
        return st.none()
    single = st.integers(-ndim, ndim - 1)
    several = st.lists(st.integers(0, ndim - 1), min_size=1, max_size=ndim, unique=True).map(tuple)
    return st.one_of(st.none(), single, several)


@st.composite
def reduction(draw: Any) -> Case:
    x = draw(values(draw(shapes())))
    return Case((x,), (draw(_axis(x.ndim)), draw(st.booleans())))


REDUCTIONS = st.sampled_from(["mean", "sum", "none"])


@st.composite
def mse_case(draw: Any) -> Case:
    sa, sb = draw(broadcast_pair())
    return Case((draw(values(sa)), draw(values(sb))), (draw(REDUCTIONS),))


@st.composite
def cross_entropy_case(draw: Any) -> Case:
    lead = draw(shapes(0, 2))
    classes = draw(st.integers(1, 5))
    logits = draw(values((*lead, classes), -3, 3))
    labels = draw(hnp.arrays(np.int64, lead, elements=st.integers(0, classes - 1)))
    return Case((logits, labels), (draw(REDUCTIONS),))


@st.composite
def linear_case(draw: Any) -> Case:
    n_in, n_out = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    lead = draw(shapes(0, 2))
    return Case((draw(values((n_out, n_in))), draw(values((n_out,))), draw(values((*lead, n_in)))))


@st.composite
def matmul_case(draw: Any) -> Case:
    m, n, p = (draw(st.integers(1, 4)) for _ in range(3))
    kind = draw(st.sampled_from(["vv", "mv", "vm", "mm", "batched"]))
    if kind == "vv":
        sa, sb = (n,), (n,)
    elif kind == "mv":
        sa, sb = (*draw(shapes(0, 1)), m, n), (n,)
    elif kind == "vm":
        sa, sb = (n,), (*draw(shapes(0, 1)), n, p)
    elif kind == "mm":
        sa, sb = (m, n), (n, p)
    else:
        batch_a, batch_b = draw(broadcast_pair(2))
        sa, sb = (*batch_a, m, n), (*batch_b, n, p)
    return Case((draw(values(sa)), draw(values(sb))))


@st.composite
def reshape_case(draw: Any) -> Case:
    x = draw(values(draw(shapes())))
    target = draw(st.sampled_from(["flat", "minus_one", "reversed", "with_ones"]))
    if target == "flat":
        shape: Any = (x.size,)
    elif target == "minus_one":
        shape = (-1,)
    elif target == "reversed":
        shape = tuple(reversed(x.shape))
    else:
        shape = (1, *x.shape, 1)
    return Case((x,), (shape,))


@st.composite
def transpose_case(draw: Any) -> Case:
    x = draw(values(draw(shapes())))
    axes = draw(st.one_of(st.none(), st.permutations(range(x.ndim)).map(tuple)))
    return Case((x,), (axes,))


scalar = st.one_of(st.floats(-3, 3, allow_subnormal=False), st.integers(-3, 3))

CASES: dict[str, Callable[[], Strategy]] = {
    # elementwise
    "add": binary,
    "sub": binary,
    "mul": binary,
    "div": lambda: binary(b_away_from_zero=True),
    "neg": unary,
    "scale": lambda: unary(args=st.tuples(scalar)),
    "shift": lambda: unary(args=st.tuples(scalar)),
    "rsub": lambda: unary(args=st.tuples(scalar)),
    "rdiv": lambda: unary_away(args=st.tuples(scalar)),
    "inv": unary_away,
    "pow": lambda: unary(
        0.5, 2.0, args=st.tuples(st.sampled_from([-2.0, -0.5, 0.0, 0.5, 1.0, 2.0, 3.0, -1, 0, 2]))
    ),
    "abs": unary_away,
    "sqrt": lambda: unary(0.1, 4.0),
    "clamp": clamp_case,
    "max": binary_no_ties,
    "min": binary_no_ties,
    "relu": unary_away,
    "exp": unary,
    "log": lambda: unary(0.1, 4.0),
    "safe_log": lambda: unary(args=st.tuples(st.sampled_from([1e-6, 0.1]))),
    "sin": unary,
    "cos": unary,
    "tanh": unary,
    "sigmoid": lambda: unary(-5.0, 5.0),
    "softplus": lambda: unary(-5.0, 5.0),
    # reductions
    "sum": reduction,
    "mean": reduction,
    "softmax_last": unary,
    "log_softmax_last": unary,
    # structural
    "reshape": reshape_case,
    "transpose": transpose_case,
    # linear algebra
    "linear": linear_case,
    "matmul": matmul_case,
    # losses
    "mse_loss": mse_case,
    "cross_entropy": cross_entropy_case,
}

from layer_cases import LAYER_CASES  # noqa: E402  (it builds on the helpers above)

CASES.update(LAYER_CASES)

# --- int and bool inputs -------------------------------------------------------------------------

DTYPES = tuple(
    np.dtype(t) for t in (np.bool_, np.int8, np.int32, np.int64, np.uint8, np.float32, np.float64)
)


def with_dtype(x: Any, dtype: np.dtype[Any]) -> Any:
    """A float input as ``dtype``: bools are ``x > 0``, ints ``round(2 x)`` (absolute values for
    unsigned ones). Other inputs (labels, indices, masks) stay as they are."""
    if x.dtype.kind != "f":
        return x
    if dtype.kind == "b":
        return x > 0
    if dtype.kind in "iu":
        ints = np.round(2 * x)
        return (np.abs(ints) if dtype.kind == "u" else ints).astype(dtype)
    return x.astype(dtype)


@st.composite
def typed(draw: Any, name: str) -> tuple[Case, Case]:
    """A float64 case of op ``name`` and the same case with some of its float inputs (at least
    one) converted to a drawn dtype."""
    case: Case = draw(CASES[name](), label="case")
    dtype = draw(st.sampled_from(DTYPES), label="dtype")
    floats = [i for i, x in enumerate(case.inputs) if x.dtype.kind == "f"]
    chosen = draw(st.lists(st.sampled_from(floats), min_size=1, unique=True), label="converted")
    inputs = tuple(with_dtype(x, dtype) if i in chosen else x for i, x in enumerate(case.inputs))
    return case, Case(inputs, case.args)
