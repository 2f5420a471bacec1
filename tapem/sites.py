"""Finding the user's source line: the innermost frame of a program that is not tapem's own.

Interpreters may want the user's line of *every* request (the tracing and debugging
interpreters do), so finding it is split in two:

* :func:`raw_site` is the cheap part, done per request: the code object and instruction offset
  of the innermost frame outside tapem, found by following ``yield from`` delegation.
* :func:`locate` turns that into a :class:`~tapem.SourceLocation` (a path relative to the
  working directory, the line and the function name), and is only done when the line is shown.
  :class:`Locator` does the same, caching the formatting per code object.

:class:`Site` binds both to one running program; the driver hands one to each interpreter.

>>> def user_program():
...     yield "request"
>>> gen = user_program()
>>> _ = next(gen)
>>> where = locate(raw_site(gen))
>>> where.function, where.line == user_program.__code__.co_firstlineno + 1
('user_program', True)
"""

from __future__ import annotations

import os
from types import CodeType, TracebackType
from typing import Any, TypeAlias

from tapem.errors import SourceLocation

__all__ = [
    "NO_SITE",
    "Locator",
    "RawSite",
    "Site",
    "current_site",
    "is_internal",
    "line_of",
    "locate",
    "location_from_traceback",
    "raw_site",
]

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep
_WRITTEN_AS_USER_CODE = frozenset({_PACKAGE_DIR + "demo.py"})
"""Files inside the package that play the user's part (the demo's loss), reported as such."""

RawSite: TypeAlias = tuple[CodeType, int]
"""A source position before formatting: ``(code object, instruction offset)``.

The offset is the frame's ``f_lasti``: reading it is O(1), whereas ``f_lineno`` scans the
code's line table. :func:`locate` maps it to the line number, exactly as ``f_lineno`` would.
"""


NO_SITE: RawSite | tuple[None, int] = (None, 0)
"""What an interpreter stores for a request whose site is unknown (``raw() or NO_SITE``)."""


def _is_user_file(name: str) -> bool:
    return not name.startswith(_PACKAGE_DIR) or name in _WRITTEN_AS_USER_CODE


def is_internal(code: CodeType) -> bool:
    """Whether ``code`` belongs to tapem itself (helpers such as ``param`` or ``fold_m``)."""
    return not _is_user_file(code.co_filename)


def _innermost(gen: Any, users: dict[str, bool]) -> tuple[Any, Any] | None:
    """``(innermost generator, the one to report)`` of a suspended program, or ``None``.

    ``users`` remembers whether each source file is the user's (a cache the caller keeps).
    """
    try:
        inner = gen.gi_yieldfrom
    except AttributeError:  # not a generator (e.g. None)
        return None
    if gen.gi_frame is None:  # finished
        return None
    if inner is None:  # no delegation: this frame, whether user's or ours
        return gen, gen
    best = None
    last = gen
    try:
        while gen is not None:
            name = gen.gi_code.co_filename
            user = users.get(name)
            if user is None:
                user = users[name] = _is_user_file(name)
            if user:
                best = gen
            last = gen
            gen = gen.gi_yieldfrom
    except AttributeError:  # ``yield from`` an iterator that is not a generator
        pass
    return last, (best if best is not None else last)


def raw_site(gen: Any) -> RawSite | None:
    """The innermost frame outside tapem of ``gen`` (a suspended program), unformatted.

    Follows ``yield from`` delegation to the innermost generator, so a request yielded inside
    ``yield from tm.param(w)`` gets the user's line, not ``param``'s. When every frame is
    tapem's own, the innermost frame is reported. ``None`` when ``gen`` is not suspended.
    """
    found = _innermost(gen, {})
    if found is None:
        return None
    frame = found[1].gi_frame
    return (frame.f_code, frame.f_lasti)


def line_of(code: CodeType, offset: int) -> int:
    """The source line of instruction ``offset`` in ``code`` (what ``f_lineno`` reports)."""
    for start, end, line in code.co_lines():
        if start <= offset < end:
            return line if line is not None else code.co_firstlineno
    return code.co_firstlineno


def _short(filename: str) -> str:
    """A path relative to the working directory when it is below it (as in tracebacks)."""
    try:
        relative = os.path.relpath(filename)
    except ValueError:
        return filename
    return filename if relative.startswith("..") else relative


def locate(raw: RawSite | None) -> SourceLocation | None:
    """Format a raw site: ``(code, offset)`` to ``SourceLocation(file, line, function)``."""
    if raw is None:
        return None
    code, offset = raw
    return SourceLocation(_short(code.co_filename), line_of(code, offset), code.co_name)


class Locator:
    """:func:`locate` with the file and function of each code object formatted once.

    Paths are made relative to the working directory at the time a code object is first seen;
    make a new ``Locator`` after changing directory.

    >>> def f():
    ...     pass
    >>> loc = Locator()
    >>> where = loc((f.__code__, 0))
    >>> assert where.function == "f" and loc((f.__code__, 0)) == where
    """

    __slots__ = ("_cache",)

    def __init__(self) -> None:
        self._cache: dict[CodeType, tuple[str, str]] = {}

    def __call__(self, raw: RawSite | None) -> SourceLocation | None:
        if raw is None:
            return None
        code, offset = raw
        cached = self._cache.get(code)
        if cached is None:
            cached = self._cache[code] = (_short(code.co_filename), code.co_name)
        return SourceLocation(cached[0], line_of(code, offset), cached[1])


class Site:
    """Where the program of one run is now: the user's line of the request being interpreted.

    The driver makes one per run and passes it to :meth:`Interpreter.begin
    <tapem.interpreters.Interpreter.begin>`. Calling it gives the formatted
    :class:`~tapem.SourceLocation` (or ``None``); :meth:`raw` gives the cheap unformatted form,
    for interpreters that keep the line of every node (format it later with :func:`locate`).
    ``Site(None)`` knows no location (for driving an interpreter by hand, as in tests).

    >>> Site(None)() is None and Site(None).raw() is None
    True
    """

    __slots__ = ("_gen", "_inner", "_report", "_users")

    def __init__(self, gen: Any) -> None:
        self._gen = gen
        self._inner: Any = None  # the innermost generator at the last look, and the one
        self._report: Any = None  # reported for it
        self._users: dict[str, bool] = {}  # whether each source file is the user's

    def raw(self) -> RawSite | None:
        """The current request's ``(code, offset)``; cheap enough to call for every request.

        While the innermost generator of the last look is still suspended at a plain
        ``yield``, nothing above it can have moved (each frame above waits in its ``yield
        from``), so the walk down the delegation chain is skipped.
        """
        inner = self._inner
        if inner is None or inner.gi_yieldfrom is not None or inner.gi_frame is None:
            found = _innermost(self._gen, self._users)
            if found is None:
                self._inner = None
                return None
            self._inner, self._report = found
        frame = self._report.gi_frame
        return (frame.f_code, frame.f_lasti)

    def __call__(self) -> SourceLocation | None:
        return locate(self.raw())


def current_site(gen: Any) -> SourceLocation | None:
    """The user's line where ``gen`` (a suspended program) is yielding now."""
    return locate(raw_site(gen))


def location_from_traceback(tb: TracebackType | None) -> SourceLocation | None:
    """The innermost frame of ``tb`` outside tapem (or the innermost frame, if all are inside)."""
    best: RawSite | None = None
    last: RawSite | None = None
    while tb is not None:
        last = (tb.tb_frame.f_code, tb.tb_lasti)
        if not is_internal(tb.tb_frame.f_code):
            best = last
        tb = tb.tb_next
    return locate(best or last)
