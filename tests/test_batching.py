"""Batched per-sample losses: one run over the whole batch gives what the loop over samples
gives (values and gradients within 1e-12 relative in float64), and what cannot be batched is
refused at its line, never answered differently."""

from __future__ import annotations

import re
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import tapem as tm
from tapem import ops
from tapem.batching import BatchingWarning
from tapem.interpreters import Debugging, Eager, ShapeOnly, Tracing

THIS_FILE = Path(__file__).read_text().splitlines()


def line_of(marker: str) -> int:
    hits = [i for i, line in enumerate(THIS_FILE, start=1) if line.endswith(f"# {marker}")]
    assert len(hits) == 1, marker
    return hits[0]


def close(a: Any, b: Any) -> bool:
    return bool(np.allclose(a, b, rtol=1e-12, atol=1e-14))


def same_value_and_grads(program_of: Any, **kwargs: Any) -> None:
    looped = tm.value_and_grad(program_of(batched=False, **kwargs))
    batched = tm.value_and_grad(program_of(batched=True, **kwargs))
    assert close(looped[0], batched[0])
    assert looped[1].keys() == batched[1].keys()
    for name, g in looped[1].items():
        assert close(g, batched[1][name]), name


RNG = np.random.default_rng(0)
W, B = RNG.normal(size=(3, 4)), RNG.normal(size=3)
XS = RNG.normal(size=(9, 4))
YS = RNG.normal(size=(9, 3))
LABELS = RNG.integers(0, 3, size=9)


def mse_of(w: tm.Handle, b: tm.Handle) -> Any:
    """One sample's loss of a linear model with parameters ``w`` and ``b``."""

    def per_sample(sample: Any) -> tm.Gen[tm.Handle]:
        x, y = sample
        X = yield from tm.const(x)
        Y = yield from tm.const(y)
        return (yield ops.mse_loss((yield ops.linear(w, b, X)), Y))

    return per_sample


@tm.tapem
def regression(batched: bool, samples: Any = None) -> tm.Gen[tm.Handle]:
    w = yield from tm.param(W, name="W")
    b = yield from tm.param(B, name="b")
    data = list(zip(XS, YS, strict=True)) if samples is None else samples
    return (yield from tm.mean_scalar_over(data, mse_of(w, b), batched=batched))


def test_a_batched_mean_equals_the_loop() -> None:
    same_value_and_grads(regression)


def test_a_batched_mean_records_a_few_ops_whatever_the_number_of_samples() -> None:
    _, looped = tm.run(regression(batched=False)).unwrap()
    _, batched = tm.run(regression(batched=True)).unwrap()
    assert len(looped) > 9 * 4 and len(batched) < 12
    ops_recorded = [node.op for node in batched if not node.is_leaf]
    assert "index" not in ops_recorded and "stack" not in ops_recorded  # no per-sample loop


@tm.tapem
def classifier(batched: bool) -> tm.Gen[tm.Handle]:
    w1 = yield from tm.param(W, name="W1")
    b1 = yield from tm.param(B, name="b1")

    def per_sample(sample: dict[str, Any]) -> tm.Gen[tm.Handle]:
        X = yield from tm.const(sample["x"] / 2.0)  # arithmetic on raw per-sample data
        label = yield from tm.const(sample["label"])
        h = yield ops.tanh((yield ops.linear(w1, b1, X)))
        return (yield ops.cross_entropy(h, label))

    data = [{"x": x, "label": y} for x, y in zip(XS, LABELS, strict=True)]
    return (yield from tm.mean_scalar_over(data, per_sample, batched=batched))


def test_a_batched_classifier_with_dict_samples_equals_the_loop() -> None:
    same_value_and_grads(classifier)


def test_mean_scalar_over_array_takes_the_arrays_axis_0_as_the_batch() -> None:
    @tm.tapem
    def program(batched: bool) -> tm.Gen[tm.Handle]:
        w = yield from tm.param(np.ones(4), name="w")

        def per_sample(x: Any) -> tm.Gen[tm.Handle]:
            X = yield from tm.const(x)
            return (yield ops.sum((yield ops.tanh((yield X * w)))))

        return (yield from tm.mean_scalar_over_array(XS, per_sample, batched=batched))

    same_value_and_grads(program)
    _, tape = tm.run(program(batched=True)).unwrap()
    assert np.shares_memory(tape.value(1), XS) or tape.node(1).shape == XS.shape


