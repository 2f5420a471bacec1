"""Packaging: the console script, ``--version``, an SPDX licence, and an sdist that holds what
its own tests need."""

from __future__ import annotations

import subprocess
import sys
import tarfile
import tomllib
from importlib.metadata import entry_points, version
from pathlib import Path

import pytest

import tapem as tm
from tapem.cli import main

ROOT = Path(__file__).resolve().parent.parent


def test_the_tapem_console_script_runs_the_cli() -> None:
    (script,) = [e for e in entry_points(group="console_scripts") if e.name == "tapem"]
    assert script.value == "tapem.cli:main" and script.load() is main


def test_version_is_the_packages(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stop:
        main(["--version"])
    assert stop.value.code == 0
    assert (
        capsys.readouterr().out.strip() == f"tapem {tm.__version__}" == f"tapem {version('tapem')}"
    )


def test_the_licence_is_an_spdx_expression() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["license"] == "MIT" and project["license-files"] == ["LICENSE"]
    assert not any(c.startswith("License ::") for c in project.get("classifiers", []))


def test_the_sdist_holds_the_tests_and_what_they_read(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-c",
         f"from setuptools import build_meta; build_meta.build_sdist({str(tmp_path)!r})"],
        cwd=ROOT, check=True, capture_output=True,
    )  # fmt: skip
    (archive,) = tmp_path.glob("tapem-*.tar.gz")
    with tarfile.open(archive) as tar:
        names = {name.split("/", 1)[1] for name in tar.getnames() if "/" in name}
    for needed in (
        "tests/test_examples.py",
        "examples/quickstart.py",
        "docs/ops.md",
        "benchmarks/workloads.py",
        "tapem/datasets/data/digits.csv.gz",
        "LICENSE",
    ):
        assert needed in names, needed  # fmt: skip
    assert not any("__pycache__" in name for name in names)
