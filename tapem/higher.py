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

from tapem.backward import reverse
from tapem.driver import run_or_raise
from tapem.dual.core import Dual
from tapem.errors import InvalidArgument, NotScalar, ShapeMismatch
from tapem.handle import Handle
from tapem.interpreters.eager import Eager
from tapem.interpreters.forward import Forward
from tapem.interpreters.protocol import Interpreter
from tapem.program import Gen, Program, tapem
from tapem.tape import Tape, readonly
from tapem.training import param

__all__ = ["hessian", "hvp", "jacobian", "jvp", "lift", "vjp"]

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


def _run(f: Function, primals: tuple[Array, ...], interpreter: Interpreter) -> tuple[int, Tape]:
    out, tape = run_or_raise(_apply(f, primals), interpreter=interpreter)
    if not isinstance(out, Handle):
        raise TypeError(
            f"{getattr(f, '__name__', f)!r} must return the handle of a node, "
            f"got {type(out).__name__}"
        )
    return out.id, tape


def _scalar(tape: Tape, out: int) -> Any:
    value = tape._nodes[out][0]
    if np.shape(value) != ():
        raise NotScalar(out, np.shape(value))
    return value


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
    vs = _directions(tangents, xs, "tangents")
    out, tape = _run(f, xs, Forward(dict(enumerate(vs))))
    value = tape._nodes[out][0]
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
    out, tape = _run(f, xs, Eager())
    value = tape._nodes[out][0]
    seed = np.asarray(cotangent, dtype=np.result_type(value))
    if seed.shape != np.shape(value):
        raise NotScalar(out, np.shape(value), seed.shape)
    grads = reverse(tape, out, seed)
    return readonly(value), tuple(_or_zeros(grads, i, x) for i, x in enumerate(xs))


def _or_zeros(grads: list[Any], i: int, x: Array) -> Any:
    g = grads[i] if i < len(grads) else None
    return readonly(np.zeros_like(x) if g is None else g)


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
    vs = _directions(tangents, xs, "tangents")
    interp = Forward(dict(enumerate(vs)))
    out, tape = _run(f, xs, interp)
    value = _scalar(tape, out)
    grads = interp.backward(tape, out, np.ones((), dtype=np.result_type(value)))
    result = []
    for i, x in enumerate(xs):
        g = grads[i] if i < len(grads) else None
        hv = g.tangent if isinstance(g, Dual) else np.zeros_like(x)
        result.append(readonly(np.asarray(hv, dtype=x.dtype)))
    return tuple(result)


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
        columns[:, i] = hvp(f, (x0,), (_basis(x0, i),))[0].reshape(-1)
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
    out, tape = _run(f, (x0,), Eager())
    value = tape._nodes[out][0]
    out_shape = np.shape(value)
    m, n = int(np.prod(out_shape, dtype=np.int64)), x0.size
    dtype = np.result_type(value, x0)
    rows = np.zeros((m, n), dtype=dtype)
    if mode == "forward" or (mode == "auto" and n <= m):
        for i in range(n):
            rows[:, i] = np.reshape(jvp(f, (x0,), (_basis(x0, i),))[1], -1)
    else:
        for j in range(m):
            seed = np.zeros(m, dtype=np.result_type(value))
            seed[j] = 1
            grads = reverse(tape, out, seed.reshape(out_shape))
            rows[j, :] = np.reshape(_or_zeros(grads, 0, x0), -1)
    return readonly(rows.reshape(out_shape + x0.shape))
