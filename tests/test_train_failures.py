"""fit loses nothing when it fails: the error keeps its type and carries the last good params and
the history, the optimizer's state matches those params (going on from them equals a run that
never saw the failing batch, bit for bit), and every failure is a typed error."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from train_cases import least_squares

import tapem as tm
from tapem import ops
from tapem.optim import SGD, Adam


def batch(seed: int, bad: bool = False) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((4, 3))
    y = x @ np.array([[1.0], [-2.0], [0.5]]) + 0.3
    if bad:
        y[1, 0] = np.nan
    return x, y


class Epochs:
    """An iterable whose i-th pass yields ``epochs[i]`` (raising ``fail`` where it is placed)."""

    def __init__(self, *epochs: list[Any]) -> None:
        self.epochs = list(epochs)
        self.passes = 0

    def __iter__(self) -> Iterator[Any]:
        items = self.epochs[self.passes]
        self.passes += 1
        for item in items:
            if isinstance(item, BaseException):
                raise item
            yield item


def start() -> dict[str, np.ndarray]:
    return {"W": np.zeros((1, 3)), "b": np.zeros(1)}


def assert_same_run(a: dict[str, np.ndarray], b: dict[str, np.ndarray], oa: Adam, ob: Adam) -> None:
    assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)  # bit for bit
    sa, sb = oa.state_dict(), ob.state_dict()
    assert sa["param_groups"] == sb["param_groups"]
    for key, fields in sa["state"].items():
        assert fields["step"] == sb["state"][key]["step"]
        assert all(np.array_equal(fields[f], sb["state"][key][f]) for f in fields)


@pytest.mark.parametrize(
    ("failure", "kind"),
    [
        (batch(9, bad=True), tm.NonFinite),  # a NaN target: a non-finite loss
        (ValueError("the loader broke"), ValueError),  # not a tapem error
        (KeyboardInterrupt(), KeyboardInterrupt),
    ],
    ids=["nan-loss", "loader-error", "ctrl-c"],
)
def test_going_on_from_the_error_equals_a_run_without_the_failing_batch(
    failure: Any, kind: type[BaseException]
) -> None:
    caller = start()
    opt = Adam(lr=0.1)
    failing = Epochs([batch(1), batch(2)], [batch(3), failure, batch(4)])
    with pytest.raises(kind) as info:
        tm.fit(least_squares, caller, failing, opt, epochs=2, progress=False)
    error = info.value
    assert error.history.epochs == 1 and len(error.history.train_loss) == 1  # type: ignore[attr-defined]
    assert error.params is error.history.params  # type: ignore[attr-defined]
    assert any("error.params" in note for note in error.__notes__)
    assert all(not v.any() for v in caller.values())  # the caller's dict is untouched
    # go on where it stopped: the rest of epoch 2
    going_on = tm.fit(
        least_squares,
        error.params,
        [batch(4)],
        opt,
        epochs=1,
        progress=False,  # type: ignore[attr-defined]
    )

    clean_opt = Adam(lr=0.1)
    clean = tm.fit(
        least_squares,
        start(),
        Epochs([batch(1), batch(2)], [batch(3), batch(4)]),
        clean_opt,
        epochs=2,
        progress=False,
    )
    assert_same_run(going_on.params, clean.params, opt, clean_opt)
    assert error.history.train_loss == clean.train_loss[:1]  # type: ignore[attr-defined]


def test_a_nan_loss_is_diagnosed_with_the_op() -> None:
    with pytest.raises(tm.NonFinite, match="training stopped at epoch 1, batch 2") as info:
        tm.fit(
            least_squares, start(), [batch(1), batch(2, bad=True)], SGD(lr=0.1), 1, progress=False
        )
    assert info.value.op is not None
    assert info.value.history.epochs == 0  # type: ignore[attr-defined]


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")
def test_a_step_that_overflows_is_undone() -> None:
    @tm.tapem
    def linear(params, x):
        w = yield from tm.param(params["w"], name="w")
        return (yield ops.sum((yield w * (yield from tm.const(x)))))

    opt = SGD(lr=1e308, momentum=0.9)
    x = np.array([1.0, 1.0])
    first = tm.fit(linear, {"w": np.zeros(2)}, [x * 1e-300], opt, epochs=1, progress=False)
    buffer = opt.state["w"]["momentum_buffer"].copy()
    with pytest.raises(tm.NonFinite, match=r"the SGD step made \['w'\] NaN/Inf.*clip_grad_norm"):
        tm.fit(linear, first.params, [x * 10.0], opt, epochs=1, progress=False)
    assert np.array_equal(opt.state["w"]["momentum_buffer"], buffer)  # the step never happened


def test_empty_loaders_and_eval_data() -> None:
    with pytest.raises(tm.EmptyDataset, match="the loader yielded no batches in epoch 1"):
        tm.fit(least_squares, start(), [], SGD(), epochs=1, progress=False)
    used_up = iter([batch(1)])  # an iterator is empty after one epoch
    with pytest.raises(tm.EmptyDataset, match="in epoch 2.*used up after one epoch") as info:
        tm.fit(least_squares, start(), used_up, SGD(), epochs=2, progress=False)
    assert info.value.history.epochs == 1  # type: ignore[attr-defined]
    with pytest.raises(tm.EmptyDataset, match="eval_data yielded no batches in epoch 1"):
        tm.fit(least_squares, start(), [batch(1)], SGD(), 1, eval_data=[], progress=False)


def test_a_loss_without_parameters_is_named() -> None:
    @tm.tapem
    def constant_loss(params, batch):
        x = yield from tm.const(batch[0])
        return (yield ops.sum(x))

    @tm.tapem
    def ignores_its_param(params, batch):
        yield from tm.param(params["W"], name="W")
        return (yield ops.sum((yield from tm.const(batch[0]))))

    for loss in (constant_loss, ignores_its_param):
        with pytest.raises(
            tm.InvalidArgument, match=rf"the loss .*{loss.__name__} has no gradient"
        ):
            tm.fit(loss, start(), [batch(1)], SGD(), epochs=1, progress=False)


def test_gradients_named_differently_from_params() -> None:
    @tm.tapem
    def misnamed(params, batch):
        w = yield from tm.param(params["W"], name="w")  # the dict calls it "W"
        return (yield ops.sum((yield w * (yield from tm.const(batch)))))

    with pytest.raises(tm.InvalidArgument, match=r"gradients for \['w'\]") as info:
        tm.fit(misnamed, {"W": np.zeros(2)}, [np.ones(2)], SGD(), 1, progress=False)
    assert info.value.params["W"].tolist() == [0.0, 0.0]  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"epochs": -1}, "epochs must be an integer >= 0"),
        ({"metrics": {"m": lambda p, b: 0.0}}, "metrics are measured on eval_data"),
        ({"early_stopping": tm.EarlyStopping()}, "early stopping watches the eval loss"),
        ({"resume": True}, "resume=True continues a checkpoint; pass checkpoint=path"),
        ({"scheduler_interval": "step"}, "scheduler_interval must be 'epoch' or 'batch'"),
    ],
)
def test_bad_arguments(kwargs: dict[str, Any], message: str) -> None:
    arguments: dict[str, Any] = {"epochs": 1, "progress": False} | kwargs
    with pytest.raises(tm.InvalidArgument, match=message):
        tm.fit(least_squares, start(), [batch(1)], SGD(), **arguments)


def test_arguments_are_checked_before_anything_is_built() -> None:
    """resume=True without a checkpoint is refused before the executor is looked at."""
    with pytest.raises(tm.InvalidArgument, match="resume=True continues a checkpoint"):
        tm.fit(least_squares, start(), [batch(1)], SGD(), 1, resume=True, executor=object())


def test_reduce_on_plateau_cannot_step_per_batch() -> None:
    opt = SGD()
    with pytest.raises(tm.InvalidArgument, match="ReduceLROnPlateau steps once per epoch"):
        tm.fit(
            least_squares,
            start(),
            [batch(1)],
            opt,
            epochs=1,
            scheduler=tm.optim.ReduceLROnPlateau(opt),
            scheduler_interval="batch",
        )
