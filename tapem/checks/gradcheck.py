"""``check_grads``: reverse-mode gradients (and HVPs) against finite differences, in float64.

The program runs with every floating leaf upcast to float64 (a float32 program is checked in
float64 too). Its gradient with respect to each trainable leaf is compared elementwise with
central differences of the loss (every element, or a seeded sample of ``max_elements`` of a
larger parameter, plus one random direction through all of them). With ``order=2`` the
Hessian-vector product (forward-over-reverse, :func:`tapem.hvp`'s method) along random
directions is compared with central differences of the gradient.

On a mismatch the report names the parameter and element with the largest error and finds the
op responsible: it re-checks every op's rule at the node's recorded inputs, in tape order, and
names the first that disagrees with its user source line (recorded by re-running the program
through a small wrapping interpreter).

>>> import numpy as np
>>> import tapem as tm
>>> @tm.tapem
... def loss(x):
...     y = yield tm.ops.tanh(x)
...     return (yield tm.ops.sum(y))
>>> report = tm.check_grads(loss, np.array([0.3, -1.0]), order=2)
>>> report.ok
True
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from tapem.backward import reverse, seed_for
from tapem.checks.second_order import Culprit, find_wrong_rule
from tapem.errors import InvalidArgument, SourceLocation
from tapem.interpreters.eager import Eager
from tapem.interpreters.forward import Forward
from tapem.program import Program
from tapem.protocol import Interpreter, Wrapper
from tapem.requests import Leaf, Op
from tapem.sites import Site
from tapem.tape import Tape
from tapem.transforms.gradients import param_keys, run_to_node
from tapem.transforms.higher import lift
from tapem.transforms.products import hvp_of, per_input

__all__ = ["GradCheckError", "GradCheckReport", "Mismatch", "check_grads"]

Array = np.ndarray[Any, Any]


@dataclass(frozen=True)
class Mismatch:
    """One compared number: ``actual`` (reverse mode or HVP) against finite differences."""

    kind: str  # "gradient", "direction" or "hvp"
    param: str
    index: tuple[int, ...]
    expected: float
    actual: float
    score: float  # |actual - expected| / tolerance; above 1 is a failure

    def __str__(self) -> str:
        where = f"parameter {self.param}" + (f", element {list(self.index)}" if self.index else "")
        if self.kind == "direction":
            where = "all parameters along a random direction"
        source = {
            "gradient": "reverse mode",
            "direction": "<grad, v>",
            "hvp": "forward-over-reverse H·v",
        }
        return (
            f"{where}: {source[self.kind]} gives {self.actual:.10g}, finite differences give "
            f"{self.expected:.10g} (error {abs(self.actual - self.expected):.3g})"
        )


@dataclass(frozen=True)
class GradCheckReport:
    """What :func:`check_grads` found. ``str(report)`` is a short human-readable summary."""

    ok: bool
    order: int
    params: tuple[tuple[str, tuple[int, ...]], ...]
    compared: int
    failures: int
    worst: Mismatch | None
    culprit: Culprit | None = None
    skipped: tuple[str, ...] = ()
    error: str = ""

    def __str__(self) -> str:
        names = ", ".join(f"{p} {list(s)}" for p, s in self.params)
        what = "gradients" + (" and Hessian-vector products" if self.order == 2 else "")
        if self.ok:
            worst = f"; largest error at {self.worst}" if self.worst is not None else ""
            return (
                f"check_grads OK: {what} of {names} agree with finite differences "
                f"({self.compared} numbers compared{worst})"
            )
        head = f"check_grads FAILED ({what} of {names})"
        if self.failures:
            head += f": {self.failures} of {self.compared} numbers disagree"
        lines = [head]
        if self.error:
            lines.append(f"  error: {self.error}")
        if self.worst is not None and self.worst.score > 1:
            lines.append(f"  largest error: {self.worst}")
        if self.culprit is not None:
            lines.append(f"  first wrong rule: {self.culprit}")
        else:
            lines.append("  no single op's rule disagrees at its recorded inputs")
        if self.skipped:
            lines.append(
                f"  skipped (not differentiable at their inputs): {', '.join(self.skipped)}"
            )
        return "\n".join(lines)


class GradCheckError(AssertionError):
    """Gradients (or HVPs) disagree with finite differences; ``.report`` has the details."""

    def __init__(self, report: GradCheckReport) -> None:
        super().__init__(str(report))
        self.report = report


class _Probe(Wrapper):
    """Runs a program with floating leaves in float64 and some leaf values replaced (by node
    id), recording the user's source line of each request in ``sites``."""

    def __init__(
        self,
        inner: Interpreter,
        values: Mapping[int, Array] | None = None,
        sites: dict[int, SourceLocation | None] | None = None,
    ) -> None:
        super().__init__(inner)
        self._values = values or {}
        self._sites = sites
        self._site: Site = Site(None)

    def begin(self, tape: Tape, site: Site) -> None:
        self._site = site
        super().begin(tape, site)

    def leaf(self, request: Leaf) -> Any:
        value = self._values.get(self._site.node(), request.value)
        if value.dtype.kind == "f" and value.dtype != np.float64:
            value = value.astype(np.float64)
        if value is not request.value:
            request = Leaf(value, request.name, request.requires_grad)
        return self._note(self.inner.leaf(request))

    def op(self, request: Op, xs: tuple[Any, ...]) -> Any:
        return self._note(self.inner.op(request, xs))

    def _note(self, value: Any) -> Any:
        if self._sites is not None:
            self._sites[self._site.node()] = self._site()
        return value