def test_vmap_returns_the_per_sample_results_stacked() -> None:
    @tm.tapem
    def weighted() -> tm.Gen[tm.Handle]:
        w = yield from tm.param(np.ones(4), name="w")

        def per_sample(x: Any) -> tm.Gen[tm.Handle]:
            X = yield from tm.const(x)
            return (yield ops.sum((yield X * w)))

        losses = yield from tm.vmap(per_sample, XS)
        weights = yield from tm.const(np.linspace(0.0, 1.0, len(XS)))
        return (yield ops.sum((yield losses * weights)))

    value, grads = tm.value_and_grad(weighted())
    weights = np.linspace(0.0, 1.0, len(XS))
    assert close(value, np.sum(XS.sum(axis=1) * weights))
    assert close(grads["w"], weights @ XS)


def test_per_sample_grads_equal_value_and_grad_sample_by_sample() -> None:
    @tm.tapem
    def loss(sample: Any) -> tm.Gen[tm.Handle]:
        x, y = sample
        w = yield from tm.param(W, name="W")
        b = yield from tm.param(B, name="b")
        X = yield from tm.const(x)
        Y = yield from tm.const(y)
        return (yield ops.mse_loss((yield ops.tanh((yield ops.linear(w, b, X)))), Y))

    samples = list(zip(XS, YS, strict=True))
    values, grads = tm.per_sample_grads(loss, samples)
    assert values.shape == (9,) and grads["W"].shape == (9, 3, 4) and grads["b"].shape == (9, 3)
    for i, sample in enumerate(samples):
        value, g = tm.value_and_grad(loss(sample))
        assert close(values[i], value)
        assert close(grads["W"][i], g["W"]) and close(grads["b"][i], g["b"])


# --- what cannot be batched: refused at its line, never answered differently ----------------------


def test_samples_of_different_shapes_name_the_first_mismatch() -> None:
    samples = [(np.zeros(4), np.zeros(3)), (np.zeros(4), np.zeros(3)), (np.zeros(5), np.zeros(3))]
    error = tm.run(regression(batched=True, samples=samples)).failure()
    assert isinstance(error, tm.InvalidArgument)
    assert "sample 2 has shape (5,), sample 0 has (4,)" in str(error)
    assert "batched=False" in str(error)


def test_a_python_branch_on_per_sample_values_is_refused_at_its_line() -> None:
    @tm.tapem
    def branching(batched: bool) -> tm.Gen[tm.Handle]:
        def per_sample(x: Any) -> tm.Gen[tm.Handle]:
            if x[0] > 0:  # <- the branch
                return (yield from tm.const(x[0]))
            return (yield from tm.const(-x[0]))

        return (yield from tm.mean_scalar_over(list(XS), per_sample, batched=batched))

    error = tm.run(branching(batched=True)).failure()
    assert isinstance(error, tm.InvalidArgument)
    assert "needs the values of one sample" in str(error) and "batched=False" in str(error)
    assert error.location is not None and error.location.line == line_of("<- the branch")
    looped = tm.value_of(branching(batched=False))  # the loop answers it, sample by sample
    assert close(looped, np.mean(np.abs(XS[:, 0])))


@pytest.mark.parametrize(
    "use",
    [
        lambda x: float(x[0]),
        lambda x: int(x[0]),
        lambda x: x.item(),
        lambda x: x.tolist(),
        lambda x: np.asarray(x),
        lambda x: bool(x[0]),
        lambda x: [0, 1][x[0]],
    ],
)
def test_reading_one_samples_values_is_refused(use: Any) -> None:
    @tm.tapem
    def program() -> tm.Gen[tm.Handle]:
        def per_sample(x: Any) -> tm.Gen[tm.Handle]:
            use(x)
            return (yield from tm.const(x[0]))

        return (yield from tm.mean_scalar_over(list(XS), per_sample, batched=True))

    error = tm.run(program()).failure()
    assert isinstance(error, tm.InvalidArgument) and "needs the values of one sample" in str(error)


@pytest.mark.parametrize(
    "compute",
    [
        lambda x: x / 255.0,
        lambda x: np.log1p(np.abs(x)),
        lambda x: (x > 0).astype(np.float64) * x,
        lambda x: x[1:3] * 2 - x[0],
        lambda x: np.sort(x),  # a numpy function: sample by sample
        lambda x: np.concatenate([x, x[::-1]]),
        lambda x: x.reshape(2, 2).T.reshape(4),
        lambda x: np.sum(x) + x,
    ],
)
def test_computing_on_raw_per_sample_data_is_batched_correctly(compute: Any) -> None:
    @tm.tapem
    def program(batched: bool) -> tm.Gen[tm.Handle]:
        w = yield from tm.param(np.array(1.5), name="w")

        def per_sample(x: Any) -> tm.Gen[tm.Handle]:
            X = yield from tm.const(compute(x))
            return (yield ops.sum((yield X * w)))

        return (yield from tm.mean_scalar_over(list(XS), per_sample, batched=batched))

    same_value_and_grads(program)


