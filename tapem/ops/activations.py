"""Activations for neural layers: ``gelu`` (exact, erf form) and ``dropout`` (explicit seed).

``gelu(x) = x/2 * (1 + erf(x/sqrt 2))``, PyTorch's default (not the tanh approximation). numpy
has no ``erf``, so :func:`erf` below is a vectorized one, accurate to a few units in the last
place in float64: Chebyshev series whose coefficients are fitted once, at import, to the
standard library's ``math.erf``/``math.erfc`` (nothing is hard-coded and nothing loops per
element):

* ``|x| < 1``: ``erf(x) = x * P(2x² - 1)``, P of degree 12 (evaluated by Horner's rule);
* ``1 <= |x| < 6``: ``erf(x) = 1 - exp(-x²) * Q(1/x) / x``, Q of degree 24 in ``1/x``
  (``exp(x²) * erfc(x) * x`` is smooth and flat there);
* ``|x| >= 6``: ``erf(x) = ±1`` (``erfc(6) < 2.2e-17``, below half an ulp of 1).

``dropout(x, p, seed)`` zeroes each element with probability ``p`` and scales the rest by
``1 / (1 - p)`` (``p = 1`` gives zeros). The mask is a pure function of ``(seed, x.shape, p)``:
the forward and the VJP both derive it from ``numpy.random.default_rng(seed)``, so the reverse
pass uses exactly the forward's mask and the tape needs to store nothing but the seed. Use a
different seed for each dropout layer and each step (the same seed gives the same mask).

>>> import math
>>> import numpy as np
>>> from tapem import ops
>>> xs = np.linspace(-7.0, 7.0, 141)
>>> assert np.allclose(erf(xs), [math.erf(v) for v in xs], rtol=1e-15, atol=1e-15)
>>> assert np.isclose(ops.gelu.forward(np.array(1.0)), 0.8413447460685429)
>>> y = ops.dropout.forward(np.ones(1000), 0.25, 7)
>>> assert set(np.unique(y)) == {0.0, 4 / 3}
>>> assert np.array_equal(ops.dropout.vjp[0](np.ones(1000), y, np.ones(1000), 0.25, 7), y)
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.polynomial import chebyshev

from tapem.ops.batch_rules import Emit
from tapem.ops.dtypes import as_float, float_dtype
from tapem.ops.elementwise import scale
from tapem.ops.opdef import OpDef, float_shape
from tapem.ops.params import PROBABILITY, SEED
from tapem.ops.selection import where

__all__ = ["dropout", "gelu"]

_W_LO, _W_HI = 1 / 6, 1.0  # the mid range 1 <= |x| < 6, as w = 1/|x|


def _fit(f: Callable[[float], float], degree: int) -> list[float]:
    """Chebyshev coefficients of ``f`` on [-1, 1], as Python floats (weak scalars keep float32
    inputs float32)."""

    def values(us: Any) -> Any:
        return np.array([f(u) for u in us])

    coefficients: Any = chebyshev.chebinterpolate(values, degree)
    return [float(c) for c in coefficients]


def _erf_over_x(u: float) -> float:
    """``erf(x) / x`` at ``x² = (u + 1) / 2`` (never 0: Chebyshev points exclude the ends)."""
    x = math.sqrt((u + 1) / 2)
    return math.erf(x) / x


def _scaled_erfc(u: float) -> float:
    """``exp(x²) * erfc(x) * x`` at ``1/x = w(u)``."""
    x = 1 / (_W_LO + (_W_HI - _W_LO) * (u + 1) / 2)
    return math.exp(x * x) * math.erfc(x) * x


# degree 12 is tame enough for the power basis (Horner: 2 operations per degree, not 4)
_SMALL = [float(c) for c in chebyshev.cheb2poly(_fit(_erf_over_x, 12))]
_MID = _fit(_scaled_erfc, 24)


def _horner(coefficients: list[float], u: Any) -> Any:
    """The polynomial ``sum(c_k u^k)``."""
    total = 0 * u + coefficients[-1]
    for c in coefficients[-2::-1]:
        total = total * u + c
    return total


def _clenshaw(coefficients: list[float], u: Any) -> Any:
    """The Chebyshev series ``sum(c_k T_k(u))``."""
    b1 = b2 = 0 * u
    for c in coefficients[:0:-1]:
        b1, b2 = 2 * u * b1 - b2 + c, b1
    return u * b1 - b2 + coefficients[0]


def erf(x: Any) -> Any:
    """The error function, elementwise, for a float array ``x`` (NaN stays NaN)."""
    size = np.abs(x)
    small = size < 1
    mid = (size >= 1) & (size < 6)
    large = ~small & ~mid  # |x| >= 6, and NaN
    out = np.zeros_like(x)
    xs = x[small]
    out[small] = xs * _horner(_SMALL, 2 * xs * xs - 1)
    xm = size[mid]
    w = 1 / xm
    tail = np.exp(-xm * xm) * _clenshaw(_MID, (2 * w - (_W_LO + _W_HI)) / (_W_HI - _W_LO)) * w
    out[mid] = np.sign(x[mid]) * (1 - tail)
    out[large] = np.sign(x[large])
    return out


_SQRT_HALF = math.sqrt(0.5)
_INV_SQRT_2PI = 1 / math.sqrt(2 * math.pi)


def _gelu(x: Any) -> Any:
    x = as_float(x)
    return 0.5 * x * (1 + erf(x * _SQRT_HALF))


def _gelu_deriv(x: Any) -> Any:
    return 0.5 * (1 + erf(x * _SQRT_HALF)) + x * np.exp(-0.5 * x * x) * _INV_SQRT_2PI


# --- dropout -----------------------------------------------------------------------------------


def _kept(shape: Any, p: float, seed: int) -> Any:
    """The dropout mask: which elements survive (the same for the same seed, shape and p)."""
    return np.random.default_rng(seed).random(shape) >= p


def _dropped(v: Any, p: float, seed: int) -> Any:
    """``v`` (shaped like ``x``) with the mask applied and the survivors scaled by
    ``1 / (1 - p)``."""
    scale = 1 / (1 - p) if p < 1 else 0.0
    return np.where(_kept(np.shape(v), p, seed), v * scale, 0)


# fmt: off
# --- neural layers: activations ----------------------------------------------------------------

gelu = OpDef("gelu", forward=_gelu, shape=float_shape,
             derivative=(lambda v, out, x: v * _gelu_deriv(x),),
             doc="x / 2 * (1 + erf(x / sqrt 2)), the exact GELU (PyTorch's default, not the tanh "
                 "approximation); ints and bools give float64.")
dropout = OpDef("dropout", params={"p": PROBABILITY, "seed": SEED}, shape=float_shape,
                forward=lambda x, p, seed: _dropped(as_float(x), p, seed),
                derivative=(lambda v, out, x, p, seed: _dropped(v, p, seed),),
                doc="x * keep / (1 - p): each element kept with probability 1 - p (zeros for "
                    "p = 1). The mask keep is a function of (seed, x's shape, p): the same seed "
                    "gives the same mask, so give each layer and step its own seed.")
# fmt: on


# --- batching rules (see tapem.ops.batch_rules) ------------------------------------------------


def _dropout_batch(emit: Emit, xs: Any, batched: Any, args: Any) -> Any:
    """Every sample gets the mask one sample gets (a function of one sample's shape, p and the
    seed): the mask as a constant, then the same selection and scaling."""
    (x,), (p, seed) = xs, args
    kept = emit.const(_kept(x.shape[1:], p, seed))
    dtype = float_dtype(x.dtype)
    scaled = emit(scale(x, 1 / (1 - p) if p < 1 else 0.0))
    return emit(where(kept, scaled, emit.const(np.zeros((), dtype=dtype))))


dropout.batch = _dropout_batch
