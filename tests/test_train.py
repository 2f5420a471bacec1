"""The training loop: convergence, history, evaluation, checkpoints, plots, NaN handling."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pytest
from train_cases import least_squares

import tapem as tm
from tapem import ops
from tapem.optim import SGD, Adam, StepLR


def regression_problem(n=64, d=3, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d))
    y = x @ rng.standard_normal((d, 2)) + rng.standard_normal(2) + 0.1 * rng.standard_normal((n, 2))
    return x, y


def closed_form(x, y):
    design = np.hstack([x, np.ones((len(x), 1))])
    solution, *_ = np.linalg.lstsq(design, y, rcond=None)
    return solution[:-1].T, solution[-1]


def test_fit_converges_to_the_least_squares_solution():
    x, y = regression_problem()
    loader = tm.DataLoader([(x, y)], batch_size=1, collate=lambda batch: batch[0])
    params = {"W": np.zeros((2, 3)), "b": np.zeros(2)}
    history = tm.fit(least_squares, params, loader, SGD(lr=0.3), epochs=300, progress=False)
    W, b = closed_form(x, y)
    assert np.allclose(history.params["W"], W, atol=1e-6)
    assert np.allclose(history.params["b"], b, atol=1e-6)
    assert history.epochs == 300
    assert history.train_loss[-1] < history.train_loss[0]
    assert np.array_equal(params["W"], np.zeros((2, 3)))  # the caller's dict is untouched


def test_fit_with_minibatches_evaluation_metrics_and_a_schedule(tmp_path, capsys):
    x, y = regression_problem(n=96)
    samples = list(zip(x, y, strict=True))
    loader = tm.DataLoader(samples, batch_size=16, shuffle=True, seed=3)
    opt = Adam(lr=0.1)
    schedule = StepLR(opt, step_size=10, gamma=0.5)

    def mean_abs_error(params, batch):
        bx, by = batch
        return float(np.mean(np.abs(bx @ params["W"].T + params["b"] - by)))

    checkpoint = tmp_path / "ckpt.npz"
    history = tm.fit(
        least_squares,
        {"W": np.zeros((2, 3)), "b": np.zeros(2)},
        loader,
        opt,
        epochs=30,
        eval_data=[(x, y)],
        metrics={"mae": mean_abs_error},
        scheduler=schedule,
        checkpoint=checkpoint,
        progress=True,
    )
    assert len(history.eval_loss) == len(history.metrics["mae"]) == 30
    assert history.metrics["mae"][-1] < 0.2
    # the rate each epoch trained with: halved every 10 epochs (epochs 21-30 use 0.1 / 4)
    assert history.learning_rate[0] == 0.1 and history.learning_rate[-1] == pytest.approx(0.025)
    restored_opt = Adam()
    restored = tm.load_params(checkpoint, optimizer=restored_opt)
    assert np.array_equal(restored["W"], history.params["W"])
    assert restored_opt.state["W"]["step"] == 30 * len(loader)
    out = capsys.readouterr().out
    assert "epoch 30/30" in out and "mae" in out


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")
def test_fit_stops_on_a_nan_loss_naming_the_op_and_line():
    @tm.tapem
    def exploding(params, batch):
        w = yield from tm.param(params["w"], name="w")
        x = yield from tm.const(batch)
        shifted = yield w - 3.0
        root = yield ops.pow(shifted, 0.5)  # NaN once w < 3  # nan_line
        return (yield ops.sum((yield root * x)))

    loader = tm.DataLoader([np.ones(2)] * 4, batch_size=1, collate=lambda b: b[0])
    with pytest.raises(tm.NonFinite) as info:
        tm.fit(exploding, {"w": np.array(3.2)}, loader, SGD(lr=1.0), epochs=3, progress=False)
    error = info.value
    assert error.op == "pow"
    assert "epoch 1, batch 2" in str(error)
    assert error.created_at is not None and error.created_at.line == nan_line()


def nan_line() -> int:
    source = Path(__file__).read_text().splitlines()
    return next(i for i, line in enumerate(source, 1) if line.endswith("# nan_line"))


def test_metrics_need_evaluation_data():
    with pytest.raises(tm.InvalidArgument, match="eval_data"):
        tm.fit(least_squares, {}, [], SGD(), 1, metrics={"m": lambda p, b: 0.0}, progress=False)


def test_history_plot_writes_a_png(tmp_path):
    history = tm.History(params={}, train_loss=[1.0, 0.5, 0.25], eval_loss=[1.1, 0.6, 0.3])
    history.metrics["accuracy"] = [0.5, 0.7, 0.9]
    path = history.plot(tmp_path / "curve.png", title="test")
    data = Path(path).read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 1000


def test_losses_and_metrics_of_dict_batches_are_weighted_by_samples():
    @tm.tapem
    def dict_least_squares(params, batch):
        W = yield from tm.param(params["W"], name="W")
        b = yield from tm.param(params["b"], name="b")
        X = yield from tm.const(batch["x"])
        Y = yield from tm.const(batch["y"])
        return (yield ops.mse_loss((yield ops.linear(W, b, X)), Y))

    ys = [1.0, 1.0, 1.0, 1.0, 3.0, 3.0]  # batches of 4 and 2 (more samples than keys)
    samples = [{"x": np.zeros(1), "y": np.array([y]), "id": i} for i, y in enumerate(ys)]
    loader = tm.DataLoader(samples, batch_size=4)

    def mean_y(params, batch):
        return float(np.mean(batch["y"]))

    history = tm.fit(
        dict_least_squares,
        {"W": np.zeros((1, 1)), "b": np.zeros(1)},
        loader,
        SGD(lr=0.0),  # the prediction stays 0: each batch's loss is the mean of its y²
        epochs=1,
        eval_data=tm.DataLoader(samples, batch_size=4),
        metrics={"mean_y": mean_y},
        progress=False,
    )
    per_sample_loss = float(np.mean(np.square(ys)))  # 22/6, not (1 + 9) / 2
    assert history.train_loss == [pytest.approx(per_sample_loss)]
    assert history.eval_loss == [pytest.approx(per_sample_loss)]
    assert history.metrics["mean_y"] == [pytest.approx(np.mean(ys))]


@pytest.mark.parametrize("nesting", ["tuple of tuples", "dict of dicts"])
def test_losses_and_metrics_of_nested_batches_are_weighted_by_samples(nesting):
    """A batch's samples are its fields' rows, however deep the fields are nested (counting the
    first field's items gave the 2 of ``(x, m)`` or the 3 keys of ``{"x", "m", "id"}``)."""

    def fields(batch):
        if nesting == "tuple of tuples":
            (x, m), y = batch
        else:
            x, m, y = batch["in"]["x"], batch["in"]["m"], batch["out"]["y"]
        return x, m, y

    @tm.tapem
    def nested_least_squares(params, batch):
        x, m, y = fields(batch)
        W = yield from tm.param(params["W"], name="W")
        b = yield from tm.param(params["b"], name="b")
        X, M, Y = (yield from tm.const(x)), (yield from tm.const(m)), (yield from tm.const(y))
        return (yield ops.mse_loss((yield (yield ops.linear(W, b, X)) * M), Y))

    def mean_y(params, batch):
        return float(np.mean(fields(batch)[2]))

    ys = [1.0, 1.0, 1.0, 1.0, 3.0, 3.0]  # batches of 4 and 2
    if nesting == "tuple of tuples":
        samples = [((np.zeros(1), np.ones(1)), np.array([y])) for y in ys]
    else:
        samples = [
            {"in": {"x": np.zeros(1), "m": np.ones(1), "id": i}, "out": {"y": np.array([y])}}
            for i, y in enumerate(ys)
        ]
    history = tm.fit(
        nested_least_squares,
        {"W": np.zeros((1, 1)), "b": np.zeros(1)},
        tm.DataLoader(samples, batch_size=4),
        SGD(lr=0.0),  # the prediction stays 0: each batch's loss is the mean of its y²
        epochs=1,
        eval_data=tm.DataLoader(samples, batch_size=4),
        metrics={"mean_y": mean_y},
        progress=False,
    )
    per_sample_loss = float(np.mean(np.square(ys)))  # 22/6, not (1 + 9) / 2
    assert history.train_loss == [pytest.approx(per_sample_loss)]
    assert history.eval_loss == [pytest.approx(per_sample_loss)]
    assert history.metrics["mean_y"] == [pytest.approx(np.mean(ys))]


# ---- the loop's contract -------------------------------------------------------------------------


def test_the_loader_is_iterated_once_per_epoch():
    samples = [(np.array([float(i)]), np.array([2.0 * i])) for i in range(12)]
    loader = tm.DataLoader(samples, batch_size=4, shuffle=True, seed=11)
    seen = []

    def recording(params, batch):
        seen.append(batch[0][:, 0].tolist())
        return least_squares(params, batch)

    tm.fit(
        recording,
        {"W": np.zeros((1, 1)), "b": np.zeros(1)},
        loader,
        SGD(lr=0.01),
        3,
        progress=False,
    )
    assert loader.epoch == 3  # was 6: the progress bar iterated the loader a second time
    reference = tm.DataLoader(samples, batch_size=4, shuffle=True, seed=11)
    expected = [b[0][:, 0].tolist() for _ in range(3) for b in reference]
    assert seen == expected  # the order the seed promises


def test_progress_is_shown_only_on_a_terminal_unless_asked(capsys, monkeypatch):
    def run(**kwargs):
        loader = tm.DataLoader([(np.ones(1), np.ones(1))], batch_size=1)
        tm.fit(least_squares, {"W": np.zeros((1, 1)), "b": np.zeros(1)}, loader, SGD(), 2, **kwargs)
        return capsys.readouterr()

    quiet = run()  # pytest's stderr is not a terminal
    assert quiet.out == "" and quiet.err == ""
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    assert "epoch 2/2" in run().out
    assert run(progress=False).out == ""
    monkeypatch.setattr(sys.stderr, "isatty", lambda: False)
    assert "epoch 2/2" in run(progress=True).out


@tm.tapem
def dot(params, x):
    w = yield from tm.param(params["w"], name="w")
    return (yield ops.sum((yield w * (yield from tm.const(x)))))


def test_fit_clips_the_gradient_norm():
    # the gradient of sum(w * x) is x = (3, 4): norm 5, scaled to 1 / (5 + 1e-6)
    history = tm.fit(
        dot, {"w": np.zeros(2)}, [np.array([3.0, 4.0])], SGD(lr=1.0), 1, clip_grad_norm=1.0
    )
    assert np.array_equal(history.params["w"], -np.array([3.0, 4.0]) / (5.0 + 1e-6))


@tm.tapem
def distance(params, target):
    w = yield from tm.param(params["w"], name="w")
    return (yield ops.mse_loss(w, (yield from tm.const(target))))


# SGD(lr=0.25) on (w - 1)^2 from w = 0 moves w halfway to 1 each epoch: 0.5, 0.75, 0.875, ...;
# the eval loss (w - 0.5)^2 is then 0, 1/16, 9/64, ...: best after epoch 1
TRAIN, EVAL = [np.array([1.0])], [np.array([0.5])]


@pytest.mark.parametrize("restore", [True, False])
def test_early_stopping_restores_the_best_params(restore):
    stopper = tm.EarlyStopping(patience=2, restore_best_params=restore)
    history = tm.fit(
        distance,
        {"w": np.zeros(1)},
        TRAIN,
        SGD(lr=0.25),
        10,
        eval_data=EVAL,
        early_stopping=stopper,
    )
    assert history.eval_loss == [0.0, 1 / 16, 9 / 64]  # stopped after 2 epochs without progress
    assert (stopper.best_epoch, stopper.stopped_epoch) == (1, 3)
    assert history.params["w"].tolist() == ([0.5] if restore else [0.875])


def test_reduce_on_plateau_gets_the_eval_loss():
    opt = SGD(lr=0.25)
    sched = tm.optim.ReduceLROnPlateau(opt, patience=0, factor=0.5)
    history = tm.fit(distance, {"w": np.zeros(1)}, TRAIN, opt, 3, eval_data=EVAL, scheduler=sched)
    # epoch 2's eval loss 1/16 is worse than 0: halve; epoch 3 (w 0.8125) is worse again
    assert history.learning_rate == [0.25, 0.25, 0.125] and opt.lr == 0.0625


def test_a_scheduler_can_step_per_batch():
    opt = SGD(lr=1.0, momentum=0.9)
    loader = [np.ones(1)] * 5
    sched = tm.optim.OneCycleLR(opt, max_lr=1.0, epochs=2, steps_per_epoch=len(loader))
    history = tm.fit(
        dot, {"w": np.zeros(1)}, loader, opt, 2, scheduler=sched, scheduler_interval="batch"
    )
    assert sched.last_epoch == 10  # stepped after each of the 10 batches
    low = 1.0 / 25 / 1e4

    def annealed(step):  # the second phase: from 1.0 at step 2 down to low at step 9
        return low + (1.0 - low) / 2 * (1 + math.cos(math.pi * (step - 2) / 7))

    # the rate at the start of each epoch: steps 0 and 5
    assert history.learning_rate == [pytest.approx(1.0 / 25), pytest.approx(annealed(5))]
    assert opt.lr == pytest.approx(annealed(10))  # past step 9 the cosine goes on, as in PyTorch
