"""The examples run and do what they say."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import tapem as tm

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_quickstart_loss_falls(capsys):
    history = load("quickstart").main(steps=30)
    assert history[-1] < 0.05 * history[0]
    assert "loss" in capsys.readouterr().out


def test_custom_op_runs_without_touching_the_op_table(capsys):
    before = dict(tm.ops.TABLE)
    module = load("custom_op")
    module.main()
    assert "swish vjp: ok" in capsys.readouterr().out
    assert dict(tm.ops.TABLE) == before
    assert "swish" not in tm.ops.TABLE
