"""The debugging interpreter: stop at the first NaN or Inf, forward or backward, at its line."""

from __future__ import annotations

from collections.abc import Callable, Sized
from math import isfinite
from types import CodeType
from typing import Any

import numpy as np

from tapem.backward import CotangentCheck
from tapem.errors import NonFinite, SourceLocation
from tapem.handle import Handle
from tapem.protocol import Interpreter, Wrapper
from tapem.requests import Leaf, Op, Request
from tapem.sites import NO_SITE, RawSite, Site, locate, warn_at
from tapem.tape import Tape

__all__ = ["DebugEvent", "Debugging", "NonFiniteWarning", "is_finite"]

_float64 = np.float64
_ndarray = np.ndarray


def is_finite(value: Any) -> bool:
    """Whether a numpy value holds no NaN and no Inf. Values that are not numpy arrays or
    scalars (shape-only values, dual numbers) have nothing to check and count as finite.

    >>> is_finite(np.array([1.0, 2.0])) and not is_finite(np.array([1.0, np.nan]))
    True
    >>> is_finite(np.float32(np.inf)), is_finite(np.array([1e308, 1e308]))
    (False, True)
    """
    cls = value.__class__
    if cls is _float64 or cls is float:
        return isfinite(value)
    if isinstance(value, (_ndarray, np.generic)):
        return value.dtype.kind not in "fc" or bool(np.isfinite(value).all())
    return True


def _describe(value: Any) -> str:
    array = np.asarray(value)
    nan = int(np.count_nonzero(np.isnan(array)))
    inf = int(np.count_nonzero(np.isinf(array)))
    return f"{nan} NaN and {inf} Inf among {array.size} element(s)"


def _first_bad(value: Any) -> tuple[int, ...]:
    """The position of the first NaN or Inf in ``value`` (row-major order)."""
    bad = np.argwhere(~np.isfinite(np.asarray(value)))
    return tuple(int(i) for i in bad[0]) if len(bad) else ()


class NonFiniteWarning(RuntimeWarning):
    """What :class:`Debugging` warns with when ``warn=True``; ``error`` is the would-be error."""

    def __init__(self, error: NonFinite) -> None:
        super().__init__(str(error))
        self.error = error


class DebugEvent:
    """What a :class:`Debugging` callback receives for each request that produced a node.

    ``index`` counts the run's new nodes from 0; ``request`` is the :class:`~tapem.Leaf` or
    :class:`~tapem.Op`; ``handle`` the new node's handle and ``value`` its value (not yet
    checked: the callback runs before the check, so a breakpoint here sees the bad value).
    ``location`` is the user's source line (formatted when read).
    """

    __slots__ = ("_raw", "handle", "index", "request", "value")

    def __init__(self, index: int, request: Request, handle: Handle, raw: RawSite | None) -> None:
        self.index = index
        self.request = request
        self.handle = handle
        self.value = handle._value
        self._raw = raw

    @property
    def location(self) -> SourceLocation | None:
        return locate(self._raw)

    def __repr__(self) -> str:
        return f"DebugEvent({self.index}, {self.request!r} -> {self.handle!r})"


class _Sites:
    """Each new node's creation site, kept as two columns of plain values: no per-node
    container for the garbage collector to track (that is what keeps the debugging interpreter
    cheap). Each request makes one node, so the run's nodes are ``base, base + 1, ...``."""

    __slots__ = ("base", "codes", "offsets")

    def __init__(self, base: int = 0) -> None:
        self.base = base  # the id of the run's first node: the input tape's length
        self.codes: list[CodeType | None] = []
        self.offsets: list[int] = []

    def find(self, node: int) -> RawSite | None:
        """The creation site of ``node`` (only when reporting)."""
        k = node - self.base
        if not 0 <= k < len(self.codes):
            return None
        code = self.codes[k]
        return None if code is None else (code, self.offsets[k])


