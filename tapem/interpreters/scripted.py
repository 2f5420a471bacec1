"""The scripted interpreter: a test double that checks a program's requests against a script."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final, NoReturn

import numpy as np

from tapem.errors import ScriptMismatch
from tapem.handle import Handle
from tapem.interpreters import trace_format
from tapem.interpreters.shape_only import ShapeOnly
from tapem.interpreters.trace_format import TraceEntry
from tapem.protocol import Interpreter, Wrapper
from tapem.requests import Leaf, Op, Request
from tapem.sites import Site
from tapem.tape import Tape

__all__ = ["ANY", "Expect", "Scripted", "script_from"]


class _Any:
    __slots__ = ()

    def __repr__(self) -> str:
        return "ANY"


ANY: Final[Any] = _Any()
"""An :class:`Expect` field that is not checked (the default of every optional field)."""


class Expect:
    """One expected request and, optionally, the shape and dtype of the node it makes.

    ``op`` is an op's name or ``"leaf"``; ``inputs`` the input node ids (none given: not
    checked). For a leaf, ``name`` and ``requires_grad``; for an op, ``params``, of which only
    the given keys are checked (exactly, with ``==``). ``shape``/``dtype`` check the response.
    Every field left at :data:`ANY` is not checked.

    >>> Expect("add", 0, 1).describe()
    'add %0 %1'
    >>> Expect("leaf", name="W", requires_grad=True, shape=(1, 2)).describe()
    "leaf name='W' requires_grad=True -> shape (1, 2)"
    """

    __slots__ = ("dtype", "inputs", "name", "op", "params", "requires_grad", "shape")

    def __init__(
        self,
        op: str,
        *inputs: int,
        name: str | None = ANY,
        requires_grad: bool = ANY,
        params: Mapping[str, Any] = ANY,
        shape: Sequence[int] = ANY,
        dtype: Any = ANY,
    ) -> None:
        if op == "leaf" and (inputs or params is not ANY):
            raise ValueError("a leaf has no inputs and no params")
        if op != "leaf" and (name is not ANY or requires_grad is not ANY):
            raise ValueError(f"{op}: name and requires_grad are checked for leaves only")
        self.op = op
        self.inputs: tuple[int, ...] | Any = inputs if inputs else ANY
        self.name = name
        self.requires_grad = requires_grad
        self.params = params if params is ANY else dict(params)
        self.shape = shape if shape is ANY else tuple(shape)
        self.dtype = dtype if dtype is ANY else np.dtype(dtype)

    def describe(self) -> str:
        """The expectation in the listing's notation; unchecked fields are left out."""
        parts = [self.op]
        if self.inputs is not ANY:
            parts += [f"%{i}" for i in self.inputs]
        for key in ("name", "requires_grad"):
            if getattr(self, key) is not ANY:
                parts.append(f"{key}={getattr(self, key)!r}")
        if self.params is not ANY:
            parts += [f"{k}={v!r}" for k, v in self.params.items()]
        response = []
        if self.shape is not ANY:
            response.append(f"shape {self.shape}")
        if self.dtype is not ANY:
            response.append(f"dtype {self.dtype}")
        return " ".join(parts) + (" -> " + ", ".join(response) if response else "")

    def mismatch(self, request: Request) -> str | None:
        """What about ``request`` differs from this expectation (``None`` if nothing)."""
        if isinstance(request, Leaf):
            if self.op != "leaf":
                return "a leaf"
            if self.name is not ANY and request.name != self.name:
                return f"name {request.name!r}"
            if self.requires_grad is not ANY and request.requires_grad != self.requires_grad:
                return f"requires_grad={request.requires_grad!r}"
            return None
        if request.op != self.op:
            return f"op {request.op}"
        ids = tuple(h.id if isinstance(h, Handle) else repr(h) for h in request.inputs)
        if self.inputs is not ANY and ids != self.inputs:
            return "inputs " + " ".join(f"%{i}" for i in ids)
        if self.params is not ANY:
            given = request.params
            for key, value in self.params.items():
                if key not in given or not _equal(given[key], value):
                    return f"{key}={given.get(key, '(no such parameter)')!r}"
        return None

    def response_mismatch(self, out: Handle) -> str | None:
        """What about the response ``out`` differs from the expected shape/dtype."""
        if self.shape is not ANY and out.shape != self.shape:
            return f"shape {out.shape}"
        if self.dtype is not ANY and out.dtype != self.dtype:
            return f"dtype {out.dtype}"
        return None


