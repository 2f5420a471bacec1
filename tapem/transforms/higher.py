"""The functional surface: JVPs, VJPs, Hessian-vector products, Hessians and Jacobians.

``f`` is a ``@tm.tapem`` function whose positional arguments are handles. Each function below
makes every primal array a trainable leaf (in argument order, so they are nodes ``0..n-1``),
passes the handles to ``f`` and differentiates the node it returns. Primals keep their dtype
(float32 stays float32; integers and Python numbers become float64).

Higher derivatives reinterpret the program rather than differentiate the reverse pass (which is
not recorded): :func:`hvp` runs ``f`` under the forward-mode interpreter, whose values are dual
numbers, then runs the reverse pass over that tape, so every VJP rule runs on duals
(forward-over-reverse). The result is exact, with no finite differences.

These functions raise the :class:`~tapem.TapeError` of a failed run (no ``Result``).

>>> import numpy as np
>>> import tapem as tm
>>> from tapem import ops
>>> @tm.tapem
... def f(x):
...     y = yield x * x
...     return (yield ops.mean(y))
>>> assert np.allclose(tm.hessian(f, np.array([0.5, -1.2])), np.eye(2))
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from tapem.arrays import readonly
from tapem.backward import reverse, seed_for
from tapem.dual.core import Dual
from tapem.errors import InvalidArgument, ShapeMismatch
from tapem.interpreters.eager import Eager
from tapem.interpreters.forward import Forward
from tapem.program import Program
from tapem.protocol import Interpreter
from tapem.tape import Tape
from tapem.transforms import by_params
from tapem.transforms.gradients import _apply, _primals, lift, run_to_node
from tapem.transforms.products import hvp_of, per_input

__all__ = ["hessian", "hvp", "jacobian", "jvp", "lift", "vjp"]

Array = np.ndarray[Any, Any]
Function = Callable[..., Any]


def _directions(tangents: Any, primals: tuple[Array, ...], what: str) -> tuple[Array, ...]:
    ts = _primals(tangents, what)
    if len(ts) != len(primals):
        raise InvalidArgument(f"{len(primals)} primal(s) but {len(ts)} {what}")
    for k, (t, x) in enumerate(zip(ts, primals, strict=True)):
        if t.shape != x.shape:
            raise ShapeMismatch(what, [x.shape, t.shape], f"argument {k}: must match its primal")
    return tuple(t.astype(x.dtype) for t, x in zip(ts, primals, strict=True))


def _run(
    f: Function, primals: tuple[Array, ...], interpreter: Interpreter, who: str
) -> tuple[int, Tape]:
    return run_to_node(_apply(f, primals), interpreter, who, getattr(f, "__name__", f))


def jvp(f: Any, primals: Any, tangents: Any = None) -> tuple[Any, Any]:
    """``(f(*primals), J·tangents)`` by forward mode (the ops' JVP rules), exactly.

    ``jvp(program, v)`` takes a program that declares its parameters instead, and ``v`` a dict
    of directions by parameter name: ``(value, derivative of the value along v)``.

    >>> import numpy as np
    >>> import tapem as tm
    >>> @tm.tapem
    ... def f(x):
    ...     return (yield tm.ops.sin(x))
    >>> value, tangent = tm.jvp(f, (np.array([0.0, 1.0]),), (np.array([1.0, 2.0]),))
    >>> assert np.allclose(tangent, [1.0, 2 * np.cos(1.0)])
    """
    if isinstance(f, Program):
        value_and_tangent: tuple[Any, Any] = by_params.jvp_of(f, primals)
        return value_and_tangent
    xs = _primals(primals)
    return _jvp(f, xs, _directions(tangents, xs, "tangents"))


def _jvp(
    f: Function, xs: tuple[Array, ...], vs: tuple[Array, ...], who: str = "jvp"
) -> tuple[Any, Any]:
    """:func:`jvp` of primals and tangents already checked (``who`` words the errors)."""
    out, tape = _run(f, xs, Forward(dict(enumerate(vs))), who)
    value = tape.value(out)
    if isinstance(value, Dual):
        return readonly(value.primal), readonly(value.tangent)
    return readonly(value), readonly(np.zeros_like(value))


def vjp(f: Function, primals: Sequence[Any], cotangent: Any) -> tuple[Any, tuple[Any, ...]]:
    """``(f(*primals), cotangentᵀ·J)``: one cotangent per argument (zeros where ``f`` does not
    depend on it), by the reverse pass. ``cotangent`` has the output's shape.

    >>> import numpy as np
    >>> import tapem as tm
    >>> @tm.tapem
    ... def f(a, b):
    ...     return (yield a * b)
    >>> value, (da, db) = tm.vjp(f, (np.array([1.0, 2.0]), np.array([3.0, 4.0])), np.ones(2))
    >>> assert np.allclose(da, [3.0, 4.0]) and np.allclose(db, [1.0, 2.0])
    """
    xs = _primals(primals)
    out, tape = _run(f, xs, Eager(), "vjp")
    out, seed = seed_for(tape, out, cotangent)
    grads = reverse(tape, out, seed)
    return tape.value(out), tuple(per_input(grads, dict(enumerate(xs))).values())


def hvp(f: Any, primals: Any, tangents: Any = None) -> Any:
    """The Hessian of scalar ``f`` at ``primals`` times ``tangents``: one array per argument.

    ``hvp(program, v)`` takes a program that declares its parameters instead, and ``v`` a dict
    of directions by parameter name; it returns ``{name: H v}``.

    Forward-over-reverse: ``f`` runs once on dual numbers (tangents on the arguments), then the
    reverse pass runs every VJP rule on duals; the tangents of the argument cotangents are
    ``H·v``. Exact, and about the cost of a few gradient evaluations.

    >>> import numpy as np
    >>> import tapem as tm
    >>> @tm.tapem
    ... def f(x):
    ...     cube = yield x**3.0
    ...     return (yield tm.ops.sum(cube))
    >>> (hv,) = tm.hvp(f, (np.array([1.0, 2.0]),), (np.array([1.0, 1.0]),))
    >>> assert np.allclose(hv, [6.0, 12.0])  # diag(6x) v
    """
    if isinstance(f, Program):
        return by_params.hvp_of_params(f, primals)
    xs = _primals(primals)
    return _hvp(f, xs, _directions(tangents, xs, "tangents"))


def _hvp(
    f: Function, xs: tuple[Array, ...], vs: tuple[Array, ...], who: str = "hvp"
) -> tuple[Any, ...]:
    """:func:`hvp` of primals and tangents already checked (``who`` words the errors)."""
    interp, inputs = Forward(dict(enumerate(vs))), dict(enumerate(xs))
    return tuple(hvp_of(_apply(f, xs), interp, inputs, who, getattr(f, "__name__", f)).values())


def _basis(x: Array, i: int) -> Array:
    e = np.zeros(x.size, dtype=x.dtype)
    e[i] = 1
    return e.reshape(x.shape)


def hessian(f: Any, x: Any = None) -> Any:
    """The Hessian of scalar ``f`` at array ``x``: shape ``x.shape + x.shape``.

    ``hessian(program)`` takes a program that declares its parameters instead, and returns
    ``{name_i: {name_j: block of shape shape_i + shape_j}}`` (JAX's layout for a dict).

    Column ``i`` (in row-major order of ``x``'s elements) is ``hvp(f, (x,), (eᵢ,))``: one
    forward-over-reverse run per element of ``x``.

    >>> import numpy as np
    >>> import tapem as tm
    >>> @tm.tapem
    ... def f(x):
    ...     W = yield from tm.const(np.array([[1.0, 2.0], [3.0, 4.0]]))
    ...     y = yield W @ x
    ...     return (yield tm.ops.sum((yield y * y)))  # |W x|^2: Hessian 2 W^T W
    >>> H = tm.hessian(f, np.array([0.3, -0.1]))
    >>> W = np.array([[1.0, 2.0], [3.0, 4.0]])
    >>> assert np.allclose(H, 2 * W.T @ W)
    """
    if isinstance(f, Program):
        return by_params.hessian_of(f)
    (x0,) = _primals((x,))
    n = x0.size
    columns = np.zeros((n, n), dtype=x0.dtype)
    for i in range(n):
        columns[:, i] = _hvp(f, (x0,), (_basis(x0, i),), "hessian")[0].reshape(-1)
    return readonly(columns.reshape(x0.shape + x0.shape))


def jacobian(f: Any, x: Any = None, *, mode: str = "auto") -> Any:
    """The Jacobian of ``f`` at array ``x``: shape ``out.shape + x.shape``.

    ``jacobian(program)`` takes a program of a scalar loss that declares its parameters
    instead, and returns ``{name: gradient}``.

    ``mode="forward"`` builds it column by column (one JVP run per input element),
    ``"reverse"`` row by row (one run, then one reverse pass per output element); ``"auto"``
    picks forward mode when ``x`` has no more elements than the output, else reverse mode.

    >>> import numpy as np
    >>> import tapem as tm
    >>> @tm.tapem
    ... def f(x):
    ...     return (yield x * x)
    >>> J = tm.jacobian(f, np.array([1.0, 3.0]))
    >>> assert np.allclose(J, np.diag([2.0, 6.0]))
    >>> assert np.allclose(tm.jacobian(f, np.array([1.0, 3.0]), mode="reverse"), J)
    """
    if isinstance(f, Program):
        return by_params.jacobian_of(f)
    if mode not in ("auto", "forward", "reverse"):
        raise InvalidArgument(
            f"jacobian: mode must be 'auto', 'forward' or 'reverse', not {mode!r}"
        )
    (x0,) = _primals((x,))
    if mode == "forward":
        return _jacobian_by_columns(f, x0)
    out, tape = _run(f, (x0,), Eager(), "jacobian")
    value = tape.value(out)
    out_shape = np.shape(value)
    m, n = int(np.prod(out_shape, dtype=np.int64)), x0.size
    if mode == "auto" and n <= m:
        return _jacobian_by_columns(f, x0)
    rows = np.zeros((m, n), dtype=np.result_type(value, x0))
    for j in range(m):
        seed = np.zeros(m, dtype=np.result_type(value))
        seed[j] = 1
        grads = reverse(tape, out, seed.reshape(out_shape))
        rows[j, :] = np.reshape(per_input(grads, {0: x0})[0], -1)
    return readonly(rows.reshape(out_shape + x0.shape))


def _jacobian_by_columns(f: Function, x0: Array) -> Any:
    """Forward mode: one JVP run per element of ``x0`` (or one for the output's shape if none)."""
    n = x0.size
    runs = [_jvp(f, (x0,), (_basis(x0, i),), "jacobian") for i in range(n)] or [
        _jvp(f, (x0,), (np.zeros_like(x0),), "jacobian")
    ]
    value = runs[0][0]
    columns = np.zeros((np.size(value), n), dtype=np.result_type(value, x0))
    for i, (_, tangent) in enumerate(runs[:n]):
        columns[:, i] = np.reshape(tangent, -1)
    return readonly(columns.reshape(np.shape(value) + x0.shape))
