"""VJP and JVP rules run on array-likes that are not ndarrays (as the Hessian code's duals).

Forward-over-reverse re-runs VJP rules on a dual-number array type that implements
``__array_ufunc__`` / ``__array_function__``. :class:`Wrapped` is the smallest such type: it
delegates every numpy call to the array it wraps and wraps floating results again. A rule that
creates a cotangent buffer with ``np.zeros(shape)`` (losing the type), calls ``np.asarray``,
``.astype`` or ``float()`` on a value, or uses a function that bypasses the protocols, either
fails here or returns a plain array, and the test says which op.

Shape rules, likewise, must work on abstract values (:class:`~tapem.ShapeDtype`: a shape and a
dtype, no data), as a shape-only interpreter passes them.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from layer_cases import LAYER_CASES
from op_cases import CASES, Case

from tapem import ops
from tapem.checks.rules import differentiable_inputs
from tapem.ops import ShapeDtype


def unwrap(tree: Any) -> Any:
    if isinstance(tree, Wrapped):
        return tree.value
    if isinstance(tree, (tuple, list)):
        return type(tree)(unwrap(item) for item in tree)
    if isinstance(tree, dict):
        return {key: unwrap(item) for key, item in tree.items()}
    return tree


def wrap(value: Any) -> Any:
    """Floating arrays get wrapped; booleans and integers (masks, indices) stay plain, as a
    dual number's comparisons carry no tangent."""
    if isinstance(value, (np.ndarray, np.generic)) and value.dtype.kind == "f":
        return Wrapped(value)
    if isinstance(value, tuple):
        return tuple(wrap(item) for item in value)
    return value


class Wrapped(np.lib.mixins.NDArrayOperatorsMixin):
    """An array-like (not an ndarray) that forwards numpy's protocols to the array it holds."""

    def __init__(self, value: Any) -> None:
        self.value = value if isinstance(value, np.ndarray) else np.asarray(value)

    shape = property(lambda self: self.value.shape)
    dtype = property(lambda self: self.value.dtype)
    ndim = property(lambda self: self.value.ndim)
    size = property(lambda self: self.value.size)

    def __len__(self) -> int:
        return len(self.value)

    def __getitem__(self, key: Any) -> Any:
        return wrap(self.value[unwrap(key)])

    def __setitem__(self, key: Any, item: Any) -> None:
        self.value[unwrap(key)] = unwrap(item)

    def __array_ufunc__(self, ufunc: Any, method: str, *inputs: Any, **kwargs: Any) -> Any:
        out = kwargs.get("out")
        if out is not None:
            kwargs["out"] = unwrap(out)
        result = getattr(ufunc, method)(*unwrap(inputs), **kwargs)
        if method == "at":
            return None
        if out is not None:
            return out[0] if len(out) == 1 else out
        return wrap(result)

    def __array_function__(self, func: Any, types: Any, args: Any, kwargs: Any) -> Any:
        return wrap(func(*unwrap(args), **unwrap(kwargs)))


def _as_array(value: Any) -> np.ndarray[Any, Any]:
    return np.asarray(value.value if isinstance(value, Wrapped) else value)


NEW_OPS = sorted(LAYER_CASES)
SETTINGS = settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.mark.parametrize("name", NEW_OPS)
@SETTINGS
@given(data=st.data())
def test_rules_keep_the_cotangent_type(name: str, data: st.DataObject) -> None:
    case: Case = data.draw(CASES[name](), label="case")
    rule = ops.TABLE[name]
    xs = [np.asarray(x) for x in case.inputs]
    out = np.asarray(rule.forward(*xs, *case.args))
    rng = np.random.default_rng(0)
    g = rng.standard_normal(out.shape)
    wrapped_xs = [wrap(x) for x in xs]
    for i in differentiable_inputs(rule, xs):
        for kind, rules, v in (
            ("vjp", rule.vjp, g),
            ("jvp", rule.jvp, rng.standard_normal(xs[i].shape)),
        ):
            rule_i = rules[i]
            assert rule_i is not None
            plain = rule_i(v, out, *xs, *case.args)
            wrapped = rule_i(Wrapped(v), Wrapped(out), *wrapped_xs, *case.args)
            assert isinstance(wrapped, Wrapped), f"{name} {kind}[{i}] returned {type(wrapped)}"
            assert np.allclose(_as_array(wrapped), plain, equal_nan=True), f"{name} {kind}[{i}]"


@pytest.mark.parametrize("name", NEW_OPS)
@SETTINGS
@given(data=st.data())
def test_shape_rules_need_only_shapes_and_dtypes(name: str, data: st.DataObject) -> None:
    # what a shape-only interpreter passes: no values at all
    case: Case = data.draw(CASES[name](), label="case")
    rule = ops.TABLE[name]
    avals = [ShapeDtype(np.shape(x), np.asarray(x).dtype) for x in case.inputs]
    assert rule.shape(*avals, *case.args) == rule.shape(*case.inputs, *case.args)
