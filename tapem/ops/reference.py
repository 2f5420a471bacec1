"""The op reference, generated from the op table: ``python -m tapem.ops.reference``.

Each op documents itself (its signature and its docstring, from its row in its family); this
module lays them out as one Markdown page, family by family, in :data:`tapem.ops.FAMILIES`
order. ``docs/ops.md`` is its output, and a test keeps the two (and the README's table of op
families) in step: regenerate the page after changing an op with

    python -m tapem.ops.reference > docs/ops.md

>>> page = reference()
>>> "### `linear(W, b, x, /)`" in page and "## elementwise" in page
True
"""

from __future__ import annotations

import inspect

from tapem.ops import FAMILIES, OpDef

__all__ = ["family_ops", "reference"]


def family_ops() -> list[tuple[str, list[OpDef]]]:
    """Each family's name and its ops, in table order."""
    families = []
    for family, module in FAMILIES:
        rules = [getattr(module, name) for name in module.__all__]
        families.append((family, [rule for rule in rules if isinstance(rule, OpDef)]))
    return families


def _entry(rule: OpDef) -> str:
    signature = str(inspect.signature(rule)).split(" -> ")[0]
    doc = inspect.getdoc(rule) or ""
    body = "\n\n".join(part for part in doc.split("\n\n") if not part.startswith("Returns the"))
    return f"### `{rule.name}{signature}`\n\n{body}\n"


def reference() -> str:
    """The reference page (Markdown) of every built-in op."""
    lines = [
        "# tapem ops",
        "",
        "Every built-in op, by family: its signature (inputs are handles, given by position; "
        "static parameters follow) and what it computes. Generated from the op table by "
        "`python -m tapem.ops.reference`; do not edit by hand.",
        "",
    ]
    for family, rules in family_ops():
        lines.append(f"## {family}\n")
        lines.extend(_entry(rule) for rule in rules)
    return "\n".join(lines).rstrip() + "\n"


if __name__ == "__main__":
    print(reference(), end="")