def _equal(a: Any, b: Any) -> bool:
    try:
        return bool(a == b)
    except Exception:  # arrays as parameters
        return bool(np.array_equal(a, b))


def _served(request: Request, out: Handle) -> str:
    where = (out.id, out.shape, out.dtype, None)
    if isinstance(request, Leaf):
        return trace_format.line(
            TraceEntry(
                0, "leaf", (), *where, name=request.name, requires_grad=request.requires_grad
            )
        )
    ids = tuple(h.id for h in request.inputs)
    params = tuple(request.params.items())
    return trace_format.line(TraceEntry(0, request.op, ids, *where, params=params))


class Scripted(Wrapper):
    """A test double: check each request against ``script`` (a sequence of :class:`Expect`),
    then let ``inner`` serve it (by default :class:`ShapeOnly`, so nothing is computed).

    The first request that differs from the script, a response of the wrong shape or dtype,
    a request after the script has ended, or a program that ends before the script does fails
    with :class:`~tapem.ScriptMismatch`, whose message shows every request served so far. Use
    it to pin down the requests a program makes (``script_from`` turns a trace of a known-good
    run into a script), or wrap your own interpreter to check what it sends back.

    >>> import numpy as np
    >>> import tapem as tm
    >>> from tapem.interpreters import Expect, Scripted
    >>> @tm.tapem
    ... def f():
    ...     x = yield from tm.param(np.ones(3), name="x")
    ...     return (yield x * 2.0)
    >>> ok = [Expect("leaf", name="x"), Expect("scale", 0, params={"c": 2.0}, shape=(3,))]
    >>> assert tm.run(f(), interpreter=Scripted(ok)).unwrap()[0].shape == (3,)
    >>> error = tm.run(f(), interpreter=Scripted([Expect("leaf"), Expect("mul")])).failure()
    >>> print(error.message)
    request 1: expected mul, got op scale
    requests so far:
      %0:f64[3] = param 'x'
    """

    def __init__(self, script: Iterable[Expect], inner: Interpreter | None = None) -> None:
        super().__init__(inner if inner is not None else ShapeOnly())
        self.script: tuple[Expect, ...] = tuple(script)
        self._position = 0
        self._log: list[str] = []
        self._site = Site(None)

    @property
    def log(self) -> tuple[str, ...]:
        """The requests served in the current (or last) run, in the listing's notation."""
        return tuple(self._log)

    def begin(self, tape: Tape, site: Site) -> None:
        self._position = 0
        self._log = []
        self._site = site
        self.inner.begin(tape, site)

    def leaf(self, request: Leaf) -> Any:
        expect = self._expect(request)
        return self._served(expect, request, self.inner.leaf(request))

    def op(self, request: Op, xs: tuple[Any, ...]) -> Any:
        expect = self._expect(request)
        return self._served(expect, request, self.inner.op(request, xs))

    def end(self, tape: Tape) -> None:
        if self._position < len(self.script):
            self._fail(self.script[self._position].describe(), "the end of the program")
        self.inner.end(tape)

    def _expect(self, request: Request) -> Expect:
        if self._position >= len(self.script):
            self._fail("the end of the script", repr(request))
        expect = self.script[self._position]
        difference = expect.mismatch(request)
        if difference is not None:
            self._fail(expect.describe(), difference)
        return expect

    def _served(self, expect: Expect, request: Request, value: Any) -> Any:
        out = Handle(self._site.node(), value)
        difference = expect.response_mismatch(out)
        if difference is not None:
            self._fail(expect.describe(), f"a response of {difference}")
        self._log.append(_served(request, out))
        self._position += 1
        return value

    def _fail(self, expected: str, got: str) -> NoReturn:
        raise ScriptMismatch(self._position, expected, got, self._log)


def script_from(entries: Iterable[TraceEntry]) -> list[Expect]:
    """A script that expects exactly the successful requests of a trace, with their shapes
    and dtypes (from :attr:`Tracing.entries <tapem.interpreters.Tracing.entries>`)."""
    script = []
    for e in entries:
        if e.out is None:
            continue
        if e.op == "leaf":
            script.append(
                Expect(
                    "leaf",
                    name=e.name,
                    requires_grad=bool(e.requires_grad),
                    shape=e.shape or (),
                    dtype=e.dtype,
                )
            )
        else:
            script.append(
                Expect(e.op, *e.inputs, params=dict(e.params), shape=e.shape or (), dtype=e.dtype)
            )
    return script
