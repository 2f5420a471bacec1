"""``tm.compile``: record a loss once per signature, then replay it as plain Python.

A loss's program never sees values (handles carry an id, a shape and a dtype), so the ops it
records depend only on its arguments' structure. :func:`compile` exploits that: the first call
with a new signature runs the loss through the ordinary engine (its result is the eager one)
and builds a :class:`~tapem.replay.Plan` from the tape; later calls with the same signature run
the plan, the same rules in the same order, without generators or per-request checks.

What a signature holds, and what a replay rebinds (see :mod:`tapem.replay.arguments`,
:mod:`tapem.replay.proxy`):

* an array that reaches a leaf unchanged (``tm.param(w)``, ``tm.const(x)``, a row ``xs[i]``,
  anywhere inside the arguments) is **rebound**: each call's array is used, without a copy;
* everything else is **part of the key**, compared by value, and a change traces again: the
  structure of tuples, lists and dicts, Python numbers and strings, the shape, strides and
  dtype of every array, and the bytes of any array the program computes with
  (``tm.const(x / 255)``) or reads (``if x[0] > 0``);
* closures, globals, and objects of other kinds among the arguments (a function, a dataset)
  are **baked in** as they were when the signature was traced; what the loss reads from them
  later is not seen. Iterators and random generators are refused.

The loss's side effects (printing, appending to a list it was given) happen when it is traced,
not when it is replayed; while it is traced, its arrays are stand-ins
(:class:`~tapem.replay.ArgArray`: ``isinstance(x, np.ndarray)`` holds, ``type(x)`` and
``x is y`` see the stand-in). A loss that catches an error raised on values (``log`` of a
negative number) and goes on has a tape that depends on them: its calls run eagerly.
"""

from __future__ import annotations

import functools
import inspect
import warnings
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any, Generic, NamedTuple, ParamSpec

import numpy as np

from tapem import collector
from tapem.errors import InvalidArgument, check_int
from tapem.interpreters.debugging import Debugging
from tapem.interpreters.eager import Eager
from tapem.program import Program, is_tapem_function
from tapem.protocol import Interpreter
from tapem.replay import Plan, Recorder, Traced, Unreplayable, Usage, build
from tapem.replay.arguments import Slots, fetch, proxied, signature
from tapem.replay.reverse import Returned, watched
from tapem.transforms.gradients import (
    grads_by_key,
    run_and_reverse,
    value_and_grad,
    value_of,
    values_of,
)
from tapem.transforms.running import run_or_raise

__all__ = ["Compiled", "ReplayWarning", "compile"]

P = ParamSpec("P")

_GRADIENTS, _VALUE = "value_and_grad", "value"
_VARIANTS = 8  # plans kept per structure, for arrays the loss computes with
_WARM_UP = 8  # traces before tracing waits for replays to keep up


class ReplayWarning(UserWarning):
    """A signature could not be given a plan (which is a bug in tapem): it runs eagerly."""


class _Entry(NamedTuple):
    """A plan (``None``: run eagerly, for ``reason``) and the values it was traced with."""

    plan: Plan | None
    checks: tuple[tuple[int, tuple[Any, ...], bytes], ...]
    reason: str = ""

    def matches(self, slots: Slots) -> bool:
        for slot, keys, snapshot in self.checks:
            if np.asarray(fetch(slots, slot, keys)).tobytes() != snapshot:
                return False
        return True


