"""The convenience surface: values and gradients, raising typed errors instead of ``Result``."""

from __future__ import annotations

from collections.abc import Callable, Generator, Mapping, Sequence
from typing import Any, overload

import numpy as np
from returns.result import Failure

from tapem import collector
from tapem.arrays import readonly
from tapem.backward import seed_for
from tapem.combinators import param, vmap
from tapem.driver import drive
from tapem.errors import InvalidArgument, NotAHandle, ShapeMismatch, TapeError
from tapem.handle import Handle
from tapem.interpreters.eager import Eager
from tapem.program import Gen, Program, is_tapem_function, tapem
from tapem.protocol import Interpreter
from tapem.replay.proxy import ArgArray
from tapem.requests import Op
from tapem.tape import Tape
from tapem.transforms.running import run_or_raise

__all__ = ["grad", "lift", "per_sample_grads", "run_to_node", "value_and_grad", "value_of"]

Grads = dict[str | int, Any]
Array = np.ndarray[Any, Any]
Function = Callable[..., Any]


def run_to_node(
    program: Program[Any], interpreter: Interpreter, who: str, name: object = None
) -> tuple[int, Tape]:
    """Run ``program`` (raising its :class:`~tapem.TapeError`) and return the id of the node
    whose handle it returned, with the new tape. A program that returns something else is a
    :class:`~tapem.NotAHandle` at the line of its ``return``; ``who`` and ``name`` (default:
    the program's) word it."""
    label = getattr(program, "name", program) if name is None else name

    def handle_only(out: Any) -> TapeError | None:
        if isinstance(out, Handle):
            return None
        return NotAHandle(f"{who} needs a program that returns the handle of a node; "
                          f"{label!r} returned {_what(out)}")  # fmt: skip

    result = drive(program, interpreter, Tape(), check_result=handle_only)
    if isinstance(result, Failure):
        raise result.failure()
    out, tape = result.unwrap()
    return out.id, tape


def _what(value: Any) -> str:
    """What a program returned instead of a handle, and how to fix it."""
    if isinstance(value, Op):
        return "an Op (a request): yield it to get its handle, `return (yield request)`"
    if value is None:
        return "None: return the handle of the loss, `return (yield ...)`"
    if isinstance(value, np.ndarray):
        return "an ndarray: a loss returns the handle of a node, built with ops on handles"
    return type(value).__name__


def param_keys(tape: Tape) -> dict[int, str | int]:
    """The key of each trainable leaf: its name, or its node id if it has none."""
    keys: dict[int, str | int] = {}
    seen: dict[str, int] = {}
    for i, (_, name, requires_grad, _, index, _) in enumerate(tape._nodes):
        if index is not None or not requires_grad:
            continue
        if name is None:
            keys[i] = i
            continue
        if name in seen:
            raise InvalidArgument(
                f"two trainable leaves are named {name!r} (nodes {seen[name]} and "
                f"{i}); give each param a distinct name so its gradient can be keyed by it"
            )
        seen[name] = i
        keys[i] = name
    return keys


@overload
def value_and_grad(
    program: Program[Any], *, interpreter: Interpreter | None = None
) -> tuple[Any, Grads]: ...


@overload
def value_and_grad(
    program: Function, *, interpreter: Interpreter | None = None, argnums: int | tuple[int, ...] = 0
) -> Callable[..., Any]: ...


def value_and_grad(
    program: Any, *, interpreter: Interpreter | None = None, argnums: int | tuple[int, ...] = 0
) -> Any:
    """Run ``program`` (a loss that declares its own ``param``\\ s) and differentiate it.

    ``value_and_grad(f)``, for a ``@tm.tapem`` function ``f`` of handles (as the functional
    API takes), returns instead the function ``(*arrays) -> (value, gradient)``, as JAX's: the
    gradient with respect to argument ``argnums`` (a tuple of them: a tuple of gradients).

    Returns ``(value, grads)``: the loss value (a read-only 0-d array) and a dict mapping each
    named ``param`` to its gradient (unnamed params by node id). A param the loss does not
    depend on has no entry. Raises the :class:`~tapem.TapeError` on failure.

    >>> import numpy as np
    >>> import tapem as tm
    >>> @tm.tapem
    ... def loss(w):
    ...     W = yield from tm.param(w, name="w")
    ...     sq = yield W * W
    ...     return (yield tm.ops.sum(sq))
    >>> value, grads = tm.value_and_grad(loss(np.array([1.0, -2.0])))
    >>> assert float(value) == 5.0 and np.allclose(grads["w"], [2.0, -4.0])
    >>> @tm.tapem
    ... def f(x):
    ...     return (yield tm.ops.sum((yield x * x)))
    >>> assert np.allclose(tm.grad(f)(np.array([1.0, -2.0])), [2.0, -4.0])
    """
    if not isinstance(program, Program):
        return _of_function(program, argnums, interpreter, with_value=True)
    with collector.paused():  # once for both passes: the collector would scan the tape between
        return _value_and_grad(program, interpreter)


