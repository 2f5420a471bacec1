"""The tracing interpreter: a record of every request, as a listing or a Graphviz graph."""

from __future__ import annotations

from collections.abc import Callable, Sized
from typing import Any

import numpy as np

from tapem.backward import CotangentCheck, gradient_dict
from tapem.errors import TapeError
from tapem.handle import Handle
from tapem.interpreters import trace_format
from tapem.interpreters.trace_format import TraceEntry
from tapem.ops.opdef import OpDef
from tapem.protocol import Interpreter, Wrapper
from tapem.requests import Leaf, Op, Request
from tapem.sites import NO_SITE, RawSite, Site, locate
from tapem.tape import Tape

__all__ = ["TraceEntry", "Tracing"]


class _Log:
    """A trace as it is recorded: a flat list, :data:`STRIDE` items per request.

    ``(rule, input ids, args, out id, shape, dtype, code, offset)``; a leaf has ``None`` as its
    rule and ``(name, requires_grad)`` as its args; a failed request has ``-1`` as its output,
    and its request and error in ``failures``. Items are plain or shared objects, appended with
    one ``extend`` per request: no per-request container survives for the cyclic garbage
    collector to track (a tuple per request holding an ``OpDef`` or a dtype would stay tracked
    for good and slow every collection).
    """

    __slots__ = ("failures", "items", "values")
    STRIDE = 8

    def __init__(self) -> None:
        self.items: list[Any] = []
        self.values: list[Any] = []
        self.failures: dict[int, tuple[Request, BaseException]] = {}

    def __len__(self) -> int:
        return len(self.items) // self.STRIDE