class Compiled(Generic[P]):
    """A ``@tm.tapem`` loss that records once per signature and replays; see :func:`compile`.

    Calling it still makes the program (``c(*args)`` is ``loss(*args)``). ``traces`` counts
    the calls that ran the loss through the engine and built a plan, ``replays`` the calls a
    plan answered (``value_and_grad`` and ``value`` calls together).
    """

    def __init__(self, loss: Any, *, interpreter: Interpreter | None, cache_size: int) -> None:
        _check_loss(loss)
        self.loss = loss
        functools.update_wrapper(self, loss, updated=())  # its name, doc and signature
        self.debug = _check_interpreter(interpreter)
        self.cache_size = check_int("tm.compile", "cache_size", cache_size, 1, must="an int >= 1")
        self._counts = {_GRADIENTS: [0, 0], _VALUE: [0, 0]}  # traces and replays, by mode
        self._cache: OrderedDict[tuple[str, tuple[Any, ...]], list[_Entry]] = OrderedDict()
        self._entries = 0

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> Program[Any]:
        return self.loss(*args, **kwargs)  # type: ignore[no-any-return]

    @property
    def traces(self) -> int:
        """The calls that ran the loss through the engine and built a plan."""
        return sum(traces for traces, _ in self._counts.values())

    @property
    def replays(self) -> int:
        """The calls a plan answered."""
        return sum(replays for _, replays in self._counts.values())

    def __repr__(self) -> str:
        name = getattr(self.loss, "__qualname__", repr(self.loss))
        return f"<compiled {name}: {self._entries} plan(s), {self.traces} trace(s)>"

    def value_and_grad(self, *args: P.args, **kwargs: P.kwargs) -> tuple[Any, dict[str | int, Any]]:
        """Exactly ``tm.value_and_grad(loss(*args, **kwargs))``: ``(value, grads)``."""
        return self._call(_GRADIENTS, args, kwargs)  # type: ignore[no-any-return]

    def value(self, *args: P.args, **kwargs: P.kwargs) -> Any:
        """Exactly ``tm.value_of(loss(*args, **kwargs))``."""
        return self._call(_VALUE, args, kwargs)

    def plan(self, *args: P.args, **kwargs: P.kwargs) -> Plan:
        """The plan ``value_and_grad(*args, **kwargs)`` runs (tracing the signature if it is
        new): ``plan.source`` is its Python, ``plan.listing`` (or ``str(plan)``) its nodes."""
        key, slots = signature(args, kwargs)
        entry = self._lookup(_GRADIENTS, key, slots)
        if entry is None:
            self._trace(_GRADIENTS, key, slots, args, kwargs)
            entry = self._lookup(_GRADIENTS, key, slots)
        if entry is None or entry.plan is None:
            reason = entry.reason if entry is not None else "tracing is paused"
            raise InvalidArgument(f"tm.compile: this signature runs eagerly: {reason}")
        return entry.plan

    # --- calls -----------------------------------------------------------------------------------

    def _call(self, mode: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        key, slots = signature(args, kwargs)
        entry = self._lookup(mode, key, slots)
        if entry is None:
            traces, replays = self._counts[mode]
            if traces >= _WARM_UP and replays < traces:
                return self._eager(mode, args, kwargs)  # signatures keep changing
            return self._trace(mode, key, slots, args, kwargs)
        if entry.plan is None:
            return self._eager(mode, args, kwargs)
        try:
            result = entry.plan(slots)
        except Exception:  # the same error, at the same line of the loss: from eager
            return self._eager(mode, args, kwargs)
        self._counts[mode][1] += 1
        return result

    def _eager(self, mode: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        program = self.loss(*args, **kwargs)
        interpreter = self._interpreter()
        if mode == _GRADIENTS:
            return value_and_grad(program, interpreter=interpreter)
        return value_of(program, interpreter=interpreter)

    def _interpreter(self) -> Interpreter:
        return Debugging(Eager()) if self.debug else Eager()

    def _trace(
        self,
        mode: str,
        key: tuple[Any, ...],
        slots: Slots,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> Any:
        usage = Usage()
        recorder = Recorder(self._interpreter())
        try:
            proxy_args, proxy_kwargs, places = proxied(args, kwargs, usage)
            program = self.loss(*proxy_args, **proxy_kwargs)
            traced, result = _run(mode, program, recorder, slots, places)
        except Exception:
            result = self._eager(mode, args, kwargs)  # raises the eager error, if there is one
            self._store(mode, key, _Entry(None, (), "the loss could not be traced"))
            return result
        self._counts[mode][0] += 1
        try:
            if recorder.failed:
                raise Unreplayable("a request failed on its values, and the loss went on")
            with collector.paused():  # plans are acyclic, as tapes are (see tapem.collector)
                plan, reason = build(traced, debug=self.debug), ""
        except Unreplayable as error:
            plan, reason = None, str(error)
        except Exception as error:  # a bug in tapem: answer eagerly, and say so
            warnings.warn(
                ReplayWarning(f"tm.compile could not build a plan ({error!r}): eager instead"),
                stacklevel=3,
            )
            plan, reason = None, f"building its plan failed: {error!r}"
        checks = tuple((p.slot, p.keys, snapshot) for p, snapshot in usage.computed.values())
        self._store(mode, key, _Entry(plan, checks, reason))
        return result

    # --- the cache -------------------------------------------------------------------------------

    def _lookup(self, mode: str, key: tuple[Any, ...], slots: Slots) -> _Entry | None:
        bucket = self._cache.get((mode, key))
        if bucket is None:
            return None
        for entry in bucket:
            if entry.matches(slots):
                self._cache.move_to_end((mode, key))
                return entry
        return None

    def _store(self, mode: str, key: tuple[Any, ...], entry: _Entry) -> None:
        bucket = self._cache.setdefault((mode, key), [])
        self._cache.move_to_end((mode, key))
        bucket.insert(0, entry)
        self._entries += 1
        if len(bucket) > _VARIANTS:
            bucket.pop()
            self._entries -= 1
        while self._entries > self.cache_size:  # the least recently used bucket's oldest plan
            oldest_key, oldest = next(iter(self._cache.items()))
            oldest.pop()
            self._entries -= 1
            if not oldest:
                del self._cache[oldest_key]

    @property
    def cached(self) -> int:
        """How many plans (and eager-only signatures) the cache holds."""
        return self._entries


def _run(
    mode: str, program: Program[Any], recorder: Recorder, slots: Slots, places: Sequence[str]
) -> tuple[Traced, Any]:
    """Run ``program`` under ``recorder`` as ``value_and_grad`` / ``value_of`` would: what
    the trace recorded (the call's argument arrays being ``slots``, at ``places``), and the
    eager result."""
    name = getattr(program, "name", repr(program))
    if mode == _GRADIENTS:
        returned: Returned = []
        with collector.paused():  # the eager passes, each VJP noting what it returns
            view = functools.partial(watched, returned=returned)
            out, tape, keys, cotangents = run_and_reverse(program, recorder, view)
        grads = grads_by_key(keys, cotangents)
        keys = {i: key for i, key in keys.items() if key in grads}  # the plan hands out these
        traced = Traced(
            name, tape, out, cotangents, returned, keys, recorder.sources, slots, places
        )
        return traced, (tape.value(out), grads)
    result, tape = run_or_raise(program, interpreter=recorder)
    traced = Traced(name, tape, result, None, [], {}, recorder.sources, slots, places)
    return traced, values_of(result, tape)


def _check_loss(loss: Any) -> None:
    if isinstance(loss, Compiled):
        hint = "it is compiled already"
    elif is_tapem_function(loss):
        return
    elif isinstance(loss, Program):
        hint = "that is a program; pass the @tm.tapem function that made it"
    elif inspect.isgeneratorfunction(loss):
        hint = "decorate the generator function with @tm.tapem"
    else:
        hint = f"got {type(loss).__name__}"
    raise InvalidArgument(f"tm.compile takes a @tm.tapem function (a loss factory): {hint}")


def _check_interpreter(interpreter: Interpreter | None) -> bool:
    """Whether ``interpreter`` (one a replay can stand for) is the debugging one."""
    if interpreter is None or type(interpreter) is Eager:
        return False
    if (
        type(interpreter) is Debugging
        and type(interpreter.inner) is Eager
        and not interpreter.warn
        and interpreter.callback is None
    ):
        return True
    raise InvalidArgument(
        f"tm.compile replays losses run by Eager() (the default) or Debugging(Eager()), not "
        f"{interpreter!r}: a replay makes no requests, so an interpreter that observes each one "
        "(tracing, warnings, callbacks) or computes other values has nothing to see; run such a "
        "loss with tm.value_and_grad(loss(...), interpreter=...)"
    )


def compile(
    loss: Callable[P, Program[Any]],
    *,
    interpreter: Interpreter | None = None,
    cache_size: int = 64,
) -> Compiled[P]:
    """Compile ``loss`` (a ``@tm.tapem`` function): ``c.value_and_grad(*args, **kwargs)`` and
    ``c.value(...)`` return exactly what ``tm.value_and_grad(loss(*args, **kwargs))`` and
    ``tm.value_of(...)`` return, bit for bit, replaying a plan recorded at the first call of
    each signature (see the module docstring for what a signature holds).

    ``interpreter`` is ``None`` (eager) or ``Debugging(Eager())``: then a replay checks every
    value and cotangent for NaN/Inf too. Any error in a replay re-runs the call eagerly, which
    raises the eager error at the same line of the loss. At most ``cache_size`` plans are kept
    (the least recently used goes first), at most 8 per structure; after 8 traces of
    ``value_and_grad`` (or of ``value``), a new signature is traced only while its replays keep
    up with its traces (else it runs eagerly).

    >>> import numpy as np
    >>> import tapem as tm
    >>> @tm.tapem
    ... def loss(w, x):
    ...     W = yield from tm.param(w, name="w")
    ...     X = yield from tm.const(x)
    ...     return (yield tm.ops.sum((yield W * X)))
    >>> c = tm.compile(loss)
    >>> for x in (np.ones(3), np.arange(3.0)):
    ...     value, grads = c.value_and_grad(np.array([1.0, 2.0, 3.0]), x)
    >>> float(value), grads["w"].tolist(), c.traces, c.replays
    (8.0, [0.0, 1.0, 2.0], 1, 1)
    """
    return Compiled(loss, interpreter=interpreter, cache_size=cache_size)