def test_a_per_sample_handle_used_after_its_run_is_refused() -> None:
    kept: list[tm.Handle] = []

    @tm.tapem
    def leaky() -> tm.Gen[tm.Handle]:
        def per_sample(x: Any) -> tm.Gen[tm.Handle]:
            X = yield from tm.const(x)
            kept.append(X)
            return (yield ops.sum(X))

        yield from tm.vmap(per_sample, XS)
        return (yield ops.sum(kept[0]))

    error = tm.run(leaky()).failure()
    assert isinstance(error, tm.InvalidRequest) and "batched run that ended" in str(error)


def test_a_non_scalar_per_sample_loss_is_a_shape_mismatch_as_in_the_loop() -> None:
    @tm.tapem
    def program(batched: bool) -> tm.Gen[tm.Handle]:
        def per_sample(x: Any) -> tm.Gen[tm.Handle]:
            return (yield from tm.const(x))

        return (yield from tm.mean_scalar_over(list(XS), per_sample, batched=batched))

    for batched in (False, True):
        error = tm.run(program(batched=batched)).failure()
        assert isinstance(error, tm.ShapeMismatch) and "must be a scalar" in str(error)


def test_a_shape_error_inside_the_batch_is_the_loops_at_the_same_line() -> None:
    @tm.tapem
    def program(batched: bool) -> tm.Gen[tm.Handle]:
        w = yield from tm.param(np.ones((2, 5)), name="w")

        def per_sample(x: Any) -> tm.Gen[tm.Handle]:
            X = yield from tm.const(x)
            return (yield ops.sum((yield w @ X)))  # <- mismatch

        return (yield from tm.mean_scalar_over(list(XS), per_sample, batched=batched))

    errors = [tm.run(program(batched=b)).failure() for b in (False, True)]
    assert all(isinstance(e, tm.ShapeMismatch) for e in errors)
    assert errors[0].message == errors[1].message  # one sample's shapes, not the batch's
    assert errors[0].location == errors[1].location
    assert errors[1].location.line == line_of("<- mismatch")


def test_empty_samples_are_an_empty_dataset() -> None:
    error = tm.run(regression(batched=True, samples=[])).failure()
    assert isinstance(error, tm.EmptyDataset)


# --- the other interpreters work on batched programs ------------------------------------------


def test_tracing_lists_batched_shapes() -> None:
    tracer = Tracing(Eager())
    tm.value_and_grad(regression(batched=True), interpreter=tracer)
    listing = tracer.listing(locations=False)
    assert "f64[9,4] = const" in listing and "f64[9,3] = linear" in listing


def test_shape_only_checks_a_batched_program() -> None:
    out, tape = tm.run(regression(batched=True), interpreter=ShapeOnly()).unwrap()
    _, eager = tm.run(regression(batched=True)).unwrap()
    assert [n.shape for n in tape] == [n.shape for n in eager] and out.shape == ()


def test_debugging_names_the_sample_of_a_non_finite_value() -> None:
    xs = np.ones((6, 2))
    xs[4, 1] = -1.0

    @tm.tapem
    def program() -> tm.Gen[tm.Handle]:
        def per_sample(x: Any) -> tm.Gen[tm.Handle]:
            X = yield from tm.const(x)
            ratio = yield (yield ops.sqrt(X)) / (yield X + 1.0)  # <- 0/0
            return (yield ops.sum(ratio))

        return (yield from tm.mean_scalar_over(list(xs), per_sample, batched=True))

    with np.errstate(all="ignore"):
        error = tm.run(program(), interpreter=Debugging(Eager())).failure()
    assert isinstance(error, tm.NonFinite) and error.sample == 4
    assert "(sample 4)" in str(error)
    assert error.location is not None and error.location.line == line_of("<- 0/0")


def test_check_grads_works_on_a_batched_loss() -> None:
    report = tm.check_grads(regression(batched=True))
    assert report.ok