def _value_and_grad(program: Program[Any], interpreter: Interpreter | None) -> tuple[Any, Grads]:
    interp = interpreter if interpreter is not None else Eager()
    out, tape, keys, cotangents = run_and_reverse(program, interp)
    return tape.value(out), grads_by_key(keys, cotangents)


def run_and_reverse(
    program: Program[Any], interpreter: Interpreter, view: Callable[[Tape], Tape] | None = None
) -> tuple[int, Tape, dict[int, str | int], list[Any]]:
    """What :func:`value_and_grad` computes: ``(out, tape, keys, cotangents)``, the output's
    node id, the tape, each parameter's key by node id (:func:`param_keys`) and the reverse
    pass's cotangents from the output. ``view(tape)``, if given, is the tape the reverse pass
    walks (``tm.compile``'s, whose VJP rules note what they return)."""
    out, tape = run_to_node(program, interpreter, "value_and_grad")
    out, seed = seed_for(tape, out, None)
    keys = param_keys(tape)
    return out, tape, keys, interpreter.backward(tape if view is None else view(tape), out, seed)


def grads_by_key(keys: Mapping[int, str | int], cotangents: Sequence[Any]) -> Grads:
    """Each parameter's gradient under its key (``keys``: by node id), read-only: the cotangent
    of its node, for the parameters that received one."""
    return {
        key: readonly(cotangents[i])
        for i, key in keys.items()
        if i < len(cotangents) and cotangents[i] is not None
    }


@overload
def grad(program: Program[Any], *, interpreter: Interpreter | None = None) -> Grads: ...


@overload
def grad(
    program: Function, *, interpreter: Interpreter | None = None, argnums: int | tuple[int, ...] = 0
) -> Callable[..., Any]: ...


def grad(
    program: Any, *, interpreter: Interpreter | None = None, argnums: int | tuple[int, ...] = 0
) -> Any:
    """The gradients of :func:`value_and_grad`, without the value (``grad(f)`` of a function
    of handles: the function ``(*arrays) -> gradient``, as JAX's)."""
    if not isinstance(program, Program):
        return _of_function(program, argnums, interpreter, with_value=False)
    return value_and_grad(program, interpreter=interpreter)[1]


def _of_function(
    f: Any, argnums: int | tuple[int, ...], interpreter: Interpreter | None, with_value: bool
) -> Callable[..., Any]:
    """JAX's ``grad(f)`` / ``value_and_grad(f)`` for a ``@tm.tapem`` function of handles."""
    if not is_tapem_function(f):
        hint = ""
        if isinstance(f, Generator):
            hint = "; decorate the generator function with @tm.tapem"
        raise InvalidArgument(
            f"expected a tapem Program, or a @tm.tapem function of handles; got "
            f"{type(f).__name__}{hint}"
        )
    many = isinstance(argnums, tuple)
    which = argnums if isinstance(argnums, tuple) else (argnums,)

    def differentiated(*primals: Any) -> Any:
        for k in which:
            if not -len(primals) <= k < len(primals):
                raise InvalidArgument(f"argnums {k} is out of range for {len(primals)} argument(s)")
        program = lift(f, primals)
        value, grads = value_and_grad(program, interpreter=interpreter)
        picked = tuple(_grad_of(grads, k % len(primals), primals) for k in which)
        result = picked if many else picked[0]
        return (value, result) if with_value else result

    return differentiated


