"""Rendering a trace: the text listing and Graphviz DOT (as text; no graphviz dependency).

Used by :class:`~tapem.interpreters.Tracing`; the functions take its entries, so any list of
:class:`~tapem.interpreters.tracing.TraceEntry` can be rendered.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np

from tapem.errors import SourceLocation, TapeError
from tapem.handle import dtype_code, format_shape

__all__ = ["dot", "grad_norm", "listing"]


class TraceEntry(NamedTuple):
    """One request of a traced run, with what came back.

    ``step`` counts the run's requests from 0 (failed ones included); ``op`` is the op's name
    or ``"leaf"``; ``out`` is the new node's id, ``None`` if the request failed (``error`` says
    why, and ``shape``/``dtype`` are ``None``). ``name`` and ``requires_grad`` are set for
    leaves only; ``params`` are an op's static parameters by name; ``value`` is the recorded
    value when the tracer keeps values (``Tracing(..., values=True)``), else ``None``.
    """

    step: int
    op: str
    inputs: tuple[int, ...]
    out: int | None
    shape: tuple[int, ...] | None
    dtype: np.dtype[Any] | None
    location: SourceLocation | None
    name: str | None = None
    requires_grad: bool | None = None
    params: tuple[tuple[str, Any], ...] = ()
    value: Any = None
    error: BaseException | None = None


Defaults = Mapping[str, Mapping[str, Any]]


def grad_norm(g: Any) -> float:
    """The Euclidean norm of a cotangent (any shape)."""
    return float(np.sqrt(np.sum(np.square(np.asarray(g, dtype=np.float64)))))


def _number(x: float) -> str:
    return f"{x:.4g}"


def _value(value: Any) -> str:
    if isinstance(value, (np.ndarray, np.generic, float, int)):
        text = np.array2string(
            np.asarray(value), precision=4, threshold=6, edgeitems=2, separator=", "
        )
        return " ".join(text.split())
    return str(value)


def _type(entry: TraceEntry) -> str:
    if entry.out is None or entry.shape is None or entry.dtype is None:
        return "%?"
    return f"%{entry.out}:{dtype_code(entry.dtype)}{format_shape(entry.shape)}"


def _leaf_label(entry: TraceEntry, quote: str) -> str:
    kind = "param" if entry.requires_grad else "const"
    return kind if entry.name is None else f"{kind} {quote}{entry.name}{quote}"


def _param_text(entry: TraceEntry, defaults: Defaults) -> list[str]:
    own = defaults.get(entry.op, {})
    shown = []
    for key, value in entry.params:
        if key in own and _same(own[key], value):
            continue
        shown.append(f"{key}={value!r}")
    return shown


def _same(a: Any, b: Any) -> bool:
    try:
        return bool(type(a) is type(b) and a == b)
    except Exception:  # e.g. arrays, whose == is elementwise
        return False


def _request(entry: TraceEntry, defaults: Defaults) -> str:
    if entry.op == "leaf":
        return _leaf_label(entry, "'")
    return " ".join([entry.op, *(f"%{i}" for i in entry.inputs), *_param_text(entry, defaults)])


def line(entry: TraceEntry) -> str:
    """One entry as ``%id:type = request``, every parameter shown (no alignment, value,
    gradient or location): how :class:`~tapem.interpreters.Scripted` lists what it served."""
    return f"{_type(entry)} = {_request(entry, {})}"


def listing(
    entries: Sequence[TraceEntry],
    *,
    defaults: Defaults | None = None,
    values: bool = False,
    grads: Sequence[Any] | None = None,
    locations: bool = True,
) -> str:
    """One line per entry, columns aligned: ``%id:type = request [-> value] [|grad|=n] # where``;
    a failed request is followed by a line ``!! Error: message``.

    ``defaults`` (op name to default parameters) hides parameters left at their default;
    ``grads`` (cotangents by node id) adds each node's gradient norm.
    """
    defaults = defaults or {}
    rows: list[list[str]] = []
    errors: dict[int, str] = {}
    for e in entries:
        row = [_type(e), "= " + _request(e, defaults)]
        row.append(f"-> {_value(e.value)}" if values and e.error is None else "")
        g = grads[e.out] if grads is not None and e.out is not None and e.out < len(grads) else None
        row.append(f"|grad|={_number(grad_norm(g))}" if g is not None else "")
        row.append(f"# {e.location}" if locations and e.location is not None else "")
        if e.error is not None:
            errors[len(rows)] = _error(e.error)
        rows.append(row)
    lines = _align(rows)
    indent = " " * (max(len(row[0]) for row in rows) + 1) if rows else ""
    for k in sorted(errors, reverse=True):
        lines.insert(k + 1, f"{indent}!! {errors[k]}")
    return "\n".join(lines)


def _error(error: BaseException) -> str:
    """``Type: message`` on one line (a TapeError without its location: the row shows it)."""
    message = error.message if isinstance(error, TapeError) else str(error)
    first = message.splitlines()[0] if message else ""
    return f"{type(error).__name__}: {first}"


def _align(rows: list[list[str]]) -> list[str]:
    """Pad every column to its widest cell; empty columns take no space."""
    if not rows:
        return []
    widths = [max(len(row[k]) for row in rows) for k in range(len(rows[0]))]
    lines = []
    for row in rows:
        cells: list[str] = []
        for k, cell in enumerate(row):
            if widths[k] == 0:
                continue
            sep = " " if k == 1 else "  "
            cells.append((sep if cells else "") + cell.ljust(widths[k]))
        lines.append("".join(cells).rstrip())
    return lines


# --- Graphviz ------------------------------------------------------------------------------------

_TRAINABLE = 'shape=ellipse, style=filled, fillcolor="#cfe2ff"'
_DATA = "shape=ellipse"
_OUTPUT = "peripheries=2"
_HAS_GRAD = 'color="#c62828", penwidth=2'
_FAILED = 'shape=octagon, style=dashed, color="#c62828"'


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def dot(
    entries: Sequence[TraceEntry],
    *,
    out: int | None = None,
    grads: Sequence[Any] | None = None,
) -> str:
    """The entries as a ``digraph``: one node per entry (``n<id>``), one edge per input.

    Trainable leaves are filled blue, data leaves plain ellipses, ``out`` (default: the last
    node) has a double border, nodes with a gradient in ``grads`` a red border and their norm,
    failed requests are dashed red octagons. Inputs from before the trace are dotted stubs.
    """
    recorded = [e for e in entries if e.out is not None]
    if out is None and recorded:
        out = recorded[-1].out
    known = {e.out for e in recorded}
    lines = [
        "digraph tape {",
        "  // trainable leaves: filled blue; data leaves: ellipses; output: double border;",
        "  // red border: received a gradient; dashed red octagon: a request that failed",
        '  node [shape=box, fontname="monospace", fontsize=10];',
    ]
    stubs: list[int] = []
    edges: list[str] = []
    for e in entries:
        name = f"n{e.out}" if e.out is not None else f"failed{e.step}"
        if e.out is None:
            head = f"{e.op} (failed)"
            label = f"{head}\n{type(e.error).__name__}" if e.error is not None else head
            attrs = [_FAILED]
        else:
            what = _leaf_label(e, "") if e.op == "leaf" else e.op
            label = f"{e.out}: {what}\n{_type(e).split(':', 1)[1]}"
            attrs = [(_TRAINABLE if e.requires_grad else _DATA)] if e.op == "leaf" else []
            if e.out == out:
                attrs.append(_OUTPUT)
            g = grads[e.out] if grads is not None and e.out < len(grads) else None
            if g is not None:
                attrs.append(_HAS_GRAD)
                label += f"\n|grad|={_number(grad_norm(g))}"
        lines.append(f"  {name} [label={_quote(label)}{''.join(', ' + a for a in attrs)}];")
        for i in e.inputs:
            if i not in known and i not in stubs:
                stubs.append(i)
            edges.append(f"  n{i} -> {name};")
    lines += [f'  n{i} [label="{i}", style=dotted];' for i in stubs]
    return "\n".join([*lines, *edges, "}"]) + "\n"