class Tracing(Wrapper):
    """Record each request ``inner`` serves, without changing any value, tape or gradient.

    For each request it keeps the op (or leaf), input ids, output id, shape, dtype, the user's
    ``file:line`` and function, and (with ``values=True``) the value. After a run,
    :attr:`entries` holds them, :meth:`listing` renders one line per node and :meth:`dot`
    a Graphviz graph. After a reverse pass through this interpreter (``value_and_grad(...,
    interpreter=tracer)``), the listing and graph can show each node's gradient norm.
    Requests that failed are recorded too (with their error), so a trace of a failed run shows
    how far it got. Each run starts a new trace.

    >>> import numpy as np
    >>> import tapem as tm
    >>> from tapem.interpreters import Eager, Tracing
    >>> @tm.tapem
    ... def f():
    ...     x = yield from tm.param(np.array([1.0, 2.0]), name="x")
    ...     y = yield x * x
    ...     return (yield tm.ops.sum(y))
    >>> tracer = Tracing(Eager())
    >>> value, grads = tm.value_and_grad(f(), interpreter=tracer)
    >>> [(e.out, e.op, e.inputs, e.shape) for e in tracer.entries]
    [(0, 'leaf', (), (2,)), (1, 'mul', (0, 0), (2,)), (2, 'sum', (1,), ())]
    >>> print(tracer.listing(locations=False, grads=True))
    %0:f64[2] = param 'x'  |grad|=4.472
    %1:f64[2] = mul %0 %0  |grad|=1.414
    %2:f64[]  = sum %1     |grad|=1
    """

    def __init__(self, inner: Interpreter, *, values: bool = False) -> None:
        super().__init__(inner)
        self.values = values
        self._log = _Log()
        self._items = self._log.items  # the hot path appends here
        self._site = Site(None)
        self._raw_site: Callable[[], RawSite | None] = self._site.raw
        self._nodes: Sized = ()
        self._grads: list[Any] | None = None
        self._backward_out: int | None = None

    # --- the interpreter hooks ------------------------------------------------------------------

    def begin(self, tape: Tape, site: Site) -> None:
        self._log = _Log()
        self._items = self._log.items
        self._grads = None
        self._backward_out = None
        self._site = site
        self._raw_site = site.raw
        self._nodes = site.nodes
        self.inner.begin(tape, site)

    def leaf(self, request: Leaf) -> Any:
        try:
            value = self.inner.leaf(request)
        except Exception as error:
            self._failed(None, (), (request._name, request._requires_grad), request, error)
            raise
        code, offset = self._raw_site() or NO_SITE
        leaf = (request._name, request._requires_grad)
        out = len(self._nodes)
        self._items.extend((None, (), leaf, out, value.shape, value.dtype, code, offset))
        if self.values:
            self._log.values.append(value)
        return value

    def refused(self, request: Op, error: TapeError) -> None:
        self._failed(request._rule, _ids(request._inputs), request._args, request, error)
        super().refused(request, error)

    def op(self, request: Op, xs: tuple[Any, ...]) -> Any:
        try:
            value = self.inner.op(request, xs)
        except Exception as error:
            self._failed(request._rule, _ids(request._inputs), request._args, request, error)
            raise
        inputs = request._inputs
        n = len(inputs)
        if n == 2:
            ids: tuple[int, ...] = (inputs[0].id, inputs[1].id)
        elif n == 1:
            ids = (inputs[0].id,)
        else:
            ids = _ids(inputs)
        code, offset = self._raw_site() or NO_SITE
        out = len(self._nodes)
        row = (request._rule, ids, request._args, out, value.shape, value.dtype, code, offset)
        self._items.extend(row)
        if self.values:
            self._log.values.append(value)
        return value

    def _failed(
        self,
        rule: OpDef | str | None,
        ids: tuple[int, ...],
        args: tuple[Any, ...],
        request: Request,
        error: BaseException,
    ) -> None:
        log = self._log
        log.failures[len(log)] = (request, error)
        log.items.extend((rule, ids, args, -1, None, None, *(self._raw_site() or NO_SITE)))
        if self.values:
            log.values.append(None)

    def backward(
        self, tape: Tape, out: int, seed: Any, check: CotangentCheck | None = None
    ) -> list[Any]:
        grads = super().backward(tape, out, seed, check)
        self._grads = grads
        self._backward_out = out
        return grads

    # --- reading the trace ----------------------------------------------------------------------

    @property
    def entries(self) -> list[TraceEntry]:
        """The requests of the last run, in order (a new list on each access)."""
        return _entries(self._log)

    @property
    def grads(self) -> dict[int, Any] | None:
        """The cotangents of the last reverse pass by node id (read-only), or ``None``."""
        return None if self._grads is None else gradient_dict(self._grads)

    def listing(
        self, *, values: bool | None = None, grads: bool = False, locations: bool = True
    ) -> str:
        """One line per request: ``%5:f64[] = mse_loss %4 %3   # file.py:21 in per_sample``.

        Leaves show as ``param 'name'`` (``requires_grad=True``) or ``const``; an op's static
        parameters follow its inputs (only those that differ from the op's defaults). A failed
        request shows as ``%? = ...``, followed by a line ``!! Error: message``. ``values``
        adds each value (default: when the tracer keeps values); ``grads`` adds each node's
        gradient norm (it needs a reverse pass through this tracer); ``locations=False`` leaves
        out the source lines.
        """
        show_values = self.values if values is None else values
        if show_values and not self.values:
            raise ValueError("this tracer kept no values: trace with Tracing(inner, values=True)")
        rules = self._log.items[:: _Log.STRIDE]
        defaults = {r.name: r.defaults for r in rules if isinstance(r, OpDef)}
        return trace_format.listing(
            self.entries,
            defaults=defaults,
            values=show_values,
            grads=self._require_grads() if grads else None,
            locations=locations,
        )

    def dot(self, *, out: int | None = None, grads: bool | None = None) -> str:
        """The trace as a Graphviz DOT graph (text; render it with ``dot -Tsvg``).

        Nodes are labelled ``id: op`` with their shape. Trainable leaves are filled blue, data
        leaves are plain ellipses, the output has a double border (``out``: by default the
        output of the last reverse pass, else the last node), nodes that received a gradient
        have a red border and their gradient norm (``grads``: by default when a reverse pass
        ran), and failed requests are dashed red octagons.
        """
        show_grads = self._grads is not None if grads is None else grads
        if out is None:
            out = self._backward_out
        return trace_format.dot(
            self.entries, out=out, grads=self._require_grads() if show_grads else None
        )

    def _require_grads(self) -> list[Any]:
        if self._grads is None:
            raise ValueError(
                "no reverse pass has run through this tracer: differentiate with it first, "
                "e.g. tm.value_and_grad(program, interpreter=tracer)"
            )
        return self._grads


def _ids(inputs: tuple[Any, ...]) -> tuple[int, ...]:
    """The node ids of an op's inputs (leaving out anything that is not a handle)."""
    return tuple([h.id for h in inputs if isinstance(h, Handle)])


def _entries(log: _Log) -> list[TraceEntry]:
    files: dict[Any, tuple[str, str]] = {}
    entries = []
    items, stride = log.items, _Log.STRIDE
    for k in range(len(log)):
        rule, ids, args, out, shape, dtype, code, offset = items[k * stride : (k + 1) * stride]
        location = None if code is None else locate((code, offset), files)
        value = log.values[k] if log.values else None
        failure = log.failures.get(k)
        error = None if failure is None else failure[1]
        typed = (
            None if failure is not None else out,
            None if shape is None else tuple(shape),
            None if dtype is None else np.dtype(dtype),
            location,
        )
        if rule is None:
            name, requires_grad = args
            entry = TraceEntry(k, "leaf", (), *typed, name=name, requires_grad=requires_grad,
                               value=value, error=error)  # fmt: skip
        elif isinstance(rule, str):  # a request by name that the recording path refused
            entry = TraceEntry(k, rule, ids, *typed, params=args, value=value, error=error)
        else:
            params = tuple(zip(rule.params, args, strict=False))
            entry = TraceEntry(k, rule.name, ids, *typed, params=params, value=value, error=error)
        entries.append(entry)
    return entries