def _grad_of(grads: Grads, k: int, primals: tuple[Any, ...]) -> Any:
    """Argument ``k``'s gradient (the lifted program's param ``k`` is node ``k``), or zeros."""
    g = grads.get(k)
    return g if g is not None else readonly(np.zeros_like(np.asarray(primals[k], dtype=float)))


def value_of(program: Program[Any], *, interpreter: Interpreter | None = None) -> Any:
    """Run ``program`` and return the value of the node it returns (no gradients).

    For a program that returns a handle, this is that node's value as a read-only array; for a
    program that returns a tuple or dict of handles, the same structure of values. Raises the
    :class:`~tapem.TapeError` on failure.

    >>> import numpy as np
    >>> import tapem as tm
    >>> @tm.tapem
    ... def double(x):
    ...     X = yield from tm.const(x)
    ...     return (yield X * 2.0)
    >>> assert np.array_equal(tm.value_of(double(np.arange(3.0))), [0.0, 2.0, 4.0])
    """
    out, tape = run_or_raise(program, interpreter=interpreter)
    return values_of(out, tape)


def values_of(out: Any, tape: Tape) -> Any:
    """What :func:`value_of` returns for a program's result ``out``: each handle's value, in
    tuples, lists and dicts rebuilt as plain ones (an argument of a compiled loss, while it is
    traced: what it stands for)."""
    if isinstance(out, Handle):
        return tape.value(out)
    if isinstance(out, tuple):
        return tuple(values_of(item, tape) for item in out)
    if isinstance(out, list):
        return [values_of(item, tape) for item in out]
    if isinstance(out, dict):
        return {key: values_of(item, tape) for key, item in out.items()}
    if type(out) is ArgArray:
        return out.value()
    return out


def per_sample_grads(
    make_program: Callable[[Any], Program[Any]],
    samples: Any,
    *,
    interpreter: Interpreter | None = None,
) -> tuple[Any, Grads]:
    """Each sample's loss and gradients, from one batched run: ``(values, grads)``.

    ``make_program(sample)`` returns the program of one sample's scalar loss, declaring its
    parameters with ``tm.param(..., name=...)`` as usual; ``samples`` is as for
    :func:`tapem.vmap`. ``values`` has shape ``[N]`` and ``grads[name]`` shape
    ``[N, *param.shape]``: row ``i`` is what ``tm.value_and_grad(make_program(samples[i]))``
    gives (up to rounding), for differential privacy, influence functions and the like. The
    program runs once over the batch, each parameter copied once per sample (so each copy's
    gradient is its sample's).

    >>> import numpy as np
    >>> import tapem as tm
    >>> @tm.tapem
    ... def loss(x):
    ...     w = yield from tm.param(np.array([1.0, 2.0]), name="w")
    ...     X = yield from tm.const(x)
    ...     return (yield tm.ops.sum((yield w * X)))
    >>> values, grads = tm.per_sample_grads(loss, np.array([[1.0, 0.0], [3.0, 4.0]]))
    >>> assert np.array_equal(values, [1.0, 11.0]) and np.array_equal(grads["w"], [[1, 0], [3, 4]])
    """
    interp = interpreter if interpreter is not None else Eager()
    with collector.paused():
        out, tape = run_to_node(_per_sample(make_program, samples), interp, "per_sample_grads")
        value = tape.value(out)
        if value.shape != (len(samples),):
            raise ShapeMismatch(
                "per_sample_grads",
                [value.shape[1:]],
                "the program must return the handle of a scalar loss",
            )
        grads = interp.backward(tape, out, np.ones_like(value))
    return value, grads_by_key(param_keys(tape), grads)


@tapem
def _per_sample(make_program: Callable[[Any], Program[Any]], samples: Any) -> Gen[Any]:
    return (yield from vmap(make_program, samples, tag="per_sample_grads", per_sample_params=True))


def _primals(primals: Any, what: str = "primals") -> tuple[Array, ...]:
    if not isinstance(primals, (tuple, list)):
        raise TypeError(f"{what} must be a tuple (or list) of arrays, one per argument of f")
    arrays = []
    for x in primals:
        a = np.asarray(x)
        arrays.append(a if a.dtype.kind in "fc" else a.astype(np.float64))
    return tuple(arrays)


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