def _program(
    program_or_f: Any, primals: Sequence[Any]
) -> tuple[Program[Any], dict[int, str], object]:
    """The program to check, the labels of its params (by node id) and its name."""
    if isinstance(program_or_f, Program):
        if primals:
            raise TypeError("check_grads: a Program declares its own params; pass no primals")
        return program_or_f, {}, program_or_f.name
    if not callable(program_or_f) or not primals:
        raise TypeError(
            "check_grads takes a tapem Program, or a @tm.tapem function and its primals"
        )
    labels = {i: f"arg{i}" for i in range(len(primals))}
    return lift(program_or_f, primals), labels, getattr(program_or_f, "__name__", program_or_f)


class _Checker:
    """The state of one check: the program, its params at the base point, the tolerances."""

    def __init__(
        self,
        program: Program[Any],
        labels: dict[int, str],
        name: object,
        eps: float,
        rtol: float,
        atol: float,
    ) -> None:
        self.program, self.name, self.eps, self.rtol, self.atol = program, name, eps, rtol, atol
        self.sites: dict[int, SourceLocation | None] = {}
        self.out, self.seed, self.tape = self._run(_Probe(Eager(), sites=self.sites))
        keys = param_keys(self.tape)
        self.labels = {
            i: labels.get(i, k if isinstance(k, str) else f"#{k}") for i, k in keys.items()
        }
        if not self.labels:
            raise InvalidArgument(
                "check_grads: the program has no trainable leaves (params) to check"
            )
        self.x = {i: np.asarray(self.tape.value(i)) for i in self.labels}

    def _run(self, interpreter: Interpreter) -> tuple[int, Any, Tape]:
        """Run the program: its scalar output's id, the seed of a reverse pass, the tape."""
        out, tape = run_to_node(self.program, interpreter, "check_grads", self.name)
        out, seed = seed_for(tape, out, None)
        return out, seed, tape

    def loss(self, values: Mapping[int, Array]) -> float:
        out, _, tape = self._run(_Probe(Eager(), values))
        return float(tape.value(out))

    def gradient(self, values: Mapping[int, Array] | None = None) -> dict[int, Array]:
        if values is None:
            out, seed, tape = self.out, self.seed, self.tape
        else:
            out, seed, tape = self._run(_Probe(Eager(), values))
        return per_input(reverse(tape, out, seed), self.x)

    def hvp(self, v: Mapping[Any, Array]) -> dict[int, Array]:
        return hvp_of(self.program, _Probe(Forward(dict(v))), self.x, "check_grads", self.name)

    def tolerance(self, expected: Any, actual: Any) -> Any:
        return self.atol + self.rtol * np.maximum(np.abs(expected), np.abs(actual))


class _Tally:
    """Counts compared numbers and failures, and keeps the worst (largest error / tolerance)."""

    def __init__(self, checker: _Checker) -> None:
        self.checker, self.compared, self.failures = checker, 0, 0
        self.worst: Mismatch | None = None

    def add(
        self, kind: str, label: str, expected: Any, actual: Any, flats: Any, shape: Any
    ) -> None:
        """Compare ``expected`` (finite differences) with ``actual``, flat arrays whose entry
        ``k`` is element ``flats[k]`` of a parameter of shape ``shape``."""
        expected, actual = (
            np.ravel(expected).astype(np.float64),
            np.ravel(actual).astype(np.float64),
        )
        with np.errstate(invalid="ignore"):
            score = np.abs(actual - expected) / self.checker.tolerance(expected, actual)
        score = np.where(np.isnan(score), np.inf, score)
        self.compared += score.size
        self.failures += int(np.count_nonzero(score > 1))
        if score.size == 0:
            return
        k = int(np.argmax(score))
        if self.worst is None or score[k] > self.worst.score:
            index = tuple(int(d) for d in np.unravel_index(flats[k], shape))
            self.worst = Mismatch(
                kind, label, index, float(expected[k]), float(actual[k]), float(score[k])
            )


