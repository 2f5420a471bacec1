"""The tracing interpreter: golden listing and DOT of the quickstart loss, failed requests,
values and gradient norms, and what the trace and graph show.

The golden files in tests/golden/ hold the trace of examples/quickstart.py's ``loss`` on the
data of SPEC worked example 1 (node ids 0..21, gradients W -13.5, b -6.5, 0.25 on each add,
scale and mse node). Paths in them are relative to the repository root, where the test runs
the listing from. After an intended format change, rewrite them with
``python tests/test_tracing.py`` and review the diff.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import tapem as tm
from tapem import ops
from tapem.interpreters import Eager, ShapeOnly, Tracing

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = Path(__file__).resolve().parent / "golden"


def quickstart() -> Any:
    spec = importlib.util.spec_from_file_location("quickstart", ROOT / "examples" / "quickstart.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def render_goldens() -> dict[str, str]:
    """The trace renderings the golden files hold, computed from the repository root."""
    xs = [np.array([x]) for x in (0.0, 1.0, 2.0, 3.0)]
    ys = [np.array([2 * x + 1]) for x in (0.0, 1.0, 2.0, 3.0)]
    program = quickstart().loss(np.array([[0.5]]), np.array([0.0]), xs, ys)
    tracer = Tracing(Eager())
    here = os.getcwd()
    os.chdir(ROOT)
    try:
        tm.run(program, interpreter=tracer).unwrap()
        listing = tracer.listing()
        value, grads = tm.value_and_grad(program, interpreter=tracer)
        assert float(value) == 13.375 and np.allclose(grads["W"], [[-13.5]])
        return {
            "quickstart_listing.txt": listing + "\n",
            "quickstart_listing_grads.txt": tracer.listing(grads=True) + "\n",
            "quickstart.dot": tracer.dot(),
        }
    finally:
        os.chdir(here)


@pytest.mark.parametrize("name", sorted(render_goldens()))
def test_golden(name: str) -> None:
    assert render_goldens()[name] == (GOLDEN / name).read_text()


def test_golden_listing_is_the_same_from_another_directory(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT / "tests")
    assert (
        render_goldens()["quickstart_listing.txt"]
        == (GOLDEN / "quickstart_listing.txt").read_text()
    )


def test_golden_listing_names_the_user_lines() -> None:
    """Independently of the golden file: each node's line is the quickstart line making it."""
    source = (ROOT / "examples" / "quickstart.py").read_text().splitlines()

    def line_of(text: str) -> int:
        return next(i for i, line in enumerate(source, start=1) if text in line)

    listing = render_goldens()["quickstart_listing.txt"].splitlines()
    assert len(listing) == 22
    where = [re.search(r"# examples/quickstart.py:(\d+) in (\w+)$", line) for line in listing]
    assert all(where)
    lines = [(int(m.group(1)), m.group(2)) for m in where if m]
    assert lines[0] == (line_of('tm.param(w, name="W")'), "loss")
    assert lines[2] == (line_of("tm.const(x)"), "per_sample")
    assert lines[5] == (line_of("ops.mse_loss(yhat, Y)"), "per_sample")
    # add and scale are made inside mean_scalar_over: the user's line is the call
    assert lines[10] == lines[21] == (line_of("tm.mean_scalar_over("), "loss")


# --- failures, values, gradients -----------------------------------------------------------------


@tm.tapem
def mismatched() -> tm.Gen[tm.Handle]:
    a = yield from tm.param(np.ones(2), name="a")
    b = yield from tm.const(np.ones(3))
    with contextlib.suppress(tm.ShapeMismatch):  # caught at the yield; the program goes on
        yield a + b
    return (yield ops.sum(a))


def test_a_failed_request_is_listed_with_its_error() -> None:
    tracer = Tracing(Eager())
    out, tape = tm.run(mismatched(), interpreter=tracer).unwrap()
    entries = tracer.entries
    assert [e.step for e in entries] == [0, 1, 2, 3]
    failed = entries[2]
    assert (failed.op, failed.inputs, failed.out, failed.shape) == ("add", (0, 1), None, None)
    assert isinstance(failed.error, tm.ShapeMismatch)
    assert entries[3].out == 2 == out.id and len(tape) == 3
    lines = tracer.listing(locations=False).splitlines()
    assert lines[2].split() == ["%?", "=", "add", "%0", "%1"]
    assert lines[3].strip().startswith("!! ShapeMismatch: add: shape mismatch, got [2], [3]")
    assert lines[4].split() == ["%2:f64[]", "=", "sum", "%0"]


def test_a_failed_run_keeps_its_trace() -> None:
    @tm.tapem
    def failing() -> tm.Gen[tm.Handle]:
        x = yield from tm.param(np.ones((2, 3)))
        return (yield ops.matmul(x, x))

    tracer = Tracing(Eager())
    error = tm.run(failing(), interpreter=tracer).failure()
    assert isinstance(error, tm.ShapeMismatch)
    assert [(e.op, e.out) for e in tracer.entries] == [("leaf", 0), ("matmul", None)]
    assert "failed" in tracer.dot() and "octagon" in tracer.dot()


