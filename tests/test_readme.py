"""The README's two set-up commands are the ones CI and users run."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def setup_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    block = text.split("```bash\n", 1)[1].split("```", 1)[0]
    return [line for line in block.splitlines() if line.strip()]


def test_readme_opens_with_exactly_two_setup_commands() -> None:
    lines = [line for line in (ROOT / "README.md").read_text().splitlines() if line.strip()]
    assert lines[0].startswith("# ")
    assert lines[1] == "```bash"  # the commands come straight after the title
    assert len(setup_commands()) == 2


def test_ci_runs_the_readme_test_command() -> None:
    test_command = setup_commands()[1]
    assert "pytest" in test_command
    ci = (ROOT / ".ci" / "run").read_text()
    assert test_command in ci.splitlines()


def python_blocks() -> list[str]:
    text = (ROOT / "README.md").read_text()
    return [chunk.split("```", 1)[0] for chunk in text.split("```python\n")[1:]]


def test_the_readme_examples_run(tmp_path, monkeypatch):
    """Every Python block runs, in order, in one namespace (the training and data-parallel
    blocks are sketches of ``examples/digits_mlp.py`` and ``examples/distributed.py``, which
    have their own tests, so they only need to compile)."""
    import numpy as np

    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {}
    blocks = python_blocks()
    assert len(blocks) >= 5
    for block in blocks:
        if "loss_fn" in block:
            compile(block, "README.md", "exec")
            continue
        if "counting = Counting" in block:
            namespace["program"] = namespace["loss"](  # type: ignore[operator]
                np.array([[0.5]]), np.array([0.0]), namespace["xs"], namespace["ys"]
            )
        exec(compile(block, "README.md", "exec"), namespace)
    assert float(namespace["value"]) == 13.375  # type: ignore[arg-type]
    # one batched run over the 4 samples: transpose, matmul, add, sub, pow, each sample's mean,
    # then the sum and the scale by 1/4, whatever the number of samples
    assert namespace["counting"].count == 8  # type: ignore[attr-defined]