def _elements(size: int, limit: int, rng: np.random.Generator) -> Array:
    indices: Array = (
        np.arange(size) if size <= limit else np.sort(rng.choice(size, limit, replace=False))
    )
    return indices


def _first_order(c: _Checker, tally: _Tally, rng: np.random.Generator, limit: int) -> None:
    grads, eps = c.gradient(), c.eps
    for i, x in c.x.items():
        flats = _elements(x.size, limit, rng)
        fd = np.empty(len(flats))
        for n, flat in enumerate(flats):
            plus, minus = x.copy(), x.copy()
            plus.flat[flat] += eps
            minus.flat[flat] -= eps
            fd[n] = (c.loss({i: plus}) - c.loss({i: minus})) / (2 * eps)
        tally.add("gradient", c.labels[i], fd, grads[i].flat[flats], flats, x.shape)
    v = {i: rng.standard_normal(x.shape) for i, x in c.x.items()}
    fd_v = (
        c.loss({i: x + eps * v[i] for i, x in c.x.items()})
        - c.loss({i: x - eps * v[i] for i, x in c.x.items()})
    ) / (2 * eps)
    along = float(sum(np.sum(grads[i] * v[i]) for i in c.x))
    tally.add("direction", "(all)", fd_v, along, [0], ())


def _second_order(c: _Checker, tally: _Tally, rng: np.random.Generator, directions: int) -> None:
    eps = c.eps
    for _ in range(directions):
        v = {i: rng.standard_normal(x.shape) for i, x in c.x.items()}
        exact = c.hvp(v)
        plus = c.gradient({i: x + eps * v[i] for i, x in c.x.items()})
        minus = c.gradient({i: x - eps * v[i] for i, x in c.x.items()})
        for i, x in c.x.items():
            fd = (plus[i] - minus[i]) / (2 * eps)
            tally.add("hvp", c.labels[i], fd, exact[i], np.arange(x.size), x.shape)


def check_grads(
    program_or_f: Program[Any] | Callable[..., Any],
    *primals: Any,
    order: int = 1,
    eps: float = 1e-6,
    rtol: float = 1e-5,
    atol: float = 1e-6,
    seed: int = 0,
    max_elements: int = 100,
    directions: int = 2,
) -> GradCheckReport:
    """Check a loss's gradients (``order=1``), and Hessian-vector products (``order=2``),
    against central differences in float64; return the report, or raise
    :class:`GradCheckError` (an ``AssertionError`` carrying ``.report``) on a mismatch.

    ``program_or_f`` is a TapeM-style program (every ``param`` it declares is checked, keyed
    by name or ``#<node id>``) or a ``@tm.tapem`` function of handles followed by its primal
    arrays (``arg0``, ``arg1``, ...), as for :func:`tapem.hvp`. A number agrees when
    ``|actual - fd| <= atol + rtol * max(|actual|, |fd|)``; ``eps`` is the difference step.

    Cost: two runs of the program per checked element (at most ``max_elements`` per
    parameter, a seeded sample of larger ones, plus one random direction through all
    parameters), and with ``order=2`` three runs per random direction (``directions``).
    A :class:`~tapem.TapeError` of the program itself is raised as is.
    """
    if order not in (1, 2):
        raise InvalidArgument(f"check_grads: order must be 1 or 2, not {order!r}")
    program, labels, name = _program(program_or_f, primals)
    checker = _Checker(program, labels, name, eps, rtol, atol)
    rng = np.random.default_rng(seed)
    tally = _Tally(checker)
    _first_order(checker, tally, rng, max_elements)
    failed_order, error = (1 if tally.failures else 0), ""
    if order == 2 and not failed_order:
        try:
            _second_order(checker, tally, rng, directions)
        except TypeError as exc:  # a VJP rule that cannot run on dual numbers
            error = f"the HVP could not be computed: {exc}"
        if error or tally.failures:
            failed_order = 2
    params = tuple((checker.labels[i], x.shape) for i, x in checker.x.items())
    culprit, skipped = (
        find_wrong_rule(checker.tape, checker.sites, failed_order, eps=eps, rtol=rtol, atol=atol)
        if failed_order
        else (None, [])
    )
    report = GradCheckReport(
        not failed_order,
        order,
        params,
        tally.compared,
        tally.failures,
        tally.worst,
        culprit,
        tuple(skipped),
        error,
    )
    if report.ok:
        return report
    raise GradCheckError(report)