def test_values_are_listed_when_kept() -> None:
    tracer = Tracing(Eager(), values=True)
    tm.run(mismatched(), interpreter=tracer).unwrap()
    assert tracer.entries[0].value.tolist() == [1.0, 1.0]
    assert "-> [1., 1.]" in tracer.listing().splitlines()[0]
    with pytest.raises(ValueError, match="values=True"):
        Tracing(Eager()).listing(values=True)


def test_gradient_norms_need_a_reverse_pass() -> None:
    tracer = Tracing(Eager())
    tm.run(mismatched(), interpreter=tracer).unwrap()
    assert tracer.grads is None
    with pytest.raises(ValueError, match="reverse pass"):
        tracer.listing(grads=True)
    tm.value_and_grad(mismatched(), interpreter=tracer)
    assert tracer.grads is not None and sorted(tracer.grads) == [0, 2]
    lines = tracer.listing(grads=True, locations=False).splitlines()
    assert lines[0].endswith(f"|grad|={np.sqrt(2):.4g}")  # d sum(a) / da = [1, 1]
    assert "|grad|" not in lines[1]  # a const: no gradient


def test_each_run_starts_a_new_trace() -> None:
    tracer = Tracing(Eager())
    tm.value_and_grad(mismatched(), interpreter=tracer)
    tm.run(mismatched(), interpreter=tracer).unwrap()
    assert len(tracer.entries) == 4 and tracer.grads is None


def test_tracing_shape_only() -> None:
    tracer = Tracing(ShapeOnly())
    tm.run(mismatched(), interpreter=tracer).unwrap()
    assert [(e.op, e.shape, str(e.dtype)) for e in tracer.entries if e.out is not None] == [
        ("leaf", (2,), "float64"),
        ("leaf", (3,), "float64"),
        ("sum", (), "float64"),
    ]


def test_default_parameters_are_hidden_and_others_shown() -> None:
    @tm.tapem
    def reduce() -> tm.Gen[tm.Handle]:
        x = yield from tm.param(np.ones((2, 3), dtype=np.float32))
        s = yield ops.sum(x, axis=1)
        return (yield ops.sum(s))

    tracer = Tracing(Eager())
    tm.run(reduce(), interpreter=tracer).unwrap()
    assert tracer.listing(locations=False).splitlines() == [
        "%0:f32[2,3] = param",
        "%1:f32[2]   = sum %0 axis=1",
        "%2:f32[]    = sum %1",
    ]


# --- DOT -----------------------------------------------------------------------------------------


def node_lines(dot: str) -> dict[str, str]:
    return {m.group(1): m.group(0) for m in re.finditer(r"^  (n\d+|failed\d+) \[.*\];$", dot, re.M)}


def test_dot_marks_trainable_leaves_the_output_and_gradients() -> None:
    tracer = Tracing(Eager())
    tm.value_and_grad(mismatched(), interpreter=tracer)
    dot = tracer.dot()
    assert dot.startswith("digraph tape {") and dot.rstrip().endswith("}")
    nodes = node_lines(dot)
    assert set(nodes) == {"n0", "n1", "failed2", "n2"}
    assert 'label="0: param a' in nodes["n0"] and "fillcolor" in nodes["n0"]
    assert "fillcolor" not in nodes["n1"] and "ellipse" in nodes["n1"]  # a data leaf
    assert "peripheries=2" in nodes["n2"] and "peripheries" not in nodes["n0"]
    assert "penwidth" in nodes["n0"] and "penwidth" in nodes["n2"]  # got gradients
    assert "penwidth" not in nodes["n1"]
    edges = re.findall(r"^  (\w+) -> (\w+);$", dot, re.M)
    assert sorted(edges) == [("n0", "failed2"), ("n0", "n2"), ("n1", "failed2")]
    assert "penwidth" not in Tracing(Eager()).dot()  # an empty trace is a valid, empty graph


def test_dot_of_a_run_on_an_existing_tape_shows_earlier_inputs_as_stubs() -> None:
    first, tape = tm.run(mismatched()).unwrap()

    @tm.tapem
    def more() -> tm.Gen[tm.Handle]:
        return (yield first * 2.0)

    tracer = Tracing(Eager())
    tm.run(more(), tape, interpreter=tracer).unwrap()
    dot = tracer.dot()
    assert 'n2 [label="2", style=dotted];' in dot and "n2 -> n3;" in dot
    assert [e.out for e in tracer.entries] == [3]


if __name__ == "__main__":  # rewrite the golden files (review the diff before committing)
    GOLDEN.mkdir(exist_ok=True)
    for golden_name, text in render_goldens().items():
        (GOLDEN / golden_name).write_text(text)
        print(f"wrote {GOLDEN / golden_name}")
