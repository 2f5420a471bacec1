"""Finding the user's source line: the innermost frame of a program that is not tapem's own.

Interpreters may want the user's line of *every* request (the tracing and debugging
interpreters do), so finding it is split in two:

* :meth:`Site.raw` is the cheap part, done per request: the code object and instruction offset
  of the innermost frame outside tapem, found by following ``yield from`` delegation.
* :func:`locate` turns that into a :class:`~tapem.SourceLocation` (a path relative to the
  working directory, the line and the function name), and is only done when the line is shown.

The driver makes one :class:`Site` per run and hands it to the interpreter; errors that escape a
program are placed with :func:`location_from_traceback`. A frame is tapem's own when its file is
inside the package, unless its module says it plays the user's part with a module-level
``__tapem_user_code__ = True`` (the demo's loss does: its lines are what a trace should show).

>>> def user_program():
...     yield "request"
>>> gen = user_program()
>>> _ = next(gen)
>>> where = Site(gen)()
>>> where.function, where.line == user_program.__code__.co_firstlineno + 1
('user_program', True)
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sized
from types import CodeType, FrameType, TracebackType
from typing import Any, TypeAlias

from tapem.errors import SourceLocation

__all__ = [
    "NO_SITE",
    "RawSite",
    "Site",
    "line_of",
    "locate",
    "location_from_traceback",
    "warn_at",
]

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep

RawSite: TypeAlias = tuple[CodeType, int]
"""A source position before formatting: ``(code object, instruction offset)``.

The offset is the frame's ``f_lasti``: reading it is O(1), whereas ``f_lineno`` scans the
code's line table. :func:`locate` maps it to the line number, exactly as ``f_lineno`` would.
"""


NO_SITE: RawSite | tuple[None, int] = (None, 0)
"""What an interpreter stores for a request whose site is unknown (``raw() or NO_SITE``)."""


def _is_user_frame(frame: FrameType) -> bool:
    """Whether ``frame`` runs the user's code: outside the package, or in a module that says it
    plays the user's part (``__tapem_user_code__ = True``)."""
    return not frame.f_code.co_filename.startswith(_PACKAGE_DIR) or bool(
        frame.f_globals.get("__tapem_user_code__", False)
    )


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
            frame = gen.gi_frame
            name = frame.f_code.co_filename
            user = users.get(name)
            if user is None:
                user = users[name] = _is_user_frame(frame)
            if user:
                best = gen
            last = gen
            gen = gen.gi_yieldfrom
    except AttributeError:  # ``yield from`` an iterator that is not a generator
        pass
    return last, (best if best is not None else last)


def line_of(code: CodeType, offset: int) -> int:
    """The source line of instruction ``offset`` in ``code`` (what ``f_lineno`` reports)."""
    for start, end, line in code.co_lines():
        if start <= offset < end:
            return line if line is not None else code.co_firstlineno
    return code.co_firstlineno


def warn_at(
    raw: RawSite | None, warning: Warning | str, category: type[Warning], stacklevel: int = 2
) -> None:
    """Issue ``warning`` at the user's line ``raw`` (where the warnings module shows it and its
    filters match it), or, where the line is unknown, ``stacklevel`` frames up from the caller
    (as ``warnings.warn`` counts them)."""
    if raw is None:
        warnings.warn(warning, category, stacklevel=stacklevel + 1)
    else:
        code, offset = raw
        warnings.warn_explicit(warning, category, code.co_filename, line_of(code, offset))


def _short(filename: str) -> str:
    """A path relative to the working directory when it is below it (as in tracebacks)."""
    try:
        relative = os.path.relpath(filename)
    except ValueError:
        return filename
    return filename if relative.startswith("..") else relative


def locate(
    raw: RawSite | None, files: dict[CodeType, tuple[str, str]] | None = None
) -> SourceLocation | None:
    """Format a raw site: ``(code, offset)`` to ``SourceLocation(file, line, function)``.

    ``files`` (a dict the caller keeps) remembers each code object's formatted file and
    function, for callers that format many sites (a trace's listing).
    """
    if raw is None:
        return None
    code, offset = raw
    names = None if files is None else files.get(code)
    if names is None:
        names = (_short(code.co_filename), code.co_name)
        if files is not None:
            files[code] = names
    return SourceLocation(names[0], line_of(code, offset), names[1])


class Site:
    """Where the program of one run is now: the user's line of the request being interpreted.

    The driver makes one per run and passes it to :meth:`Interpreter.begin
    <tapem.interpreters.Interpreter.begin>`. Calling it gives the formatted
    :class:`~tapem.SourceLocation` (or ``None``); :meth:`raw` gives the cheap unformatted form,
    for interpreters that keep the line of every node (format it later with :func:`locate`);
    :meth:`node` gives the id of the node the current request will make. ``nodes`` is the run's
    growing list of records, to read its length from (interpreters must not change it).
    ``Site(None)`` knows no location (for driving an interpreter by hand, as in tests).

    >>> Site(None)() is None and Site(None).raw() is None and Site(None, [1, 2]).node() == 2
    True
    """

    __slots__ = ("_gen", "_inner", "_report", "_users", "nodes")

    def __init__(self, gen: Any, nodes: Sized = ()) -> None:
        self._gen = gen
        self.nodes = nodes
        self._inner: Any = None  # the innermost generator at the last look, and the one
        self._report: Any = None  # reported for it
        self._users: dict[str, bool] = {}  # whether each source file is the user's

    def node(self) -> int:
        """The id of the node the request being interpreted will make (if it succeeds)."""
        return len(self.nodes)

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


def location_from_traceback(tb: TracebackType | None) -> SourceLocation | None:
    """The innermost frame of ``tb`` outside tapem (or the innermost frame, if all are inside)."""
    best: RawSite | None = None
    last: RawSite | None = None
    while tb is not None:
        last = (tb.tb_frame.f_code, tb.tb_lasti)
        if _is_user_frame(tb.tb_frame):
            best = last
        tb = tb.tb_next
    return locate(best or last)