class Debugging(Wrapper):
    """Check every value ``inner`` computes, and every cotangent of the reverse pass, for
    NaN/Inf; the first non-finite one fails with :class:`~tapem.NonFinite` naming the op, the
    node id, the pass (``"forward"``/``"backward"``) and the user line that created the node.

    In the forward pass a node is checked as soon as it is recorded (a failing node is on the
    inner tape when the error is raised into the program). In the reverse pass, the cotangent
    each VJP sends to each input is checked, and a failure names the node whose VJP produced
    it. ``warn=True`` issues a :class:`NonFiniteWarning` (at the user's line) for the first
    non-finite value of each pass instead of failing. ``callback(event)`` is called with a
    :class:`DebugEvent` for every request that produced a node (for logging or breakpoints).

    It keeps only the code object and instruction offset of each node's creation site, in
    plain lists, and formats them when reporting, so it is cheap enough to leave on. The sites
    belong to the tape of its last run (it keeps a reference to that tape until the next run);
    a reverse pass over any other tape still checks every cotangent, but cannot name lines.

    >>> import numpy as np
    >>> import tapem as tm
    >>> from tapem.interpreters import Debugging, Eager
    >>> @tm.tapem
    ... def f():
    ...     zero = yield from tm.param(np.array(0.0))
    ...     ratio = yield zero / zero
    ...     return (yield tm.ops.sqrt(ratio))
    >>> with np.errstate(invalid="ignore"):  # numpy's own note about 0/0
    ...     error = tm.run(f(), interpreter=Debugging(Eager())).failure()
    >>> assert isinstance(error, tm.NonFinite)
    >>> error.op, error.node_id, error.phase, error.created_at.function
    ('div', 1, 'forward', 'f')
    """

    def __init__(
        self,
        inner: Interpreter,
        *,
        warn: bool = False,
        callback: Callable[[DebugEvent], object] | None = None,
    ) -> None:
        super().__init__(inner)
        self.warn = warn
        self.callback = callback
        self._site = Site(None)
        self._raw_site: Callable[[], RawSite | None] = self._site.raw
        self._nodes: Sized = ()
        self._sites = _Sites()
        self._tape: Tape | None = None
        self._warned: set[str] = set()

    def begin(self, tape: Tape, site: Site) -> None:
        self._site = site
        self._raw_site = site.raw
        self._nodes = site.nodes
        self._sites = _Sites(len(tape))
        self._tape = None
        self._warned = set()
        self.inner.begin(tape, site)

    def leaf(self, request: Leaf) -> Any:
        return self._checked(request, self.inner.leaf(request))

    def op(self, request: Op, xs: tuple[Any, ...]) -> Any:
        return self._checked(request, self.inner.op(request, xs))

    def _checked(self, request: Request, value: Any) -> Any:
        """Note the new node's site, show it to the callback, and check its value."""
        raw = self._raw_site()
        node = len(self._nodes)
        sites = self._sites
        k = node - sites.base
        if len(sites.codes) != k:  # a request after ours failed: its site is not a node's
            del sites.codes[k:], sites.offsets[k:]
        code, offset = raw or NO_SITE
        sites.codes.append(code)
        sites.offsets.append(offset)
        if self.callback is not None:
            self.callback(DebugEvent(k, request, Handle(node, value), raw))
        if value.__class__ is _float64 and isfinite(value):  # the common case, inline
            return value
        if not is_finite(value):
            if isinstance(request, Leaf):
                op, cause = "leaf", "the array given to param/const holds it"
            else:
                op = request.op
                cause = "this op made it from its inputs (e.g. 0/0, inf - inf, overflow)"
            detail = f"it has {_describe(value)}; {cause}"
            error = NonFinite(op, node, "forward", locate(raw), detail, index=_first_bad(value))
            self._report(error, raw)
        return value

    def end(self, tape: Tape) -> None:
        self.inner.end(tape)
        self._tape = tape  # creation sites are known for this tape's nodes

    def backward(
        self, tape: Tape, out: int, seed: Any, check: CotangentCheck | None = None
    ) -> list[Any]:
        sites = self._sites if tape is self._tape else _Sites()
        self._warned.discard("backward")

        def check_cotangent(node: int, parent: int, ct: Any) -> None:
            if ct.__class__ is _float64:  # the common case, inline
                if not isfinite(ct):
                    self._backward_failure(tape, sites, node, parent, ct)
            elif not is_finite(ct):
                self._backward_failure(tape, sites, node, parent, ct)
            if check is not None:
                check(node, parent, ct)

        if not is_finite(seed):
            self._backward_failure(tape, sites, out, None, seed)
        return self.inner.backward(tape, out, seed, check_cotangent)

    def _backward_failure(
        self,
        tape: Tape,
        sites: _Sites,
        node: int,
        parent: int | None,
        ct: Any,
    ) -> None:
        rule = tape.rule(node)
        op = "leaf" if rule is None else rule.name
        if parent is None:
            detail = f"the seed of the reverse pass has {_describe(ct)}"
        else:
            parents = tape.parents(node)
            which = f"input {parents.index(parent)} " if parents.count(parent) == 1 else "input "
            detail = (
                f"its VJP sent {which}(node {parent}) a cotangent with {_describe(ct)}; the "
                "cotangent it received was finite, so the op's derivative is infinite or "
                "undefined at its input (e.g. sqrt or x**0.5 at 0): move the input away from "
                "the singularity (clamp, add an epsilon) or use a safe variant of the op"
            )
        raw = sites.find(node)
        if raw is None:
            detail += "; its creation site is unknown (the tape is not from this run)"
        self._report(NonFinite(op, node, "backward", locate(raw), detail, input_id=parent), raw)

    def _report(self, error: NonFinite, raw: RawSite | None) -> None:
        if not self.warn:
            raise error
        if error.phase in self._warned:
            return
        self._warned.add(error.phase)
        warn_at(raw, NonFiniteWarning(error), NonFiniteWarning, stacklevel=3)
