"""The package's layers point one way: a module imports only from its own layer or below, and
no two modules import each other, directly or in a cycle.

The test reads every ``import`` in ``tapem/`` (at module level, inside functions and under
``TYPE_CHECKING`` alike) with :mod:`ast`, so a cycle cannot hide behind a deferred import.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "tapem"

LAYERS: list[tuple[str, ...]] = [
    # foundations: errors, source sites, the collector pause, immutable arrays, dual numbers
    ("tapem.errors", "tapem.sites", "tapem.collector", "tapem.arrays", "tapem.dual"),
    ("tapem.expressions", "tapem.requests"),  # Leaf, Op: what a program yields; their operators
    ("tapem.ops",),  # the op table: OpDef rows, one file per family
    ("tapem.handle", "tapem.program"),  # what a program gets back; @tapem programs
    ("tapem.tape",),  # the recorded nodes
    ("tapem.backward",),  # the reverse pass
    ("tapem.protocol", "tapem.batching", "tapem.recording", "tapem.driver"),  # the engine
    ("tapem.interpreters",),  # Eager, ShapeOnly, Forward; Tracing, Debugging, Scripted
    ("tapem.replay",),  # argument proxies, the recorder, replay plans (read tape records)
    ("tapem.combinators",),  # param, const, fold_m, mean_scalar_over*
    ("tapem.transforms",),  # run, value_and_grad, higher derivatives
    ("tapem.checks",),  # rule and gradient checks
    (  # training
        "tapem.optim",
        "tapem.data",
        "tapem.datasets",
        "tapem.checkpoint",
        "tapem.run_state",
        "tapem.fit",
        "tapem.distributed",  # data-parallel gradients on Dask or concurrent.futures; fit uses it
    ),
    ("tapem.cli", "tapem.__main__"),  # the command line
    ("tapem",),  # the package's own __init__: the public names
]


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer_of(module: str) -> int:
    """The index of the layer whose most specific prefix matches ``module``."""
    best, best_length = -1, -1
    for index, prefixes in enumerate(LAYERS):
        for prefix in prefixes:
            matches = module == prefix or module.startswith(prefix + ".")
            if matches and len(prefix) > best_length:
                best, best_length = index, len(prefix)
    assert best >= 0, f"{module} is in no layer: add it to LAYERS"
    return best


def imports(path: Path) -> Iterator[str]:
    """The tapem modules ``path`` imports (``from tapem import ops`` imports ``tapem.ops``)."""
    tree = ast.parse(path.read_text(), str(path))
    own = module_name(path)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("tapem"):
                    yield alias.name
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if not node.module.startswith("tapem"):
                continue
            for alias in node.names:  # a submodule, if the name is one
                candidate = f"{node.module}.{alias.name}"
                as_file = PACKAGE.parent / Path(*candidate.split("."))
                if as_file.with_suffix(".py").exists() or (as_file / "__init__.py").exists():
                    yield candidate
                else:
                    yield node.module
        elif isinstance(node, ast.ImportFrom) and node.level > 0:
            raise AssertionError(f"{own}: use absolute imports")


def source(module: str) -> str:
    path = PACKAGE.parent / Path(*module.split("."))
    return (path / "__init__.py" if path.is_dir() else path.with_suffix(".py")).read_text()


def graph() -> dict[str, set[str]]:
    edges: dict[str, set[str]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        own = module_name(path)
        edges[own] = {m for m in imports(path) if m != own}
    return edges


def test_every_import_points_to_the_same_layer_or_below() -> None:
    wrong = []
    for module, targets in graph().items():
        if module == "tapem":
            continue  # the package's __init__ re-exports from every layer
        user_code = "__tapem_user_code__ = True" in source(module)  # written as a user's
        for target in targets:
            if target == "tapem" and not user_code:
                wrong.append(f"{module} imports the package root (import the module instead)")
            elif target != "tapem" and layer_of(target) > layer_of(module):
                wrong.append(f"{module} (layer {layer_of(module)}) imports {target} "
                             f"(layer {layer_of(target)})")  # fmt: skip
    assert not wrong, "imports that point up:\n" + "\n".join(sorted(wrong))


def test_there_are_no_import_cycles() -> None:
    """Cycles inside the ``tapem.dual`` package aside: a dual number's methods, functions and
    ufunc rules refer to each other by design."""
    edges = {
        m: {t for t in ts if not (m.startswith("tapem.dual") and t.startswith("tapem.dual"))}
        for m, ts in graph().items()
    }
    # a submodule imports its package's __init__ implicitly: leave that edge out
    edges = {m: {t for t in ts if not m.startswith(t + ".")} for m, ts in edges.items()}
    state: dict[str, int] = {}  # 1: on the stack, 2: done
    cycles: list[list[str]] = []

    def visit(module: str, stack: list[str]) -> None:
        state[module] = 1
        for target in sorted(edges.get(module, ())):
            if state.get(target) == 1:
                cycles.append([*stack[stack.index(target) :], target])
            elif target not in state:
                visit(target, [*stack, target])
        state[module] = 2

    for module in sorted(edges):
        if module not in state:
            visit(module, [module])
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)


def test_the_layer_check_catches_an_import_that_points_up(tmp_path: Path) -> None:
    """The check itself works: an import from the op table into the engine is flagged."""
    assert layer_of("tapem.ops.elementwise") < layer_of("tapem.recording")
    assert layer_of("tapem.interpreters.eager") > layer_of("tapem.protocol")
    assert layer_of("tapem.cli.demo") == layer_of("tapem.cli")