def test_an_op_without_a_batching_rule_runs_per_sample_with_a_warning() -> None:
    cube = tm.OpDef(
        "my_cube",
        forward=lambda x: x**3,
        vjp=(lambda g, out, x: 3 * x**2 * g,),
        jvp=(lambda t, out, x: 3 * x**2 * t,),
        shape=lambda x: tm.ShapeDtype((), x.dtype) if x.shape == () else _no(x),
    )

    @tm.tapem
    def program(batched: bool) -> tm.Gen[tm.Handle]:
        w = yield from tm.param(np.array(0.5), name="w")

        def per_sample(x: Any) -> tm.Gen[tm.Handle]:
            X = yield from tm.const(x[0])
            return (yield cube((yield X * w)))

        return (yield from tm.mean_scalar_over(list(XS), per_sample, batched=batched))

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        same_value_and_grads(program)
    messages = [str(w.message) for w in caught if issubclass(w.category, BatchingWarning)]
    assert messages and all("my_cube has no batching rule" in m for m in messages)


def _no(x: Any) -> Any:
    raise tm.ShapeMismatch("my_cube", [x.shape], "scalars only")


# --- collated batches: a data loader's (xs, ys), taken as it is ---------------------------------


@tm.tapem
def regression_over(samples: Any, batched: bool) -> tm.Gen[tm.Handle]:
    return (yield from regression(batched=batched, samples=samples))


def test_a_collated_batch_is_the_sequence_of_its_samples() -> None:
    batch = tm.Collated((XS, YS))
    assert len(batch) == len(XS)
    x, y = batch[3]
    assert np.array_equal(x, XS[3]) and np.array_equal(y, YS[3])
    assert [np.array_equal(s[0], x) for s, x in zip(batch, XS, strict=True)] == [True] * 9
    assert len(batch[2:5]) == 3 and np.array_equal(batch[2:5][0][1], YS[2])
    assert "float64[9, 4]" in repr(batch)


def test_a_collated_batch_gives_what_its_samples_give_looped_or_batched() -> None:
    as_list = tm.value_and_grad(regression(batched=False))
    for batched in (False, True):
        value, grads = tm.value_and_grad(regression_over(tm.Collated((XS, YS)), batched))
        assert close(value, as_list[0])
        assert all(close(grads[k], as_list[1][k]) for k in as_list[1])


def test_a_batched_run_takes_a_collated_batch_without_copying_frozen_data() -> None:
    from tapem.arrays import readonly

    xs, ys = readonly(XS.copy()), readonly(YS.copy())
    _, tape = tm.run(regression(batched=True, samples=tm.Collated((xs, ys)))).unwrap()
    assert any(np.shares_memory(tape.value(i), xs) for i in range(len(tape)))
    _, tape = tm.run(regression(batched=True, samples=tm.Collated((XS, YS)))).unwrap()
    assert not any(np.shares_memory(tape.value(i), XS) for i in range(len(tape)))  # a copy


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ((XS, YS[:5]), "the fields have 9, 5 rows"),
        ((XS, np.float64(1.0)), "a field is a scalar"),
        ((), "give arrays"),
    ],
)
def test_a_collated_batch_needs_one_row_per_sample_in_every_field(
    fields: Any, message: str
) -> None:
    with pytest.raises(tm.InvalidArgument, match=message):
        tm.Collated(fields)


@pytest.mark.parametrize(
    ("samples", "message"),
    [
        ([np.zeros(2), np.zeros(3)], "sample 1 has shape (3,), sample 0 has (2,)"),
        ([(np.zeros(2), 1), np.zeros(2)], "sample 1 is not structured like sample 0"),
        ([], "no samples"),
    ],
)
def test_collating_samples_names_the_first_that_differs(samples: Any, message: str) -> None:
    with pytest.raises(tm.InvalidArgument, match=re.escape(message)):
        tm.Collated.from_samples(samples)


def test_collated_samples_are_stacked_read_only() -> None:
    batch = tm.Collated.from_samples([{"x": XS[i], "y": LABELS[i]} for i in range(3)])
    assert np.array_equal(batch.fields["x"], XS[:3]) and not batch.fields["y"].flags.writeable


def test_a_collated_batch_of_named_fields_keeps_their_names() -> None:
    from typing import NamedTuple

    class Pair(NamedTuple):
        x: Any
        y: Any

    batch = tm.Collated(Pair(XS, YS))
    assert isinstance(batch[1], Pair) and np.array_equal(batch[1].y, YS[1])
    assert isinstance(batch[2:4].fields, Pair)
    stacked = tm.Collated.from_samples([Pair(XS[i], YS[i]) for i in range(3)])
    assert isinstance(stacked.fields, Pair) and np.array_equal(stacked.fields.x, XS[:3])
    same_value_and_grads(lambda batched: regression(batched=batched, samples=batch))


