"""``python -m tapem trace``: the listing of a file:function, ``--dot``, and one-line errors."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tapem.cli import COMMANDS, build_parser, main

PROGRAMS = textwrap.dedent(
    """
    import numpy as np
    import tapem as tm
    from tapem import ops
    from helper import SCALE  # a sibling module: the file's folder is importable

    @tm.tapem
    def example():
        w = yield from tm.param(np.array([1.0, -2.0]), name="w")
        y = yield w * SCALE
        return (yield ops.sum(y))

    @tm.tapem
    def takes_args(x):
        return (yield from tm.param(x))

    @tm.tapem
    def mismatch():
        a = yield from tm.param(np.ones(2))
        b = yield from tm.param(np.ones(3))
        return (yield a + b)

    @tm.tapem
    def vector():
        w = yield from tm.param(np.ones(2))
        return (yield w * 2.0)

    def not_a_program():
        return 42

    def raises():
        raise RuntimeError("no data today")

    NUMBER = 3
    """
)


@pytest.fixture
def programs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "helper.py").write_text("SCALE = 3.0\n")
    (tmp_path / "progs.py").write_text(PROGRAMS)
    (tmp_path / "broken.py").write_text("def f(:\n")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def line_of(text: str) -> int:
    return next(i for i, line in enumerate(PROGRAMS.splitlines(), start=1) if text in line)


def test_trace_prints_the_listing(programs: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["trace", "progs.py:example"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split("#")[0].split() for line in lines] == [
        ["%0:f64[2]", "=", "param", "'w'"],
        ["%1:f64[2]", "=", "scale", "%0", "c=3.0"],
        ["%2:f64[]", "=", "sum", "%1"],
    ]
    assert lines[1].endswith(f"# progs.py:{line_of('w * SCALE')} in example")


def test_trace_with_values_grads_and_dot(
    programs: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["trace", "progs.py:example", "--values", "--grads", "--dot", "out.dot"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert "-> [ 1., -2.]" in out[0] and "|grad|=4.243" in out[0]  # |(3, 3)| = 4.243
    assert out[-1] == "# value: -3.0"
    dot = (programs / "out.dot").read_text()
    assert dot.startswith("digraph tape {") and "n0 -> n1;" in dot and "|grad|=" in dot


def test_trace_shape_only(programs: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["trace", "progs.py:example", "--shape-only"]) == 0
    assert capsys.readouterr().out.count("\n") == 3


def test_a_failing_program_prints_the_listing_so_far(
    programs: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["trace", "progs.py:mismatch"]) == 1
    captured = capsys.readouterr()
    assert "%?" in captured.out and "!! ShapeMismatch" in captured.out
    assert captured.err.startswith("error: ShapeMismatch: add: shape mismatch")


def test_gradients_of_a_non_scalar_are_a_program_error(
    programs: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["trace", "progs.py:vector", "--grads"]) == 1
    captured = capsys.readouterr()
    assert captured.out.count("\n") == 2  # the listing of the forward pass
    assert captured.err.startswith("error: NotScalar: seed gradient shape mismatch")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["progs.py"], "expected path/to/file.py:function_name"),
        (["missing.py:example"], "no such file: missing.py"),
        (["progs.py:nothing"], "progs.py has no function 'nothing'"),
        (["progs.py:NUMBER"], "NUMBER in progs.py is not a function"),
        (["progs.py:takes_args"], "takes_args() takes arguments (x)"),
        (["progs.py:not_a_program"], "returned a value of type int, not a tapem Program"),
        (["progs.py:raises"], "calling raises() failed: RuntimeError: no data today"),
        (["broken.py:f"], "importing broken.py failed: SyntaxError"),
        (["progs.py:example", "--grads", "--shape-only"], "--grads needs values"),
    ],
)
def test_bad_inputs_are_one_line_errors(
    programs: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    assert main(["trace", *args]) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith("python -m tapem trace: error: ")
    assert message in captured.err and "Traceback" not in captured.err
    assert captured.err.count("\n") == 1


def test_the_module_entry_point(programs: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "tapem", "trace", str(programs / "progs.py") + ":example"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "= scale %0 c=3.0" in done.stdout
    done = subprocess.run(
        [sys.executable, "-m", "tapem"], capture_output=True, text=True, check=False
    )
    assert done.returncode == 2 and "COMMAND" in done.stderr


def test_commands_are_registered_in_one_place() -> None:
    assert [c.name for c in COMMANDS] == ["demo", "trace", "check"]
    help_text = build_parser().format_help()
    for name in ("demo", "trace", "check"):
        assert name in help_text


@pytest.mark.parametrize(("command", "flags"), [("trace", ["--grads"]), ("check", [])])
def test_a_type_error_in_the_program_gets_through_but_no_handle_is_a_usage_error(
    command: str, flags: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "buggy.py"
    path.write_text(
        textwrap.dedent(
            """
            import numpy as np
            import tapem as tm
            from tapem import ops

            @tm.tapem
            def buggy():
                w = yield from tm.param(np.ones(2), name="w")
                total = yield ops.sum(w)
                return total if len(3) else total  # a bug in the program

            @tm.tapem
            def returns_a_number():
                w = yield from tm.param(np.ones(2), name="w")
                yield ops.sum(w)
                return 3.0
            """
        )
    )
    with pytest.raises(TypeError, match="has no len") as info:
        main([command, f"{path}:buggy", *flags])
    assert type(info.value) is TypeError  # the user's own error, with its traceback
    assert "error:" not in capsys.readouterr().err
    # a program that returns no handle is still a one-line usage error
    assert main([command, f"{path}:returns_a_number", *flags]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"python -m tapem {command}: error: value_and_grad needs a program")
    assert "needs a program that returns the handle" in err
    assert "Traceback" not in err and err.count("\n") == 1
