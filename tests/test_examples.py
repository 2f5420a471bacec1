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


def test_iris_logistic_regression_learns():
    assert load("iris_logistic").main(epochs=30, progress=False) >= 0.9


def test_digits_mlp_reaches_95_percent():
    history = load("digits_mlp").main(epochs=8, progress=False)
    assert history.metrics["accuracy"][-1] >= 0.95


def test_digits_cnn_reaches_97_percent():
    history = load("digits_cnn").main(epochs=8, progress=False)
    assert history.metrics["accuracy"][-1] >= 0.97


def test_per_sample_example_learns():
    assert load("per_sample").main(epochs=15, progress=False) >= 0.85


def test_distributed_example_trains_on_a_local_cluster():
    """Run as a user runs it (a script: its loss travels to the workers by value), on the
    local cluster it starts and shuts down itself."""
    import subprocess

    script = EXAMPLES / "distributed.py"
    done = subprocess.run([sys.executable, str(script), "--epochs", "4", "--no-progress"],
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "the single-process value and gradients" in done.stdout
    accuracy = float(done.stdout.split("test accuracy ")[1].split()[0])
    assert accuracy >= 0.85