def test_mean_scalar_over_dataset_batched_equals_the_loop() -> None:
    ds = tm.Dataset(list(zip(XS, YS, strict=True)))

    @tm.tapem
    def program(batched: bool) -> tm.Gen[tm.Handle]:
        w = yield from tm.param(W, name="W")
        b = yield from tm.param(B, name="b")
        return (yield from tm.mean_scalar_over_dataset(ds, mse_of(w, b), batched=batched))

    same_value_and_grads(program)


def test_a_vmap_inside_a_vmap_batches_both_levels() -> None:
    grid = RNG.normal(size=(3, 5, 4))  # 3 groups of 5 samples

    @tm.tapem
    def nested() -> tm.Gen[tm.Handle]:
        w = yield from tm.param(np.ones(4), name="w")

        def group(rows: Any) -> tm.Gen[tm.Handle]:
            def row(x: Any) -> tm.Gen[tm.Handle]:
                X = yield from tm.const(x)
                return (yield ops.sum((yield ops.tanh((yield X * w)))))

            per_row = yield from tm.vmap(row, rows)
            return (yield ops.mean(per_row))

        per_group = yield from tm.vmap(group, grid)
        return (yield ops.sum(per_group))

    value, grads = tm.value_and_grad(nested())
    expected = np.tanh(grid).sum(axis=2).mean(axis=1).sum()
    assert close(value, expected)
    slope = ((1 - np.tanh(grid) ** 2) * grid).mean(axis=1).sum(axis=0)
    assert close(grads["w"], slope)


# --- per-sample data beside handles -----------------------------------------------------------


SIGNS = np.where(RNG.normal(size=9) > 0, 1.0, -1.0)


@pytest.mark.parametrize(
    "combine",
    [
        lambda h, s: h * -s,
        lambda h, s: -s * h,
        lambda h, s: s + h,
        lambda h, s: h - s,
        lambda h, s: s / (h * h + 1.0),
        lambda h, s: np.multiply(s, h),
        lambda h, s: np.maximum(h, s),
    ],
)
def test_per_sample_numbers_combine_with_handles_as_in_the_loop(combine: Any) -> None:
    @tm.tapem
    def program(batched: bool) -> tm.Gen[tm.Handle]:
        w = yield from tm.param(np.linspace(-1.0, 1.0, 4), name="w")

        def per_sample(sample: Any) -> tm.Gen[tm.Handle]:
            x, s = sample
            X = yield from tm.const(x)
            h = yield ops.sum((yield X * w))
            return (yield combine(h, s))

        return (
            yield from tm.mean_scalar_over(tm.Collated((XS, SIGNS)), per_sample, batched=batched)
        )

    same_value_and_grads(program)


def test_a_power_by_per_sample_data_is_refused_with_the_closest_op() -> None:
    @tm.tapem
    def program() -> tm.Gen[tm.Handle]:
        def per_sample(sample: Any) -> tm.Gen[tm.Handle]:
            x, s = sample
            X = yield from tm.const(x)
            return (yield ops.sum((yield X**s)))

        return (yield from tm.mean_scalar_over(tm.Collated((XS, SIGNS)), per_sample, batched=True))

    error = tm.run(program()).failure()
    assert isinstance(error, tm.UnsupportedOperation) and "ops.exp(s * ops.log(x))" in str(error)


# --- a batched loss compiles ------------------------------------------------------------------


def test_a_compiled_batched_loss_replays_with_new_data_bit_for_bit() -> None:
    compiled = tm.compile(regression_over)
    for seed in range(3):
        rng = np.random.default_rng(seed)
        batch = tm.Collated((rng.normal(size=(9, 4)), rng.normal(size=(9, 3))))
        replayed = compiled.value_and_grad(batch, True)
        eager = tm.value_and_grad(regression_over(batch, True))
        assert np.array_equal(replayed[0], eager[0])
        assert all(np.array_equal(replayed[1][k], eager[1][k]) for k in eager[1])
    assert (compiled.traces, compiled.replays) == (1, 2)  # the data rebound, not baked in


@pytest.mark.parametrize("batched", [False, True])
def test_a_runs_tape_is_freed_without_the_cyclic_collector(batched: bool) -> None:
    import gc
    import weakref

    gc.collect()
    gc.disable()
    try:
        out, tape = tm.run(regression(batched=batched)).unwrap()
        arrays = [weakref.ref(r[0]) for r in tape._nodes if isinstance(r[0], np.ndarray)]
        assert len(arrays) > 5
        del out, tape
        assert all(a() is None for a in arrays)  # no reference cycle keeps the run's arrays
    finally:
        gc.enable()
