"""The op reference (``docs/ops.md``) and the README's table of ops are generated from, and kept
in step with, the op table; every op documents itself."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

from tapem import ops
from tapem.ops.reference import family_ops, reference

ROOT = Path(__file__).resolve().parent.parent


def test_the_reference_page_is_the_one_the_table_generates() -> None:
    page = (ROOT / "docs" / "ops.md").read_text()
    assert page == reference(), "regenerate it: python -m tapem.ops.reference > docs/ops.md"


def test_the_readme_lists_every_op_of_every_family_and_nothing_else() -> None:
    readme = (ROOT / "README.md").read_text()
    table = readme[readme.index("| family | ops |") :].split("\n\n")[0]
    listed = {}
    for row in table.splitlines()[2:]:
        family, cell = (part.strip() for part in row.strip("|").split("|"))
        names = " ".join(re.findall(r"`([^`]*)`", cell)).replace("h[...]", "").split()
        listed[family] = set(names)
    expected = {family: {rule.name for rule in rules} for family, rules in family_ops()}
    assert listed == expected


def test_every_op_of_a_family_is_in_the_table_and_the_ops_namespace() -> None:
    for _, rules in family_ops():
        for rule in rules:
            assert ops.TABLE[rule.name] is rule and getattr(ops, rule.name) is rule
    assert sum(len(rules) for _, rules in family_ops()) == len(ops.TABLE)


def test_every_op_has_a_signature_and_a_formula() -> None:
    for name, rule in ops.TABLE.items():
        signature = inspect.signature(rule)
        handles = [p for p in signature.parameters.values() if p.kind == p.POSITIONAL_ONLY]
        assert handles, name
        assert rule.doc.strip(), f"{name} has no doc= (its formula, first)"
        assert (inspect.getdoc(rule) or "").startswith(rule.doc.strip()[:20]), name
    assert str(inspect.signature(ops.linear)).startswith("(W, b, x, /)")
    assert str(inspect.signature(ops.clamp)).startswith("(x, /, lo, hi)")
    assert str(inspect.signature(ops.sum)).startswith("(x, /, axis=None, keepdims=False)")
