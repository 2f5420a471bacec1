"""``python -m tapem check`` and ``python -m tapem demo``."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from tapem.cli import main

PROGRAMS = textwrap.dedent(
    """
    import numpy as np
    import tapem as tm
    from tapem import ops
    from tapem.ops.opdef import same_shape

    # a custom op whose VJP forgot the factor 2
    bad_square = tm.OpDef(
        "bad_square",
        forward=lambda x: x * x,
        vjp=(lambda g, out, x: g * x,),
        jvp=(lambda t, out, x: 2 * t * x,),
        shape=same_shape,
    )

    @tm.tapem
    def good():
        w = yield from tm.param(np.array([0.3, -1.2]), name="w")
        y = yield ops.tanh(w)
        return (yield ops.sum((yield y * y)))

    @tm.tapem
    def wrong_rule():
        w = yield from tm.param(np.array([0.3, -1.2]), name="w")
        y = yield bad_square(w)  # the faulty line
        return (yield ops.sum(y))

    @tm.tapem
    def produces_nan():
        w = yield from tm.param(np.array([-1.0, 4.0]), name="w")
        root = yield ops.pow(w, 0.5)  # NaN for the negative element
        return (yield ops.sum(root))

    @tm.tapem
    def no_params():
        c = yield from tm.const(np.ones(2))
        return (yield ops.sum(c))
    """
)


@pytest.fixture
def programs(tmp_path: Path) -> Path:
    path = tmp_path / "losses.py"
    path.write_text(PROGRAMS)
    return path


def faulty_line(path: Path) -> int:
    lines = path.read_text().splitlines()
    return next(i for i, line in enumerate(lines, 1) if line.endswith("# the faulty line"))


def test_check_passes_a_correct_loss(programs, capsys):
    assert main(["check", f"{programs}:good", "--order", "2"]) == 0
    out = capsys.readouterr().out
    assert "no NaN or Inf" in out
    assert "ok" in out.lower()


def test_check_names_the_op_and_line_of_a_wrong_rule(programs, capsys):
    assert main(["check", f"{programs}:wrong_rule"]) == 1
    out = capsys.readouterr().out
    assert "FAILED" in out
    assert "bad_square" in out
    assert f"losses.py:{faulty_line(programs)}" in out
    assert "w" in out


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")
def test_check_reports_a_nan_with_its_op(programs, capsys):
    assert main(["check", f"{programs}:produces_nan"]) == 1
    out = capsys.readouterr().out
    assert "NonFinite" in out and "pow" in out


def test_check_of_a_loss_without_params_says_so(programs, capsys):
    assert main(["check", f"{programs}:no_params"]) == 0
    assert "no trainable param" in capsys.readouterr().out


def test_check_usage_errors_are_one_line(programs, capsys):
    assert main(["check", f"{programs}:missing"]) == 2
    assert "has no function 'missing'" in capsys.readouterr().err


def test_demo_trains_reports_traces_and_plots(tmp_path, capsys):
    plot = tmp_path / "curve.png"
    assert main(["demo", "--epochs", "3", "--plot", str(plot)]) == 0
    out = capsys.readouterr().out
    assert "test accuracy:" in out
    accuracy = float(out.split("test accuracy:")[1].split("%")[0])
    assert accuracy > 90.0
    assert "= cross_entropy %7 %8" in out
    assert "demo.py" in out  # the trace shows the loss's own source lines
    assert plot.read_bytes()[:4] == b"\x89PNG"
    assert str(plot) in out
