"""Source sites: the cheap raw form, its formatting, and the error locations the driver reports
(the innermost frame outside tapem)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

import tapem as tm
from tapem import ops
from tapem.interpreters import Expect, Scripted
from tapem.sites import Site, locate, location_from_traceback


def raw_site(gen: Any) -> Any:
    """The full walk down the delegation chain, as a fresh ``Site`` does it."""
    return Site(gen).raw()


HERE = Path(__file__).resolve()


def line_with(marker: str) -> int:
    """The line of this file that carries ``marker`` (a comment), found by reading the file."""
    lines = HERE.read_text().splitlines()
    matches = [i for i, line in enumerate(lines, start=1) if line.rstrip().endswith(marker)]
    assert len(matches) == 1, marker
    return matches[0]


def many_yields() -> Any:
    yield 1
    x = 0
    for i in range(3):
        x += i
        yield x
    if x > 100:
        yield "never"
    yield (
        "a request spread over",
        "several lines",
    )
    yield from inner_yields()


def inner_yields() -> Any:
    yield "inner 1"
    yield "inner 2"


def test_the_raw_site_formats_to_the_frames_own_line_number() -> None:
    """``locate(raw_site(g))`` reports what ``f_lineno`` of the innermost frame reports, at
    every suspension point (the raw site keeps an instruction offset, not a line)."""
    gen = many_yields()
    seen = []
    for _ in gen:
        frame = gen.gi_frame
        inner = gen.gi_yieldfrom
        innermost = inner.gi_frame if inner is not None else frame
        where = Site(gen)()
        assert where is not None
        assert (where.line, where.function) == (innermost.f_lineno, innermost.f_code.co_name)
        seen.append(where.line)
    assert len(seen) == 7 and len(set(seen)) == 5  # the loop's yield three times


def nested_program() -> Any:
    yield "top"
    yield from tm.const(np.ones(1))
    for _ in range(2):
        yield from many_yields()  # enters, leaves and re-enters a sub-generator
        yield "between"
    try:
        yield "catches"
    except ValueError:
        yield "caught"
    yield from inner_yields()
    yield "last"


def test_a_site_follows_the_program_through_every_change_of_delegation() -> None:
    # Site.raw() skips the walk while the innermost generator stays suspended; at every
    # suspension point it must agree with the full walk of raw_site().
    gen = nested_program()
    site = Site(gen)
    request = next(gen)
    seen = 0
    while True:
        assert site.raw() == raw_site(gen), request
        assert site() == Site(gen)()
        seen += 1
        try:
            request = gen.throw(ValueError()) if request == "catches" else next(gen)
        except StopIteration:
            break
    assert seen == 2 + 2 * 8 + 1 + 1 + 2 + 1
    assert site.raw() is None and raw_site(gen) is None


def test_locate_with_a_cache_matches_locate_without() -> None:
    gen = many_yields()
    next(gen)
    raw = raw_site(gen)
    files: dict[Any, tuple[str, str]] = {}
    assert locate(raw, files) == locate(raw) == locate(raw, files)
    assert len(files) == 1
    assert locate(None, files) is None and locate(None) is None
    assert Site(None)() is None and Site(None).raw() is None


def test_a_finished_or_unstarted_program_has_no_raw_site_problem() -> None:
    gen = inner_yields()
    assert locate(raw_site(gen)).function == "inner_yields"  # type: ignore[union-attr]
    list(gen)
    assert raw_site(gen) is None


@tm.tapem
def uses_param(w: Any) -> tm.Gen[tm.Handle]:
    W = yield from tm.param(w, name="w")  # <- the param line
    return (yield ops.sum(W))


def test_an_error_inside_tm_param_is_reported_at_the_users_line() -> None:
    # The leaf request is yielded by tapem's own `param`; the error belongs to the user's line.
    scripted = Scripted([Expect("leaf", name="not w")])
    error = tm.run(uses_param(np.ones(2)), interpreter=scripted).failure()
    assert isinstance(error, tm.ScriptMismatch)
    assert error.location is not None
    assert error.location.line == line_with("# <- the param line")
    assert error.location.function == "uses_param"
    assert error.location.file.endswith("test_sites.py")


@tm.tapem
def mean_of_vectors() -> tm.Gen[tm.Handle]:
    def per_sample(x: Any) -> tm.Gen[tm.Handle]:
        return (yield from tm.const(x))

    return (yield from tm.mean_scalar_over([1.0, np.ones(2)], per_sample))  # <- the mean line


def test_an_error_raised_by_a_tapem_helper_is_reported_at_the_users_call() -> None:
    error = tm.run(mean_of_vectors()).failure()
    assert isinstance(error, tm.ShapeMismatch)
    assert error.location is not None
    assert (error.location.line, error.location.function) == (
        line_with("# <- the mean line"),
        "mean_of_vectors",
    )


def test_location_from_traceback_skips_tapem_frames() -> None:
    def fails() -> None:
        tm.Tape().node(5)  # <- the traceback line

    try:
        fails()
    except tm.InvalidNodeId as error:
        where = location_from_traceback(error.__traceback__)
    assert where is not None
    assert (where.line, where.function) == (line_with("# <- the traceback line"), "fails")


def test_paths_are_relative_to_the_working_directory(monkeypatch: Any) -> None:
    gen = many_yields()
    next(gen)
    monkeypatch.chdir(HERE.parent)
    assert locate(raw_site(gen)).file == "test_sites.py"  # type: ignore[union-attr]
    monkeypatch.chdir("/")
    assert locate(raw_site(gen)).file == str(HERE).lstrip("/")  # type: ignore[union-attr]
