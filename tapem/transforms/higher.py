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

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from tapem.arrays import readonly
from tapem.backward import reverse, seed_for
from tapem.combinators import param
from tapem.dual.core import Dual, tangent_of
from tapem.errors import InvalidArgument, ShapeMismatch
from tapem.interpreters.eager import Eager
from tapem.interpreters.forward import Forward
from tapem.program import Gen, Program, tapem
from tapem.protocol import Interpreter
from tapem.tape import Tape
from tapem.transforms.gradients import run_to_node

__all__ = ["hessian", "hvp", "hvp_of", "jacobian", "jvp", "lift", "per_input", "vjp"]

Array = np.ndarray[Any, Any]
Function = Callable[..., Any]


def _primals(primals: Any, what: str = "primals") -> tuple[Array, ...]:
    if not isinstance(primals, (tuple, list)):
        raise TypeError(f"{what} must be a tuple (or list) of arrays, one per argument of f")
    arrays = []
    for x in primals:
        a = np.asarray(x)
        arrays.append(a if a.dtype.kind in "fc" else a.astype(np.float64))
    return tuple(arrays)


def _directions(tangents: Any, primals: tuple[Array, ...], what: str) -> tuple[Array, ...]:
    ts = _primals(tangents, what)
    if len(ts) != len(primals):
        raise InvalidArgument(f"{len(primals)} primal(s) but {len(ts)} {what}")
    for k, (t, x) in enumerate(zip(ts, primals, strict=True)):
        if t.shape != x.shape:
            raise ShapeMismatch(what, [x.shape, t.shape], f"argument {k}: must match its primal")
    return tuple(t.astype(x.dtype) for t, x in zip(ts, primals, strict=True))


@tapem
def _apply(f: Function, values: tuple[Array, ...]) -> Gen[Any]:
    handles = []
    for value in values:
        handles.append((yield from param(value)))
    return (yield from f(*handles))


def lift(f: Function, primals: Sequence[Any]) -> Program[Any]:
    """The program that makes each primal a trainable leaf (ids ``0..n-1``) and runs ``f`` on
    their handles."""
    return _apply(f, _primals(primals))


def _run(
    f: Function, primals: tuple[Array, ...], interpreter: Interpreter, who: str
) -> tuple[int, Tape]:
    return run_to_node(_apply(f, primals), interpreter, who, getattr(f, "__name__", f))


def per_input(
    grads: Sequence[Any], xs: Mapping[int, Array], part: Callable[[Any], Any] | None = None
) -> dict[int, Array]:
    """The entry of a reverse pass's ``grads`` for each input (node id -> primal), or its
    ``part`` (:func:`~tapem.dual.tangent_of` for Hessian-vector products), as a read-only array
    of the input's dtype; zeros where nothing arrived (the output does not depend on the input,
    or the input was made after the output, beyond ``grads``).

    >>> import numpy as np
    >>> grads = [np.array([1.0, 2.0]), None]
    >>> got = per_input(grads, {0: np.zeros(2), 1: np.zeros(3), 2: np.zeros(1)})
    >>> assert np.array_equal(got[0], [1.0, 2.0]) and np.array_equal(got[2], [0.0])
    """
    result = {}
    for i, x in xs.items():
        g = grads[i] if i < len(grads) else None
        if g is not None and part is not None:
            g = part(g)
        result[i] = readonly(np.zeros_like(x) if g is None else np.asarray(g, dtype=x.dtype))
    return result


def hvp_of(
    program: Program[Any],
    interpreter: Interpreter,
    xs: Mapping[int, Array],
    who: str = "hvp",
    name: object = None,
) -> dict[int, Array]:
    """H·v for each input of ``xs`` (node id -> primal), where ``interpreter`` is a
    :class:`~tapem.interpreters.Forward` (or wraps one) whose leaves carry the tangents ``v``:
    ``program`` runs on duals, then the reverse pass from its scalar output runs every VJP rule
    on duals. ``who`` and ``name`` word the error for a program that returns no handle."""
    out, tape = run_to_node(program, interpreter, who, name)
    out, seed = seed_for(tape, out, None)
    return per_input(interpreter.backward(tape, out, seed), xs, tangent_of)


def jvp(f: Function, primals: Sequence[Any], tangents: Sequence[Any]) -> tuple[Any, Any]:
    """``(f(*primals), J·tangents)`` by forward mode (the ops' JVP rules), exactly.

    >>> import numpy as np
    >>> import tapem as tm
    >>> @tm.tapem
    ... def f(x):
    ...     return (yield tm.ops.sin(x))
    >>> value, tangent = tm.jvp(f, (np.array([0.0, 1.0]),), (np.array([1.0, 2.0]),))
    >>> assert np.allclose(tangent, [1.0, 2 * np.cos(1.0)])
    """
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


def hvp(f: Function, primals: Sequence[Any], tangents: Sequence[Any]) -> tuple[Any, ...]:
    """The Hessian of scalar ``f`` at ``primals`` times ``tangents``: one array per argument.

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


def hessian(f: Function, x: Any) -> Any:
    """The Hessian of scalar ``f`` at array ``x``: shape ``x.shape + x.shape``.

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
    (x0,) = _primals((x,))
    n = x0.size
    columns = np.zeros((n, n), dtype=x0.dtype)
    for i in range(n):
        columns[:, i] = _hvp(f, (x0,), (_basis(x0, i),), "hessian")[0].reshape(-1)
    return readonly(columns.reshape(x0.shape + x0.shape))


def jacobian(f: Function, x: Any, *, mode: str = "auto") -> Any:
    """The Jacobian of ``f`` at array ``x``: shape ``out.shape + x.shape``.

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
