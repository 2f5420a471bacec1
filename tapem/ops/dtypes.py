"""Which dtype an op computes in: the dtype rules its shape rule states and its forward keeps.

tapem follows numpy's promotion, with two changes that PyTorch makes too:

* An op that computes in floating point (``exp``, ``div``, ``mean``, the softmaxes, the norms,
  ...) gives float64 for int and bool inputs (numpy would give float16 for int8 and bool,
  float32 for int16), and keeps a float dtype as it is.
* A Python number beside an array takes the array's kind when it can (numpy's NEP 50:
  ``int8 * 2`` is int8, ``int8 * 2.0`` float64, ``float32 * 2.0`` float32); an int that does not
  fit the array's integer dtype is an :class:`~tapem.InvalidArgument` (numpy refuses it too).

Where numpy refuses a dtype (``-x`` of a bool ``x``), the op's shape rule raises a typed
:class:`~tapem.InvalidArgument` instead, under every interpreter (:func:`refusal`).

>>> import numpy as np
>>> with_scalars("scale", np.dtype(np.int8), 2)
dtype('int8')
>>> with_scalars("scale", np.dtype(np.int8), 2.0)
dtype('float64')
>>> sum_dtype(np.dtype(np.int32)), float_dtype(np.dtype(np.uint8))
(dtype('int64'), dtype('float64'))
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeAlias

import numpy as np

from tapem.errors import InvalidArgument, TapeError

__all__ = [
    "DtypeRule",
    "as_float",
    "float_dtype",
    "on_floats",
    "product_dtype",
    "refusal",
    "result_dtype",
    "sum_dtype",
    "with_scalars",
]

DtypeRule: TypeAlias = Callable[..., Any]
"""``rule(*input_dtypes, *params) -> dtype``: an elementwise op's output dtype; raises
:class:`~tapem.InvalidArgument` for dtypes (or parameters) the op refuses. It must give a float
dtype back unchanged (for equal operands): interpreters skip the shape rule then."""

_INT = np.dtype(np.int_)
_UINT = np.dtype(np.uint)
_FLOAT = np.dtype(np.float64)


def result_dtype(*avals: Any) -> np.dtype[Any]:
    """The dtype numpy gives an elementwise op on these operands."""
    first = avals[0].dtype
    for a in avals:
        if a.dtype != first:
            return np.result_type(*(a.dtype for a in avals))
    return first  # type: ignore[no-any-return]


def product_dtype(op: str, *avals: Any) -> Any:
    """The dtype of sums of products of ``avals`` (matmul, linear, conv): numpy's promotion,
    except that bool operands alone are an :class:`~tapem.InvalidArgument` (numpy would
    compute a logical product; PyTorch refuses them)."""
    dtype = result_dtype(*avals)
    if dtype.kind == "b":
        raise InvalidArgument(
            f"{op}: bool operands are not supported (numpy would compute a logical product); "
            "give them a numeric dtype",
            op=op,
        )
    return dtype


def float_dtype(dtype: Any, *params: Any) -> Any:
    """The dtype an op that computes in floating point gives: ``dtype`` itself if it is a
    float dtype, float64 otherwise (ints and bools), whatever the parameters."""
    return dtype if dtype.kind == "f" else _FLOAT


def sum_dtype(dtype: Any) -> Any:
    """The dtype of numpy's sum: bools and ints narrower than the default int give the default
    int (int64), unsigned ones the default unsigned int; other dtypes stay."""
    if dtype.kind == "b" or (dtype.kind == "i" and dtype.itemsize < _INT.itemsize):
        return _INT
    if dtype.kind == "u" and dtype.itemsize < _UINT.itemsize:
        return _UINT
    return dtype


def with_scalars(op: str, dtype: Any, *scalars: Any) -> Any:
    """The dtype of an elementwise op of an array of ``dtype`` and the Python numbers
    ``scalars`` (the static parameters), as numpy computes it; an int that does not fit an
    integer result is an :class:`~tapem.InvalidArgument`."""
    result = np.result_type(dtype, *scalars)
    if result.kind in "iu":
        info = np.iinfo(result)
        for c in scalars:
            if isinstance(c, int) and not info.min <= c <= info.max:
                raise InvalidArgument(
                    f"{op}: {c} does not fit the input's dtype {result} (it holds "
                    f"{info.min} to {info.max}); give the input a wider dtype, or a float "
                    "parameter to compute in floating point",
                    op=op,
                )
    return result


def as_float(x: Any) -> Any:
    """``x`` itself if its dtype is a float dtype, else ``x`` converted to float64 (forward
    rules only: a VJP must not convert a cotangent)."""
    return x if x.dtype.kind == "f" else x.astype(_FLOAT)


def on_floats(f: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """The forward of a one-input op that computes ``f`` in floating point: ``f(x)`` for a
    float ``x``, ``f`` of ``x`` converted to float64 otherwise; the dtype :func:`float_dtype`
    predicts."""

    def forward(x: Any) -> Any:
        dtype = x.dtype
        if dtype is _FLOAT or dtype.kind == "f":  # (float64 first: the identity is cheapest)
            return f(x)
        return f(x.astype(_FLOAT))

    return forward


def refusal(error: Exception, shape: Callable[..., Any], *args: Any) -> Exception:
    """The typed error the shape rule ``shape`` raises for ``args`` (inputs, then parameters),
    or ``error`` itself if the rule accepts them.

    A forward that numpy refuses (``-x`` for a bool ``x``) raises this, so that the refusal is
    the shape rule's typed error even where the recording path skipped the rule (an
    elementwise op on equal shapes): ``raise refusal(error, neg.shape, x) from None``.
    """
    try:
        shape(*args)
    except TapeError as typed:
        return typed
    return error
