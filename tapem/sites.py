"""Finding the user's source line: the innermost frame of a program that is not tapem's own."""

from __future__ import annotations

import os
from types import CodeType, TracebackType
from typing import Any

from tapem.errors import SourceLocation

__all__ = ["current_site", "is_internal", "location_from_traceback"]

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep


def is_internal(code: CodeType) -> bool:
    """Whether ``code`` belongs to tapem itself (helpers such as ``param`` or ``fold_m``)."""
    return code.co_filename.startswith(_PACKAGE_DIR)


def _location(code: CodeType, line: int | None) -> SourceLocation:
    return SourceLocation(_short(code.co_filename), line or code.co_firstlineno, code.co_name)


def _short(filename: str) -> str:
    """A path relative to the working directory when it is below it (as in tracebacks)."""
    try:
        relative = os.path.relpath(filename)
    except ValueError:
        return filename
    return filename if relative.startswith("..") else relative


def current_site(gen: Any) -> SourceLocation | None:
    """The user's line where ``gen`` (a suspended program) is yielding now.

    Follows ``yield from`` delegation to the innermost generator and reports the innermost
    frame that is not part of tapem (so ``yield from tm.param(w)`` reports the user's line).
    """
    best: SourceLocation | None = None
    fallback: SourceLocation | None = None
    while gen is not None:
        frame = getattr(gen, "gi_frame", None)
        if frame is None:
            break
        here = _location(frame.f_code, frame.f_lineno)
        fallback = here
        if not is_internal(frame.f_code):
            best = here
        gen = getattr(gen, "gi_yieldfrom", None)
    return best or fallback


def location_from_traceback(tb: TracebackType | None) -> SourceLocation | None:
    """The innermost frame of ``tb`` outside tapem (or the innermost frame, if all are inside)."""
    best: SourceLocation | None = None
    fallback: SourceLocation | None = None
    while tb is not None:
        here = _location(tb.tb_frame.f_code, tb.tb_lineno)
        fallback = here
        if not is_internal(tb.tb_frame.f_code):
            best = here
        tb = tb.tb_next
    return best or fallback
