"""The batching rules of the neural-network ops, case by case: every way of giving conv,
conv_transpose, batch_norm, layer_norm and multi_head_attention their inputs per sample or
shared (each branch of each rule), per-sample statistics of batch_norm, per-sample gradients of
a small CNN and of an attention block, and the ops' per-sample forms (per-sample kernels,
per-sequence weights and masks) against the op applied to each sample alone.

Every batched run is compared with the op mapped over the samples (values and gradients, to
float64 rounding), runs no op sample by sample, and records as many ops for 2 samples as for 5
(no loop over the samples)."""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import tapem as tm
from tapem import ops
from tapem.batching import BatchingWarning
from tapem.checks.rules import check_jvp, check_vjp

Apply = Callable[[list[tm.Handle]], tm.Op]


def _program(
    apply: Apply, inputs: list[Any], per_sample: list[bool], batched: bool, weights: Any
) -> tm.Program[tm.Handle]:
    """``apply`` on every sample (its per-sample inputs ``inputs[k][n]``, its shared ones
    ``inputs[k]``): in one batched run, or sample by sample; ``sum(weights * out)`` unless
    ``weights`` is None."""

    def leaf(k: int, value: Any) -> tm.Gen[tm.Handle]:
        if value.dtype.kind == "f":
            return (yield from tm.param(value, name=f"x{k}"))
        return (yield from tm.const(value))

    @tm.tapem
    def program() -> tm.Gen[tm.Handle]:
        shared = {}
        for k, x in enumerate(inputs):
            if not per_sample[k]:
                shared[k] = yield from leaf(k, x)
        keys = [k for k, p in enumerate(per_sample) if p]
        size = len(inputs[keys[0]])
        if batched:

            def each(sample: tuple[Any, ...]) -> tm.Gen[tm.Handle]:
                own = {}
                for k, value in zip(keys, sample, strict=True):
                    own[k] = yield from leaf(k, value)
                return (yield apply([own.get(k, shared.get(k)) for k in range(len(inputs))]))

            samples = list(zip(*(inputs[k] for k in keys), strict=True))
            out = yield from tm.vmap(each, samples)
        else:
            whole = {}
            for k in keys:
                whole[k] = yield from leaf(k, inputs[k])
            outs = []
            for n in range(size):
                handles = []
                for k in range(len(inputs)):
                    handles.append((yield whole[k][n]) if k in whole else shared[k])
                outs.append((yield apply(handles)))
            out = yield ops.stack(outs, 0)
        if weights is None:
            return out
        w = yield from tm.const(weights)
        return (yield ops.sum((yield out * w)))

    return program()


def _stacked(x: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """``size`` samples like ``x``: permutations of its elements (the first one ``x``)."""
    flat = np.ravel(x)
    return np.stack([x] + [rng.permutation(flat).reshape(x.shape) for _ in range(size - 1)])


def check_batched(apply: Apply, sample: list[Any], per_sample: list[bool]) -> None:
    """The batched run of ``apply`` against the loop, for 2 and for 5 samples (``sample`` is
    one sample's inputs; the others are permutations of them); the same number of recorded ops
    for both sizes."""
    rng = np.random.default_rng(0)
    lengths = []
    for size in (2, 5):
        inputs = [
            _stacked(np.asarray(x), size, rng) if p else np.asarray(x)
            for x, p in zip(sample, per_sample, strict=True)
        ]
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("error", BatchingWarning)
            looped = tm.value_of(_program(apply, inputs, per_sample, False, None))
            batched = tm.value_of(_program(apply, inputs, per_sample, True, None))
            weights = rng.uniform(-2, 2, looped.shape)
            looped_grads = tm.value_and_grad(_program(apply, inputs, per_sample, False, weights))
            program = _program(apply, inputs, per_sample, True, weights)
            batched_grads = tm.value_and_grad(program)
            _, tape = tm.run(_program(apply, inputs, per_sample, True, weights)).unwrap()
        lengths.append(len(tape))
        assert batched.dtype == looped.dtype and batched.shape == looped.shape
        np.testing.assert_allclose(batched, looped, rtol=1e-12, atol=1e-12)
        assert batched_grads[1].keys() == looped_grads[1].keys()
        for key, g in looped_grads[1].items():
            np.testing.assert_allclose(batched_grads[1][key], g, rtol=1e-12, atol=1e-12)
    assert lengths[0] == lengths[1], f"the batched run grows with the samples: {lengths}"


FLAGS = [list(f) for f in itertools.product([False, True], repeat=3) if any(f)]
rng = np.random.default_rng(7)


def normal(*shape: int) -> np.ndarray:
    return rng.standard_normal(shape)


# --- convolutions --------------------------------------------------------------------------------

# one sample's (k, b, x) and (stride, padding), by the sample's form: one input [C, *spatial], a
# batch [N, C, *spatial], or a batch with per-sample kernels (b [N, out_c])
CONV_SAMPLES = {
    "one": ((3, 2, 3, 2), (3,), (2, 5, 4), ((2, 1), 1)),
    "batch": ((3, 2, 2), (3,), (4, 2, 6), (2, 0)),
    "own kernels": ((4, 3, 2, 2), (4, 3), (4, 2, 5), (1, 1)),
    "empty batch": ((3, 2, 2), (3,), (0, 2, 5), (1, 0)),
}


@pytest.mark.parametrize("form", sorted(CONV_SAMPLES))
@pytest.mark.parametrize("transpose", [False, True])
@pytest.mark.parametrize("per_sample", FLAGS, ids=str)
def test_conv_with_any_inputs_per_sample(form: str, transpose: bool, per_sample: Any) -> None:
    k_shape, b_shape, x_shape, (stride, padding) = CONV_SAMPLES[form]
    if transpose:  # [.., out_c, in_c, ..] -> [.., in_c, out_c, ..], out_c from the bias
        own = len(b_shape) - 1
        k_shape = (*k_shape[:own], k_shape[own + 1], k_shape[own], *k_shape[own + 2 :])
    op = ops.conv_transpose if transpose else ops.conv
    sample = [normal(*k_shape), normal(*b_shape), normal(*x_shape)]
    check_batched(lambda h: op(*h, stride, padding), sample, per_sample)


def test_conv_of_int_inputs_with_a_float_bias_per_sample() -> None:
    sample = [np.arange(12).reshape(3, 2, 2) - 5, normal(3), np.arange(10).reshape(2, 5)]
    check_batched(lambda h: ops.conv(*h, 1, 1), sample, [False, True, False])


@pytest.mark.parametrize("transpose", [False, True])
def test_per_sample_kernels_are_each_sample_alone(transpose: bool) -> None:
    op = ops.conv_transpose if transpose else ops.conv
    k = normal(3, 4, 2, 2, 3) if transpose else normal(3, 2, 4, 2, 3)  # in_c 4, out_c 2
    b = normal(3, 2)
    x = normal(3, 4, 5, 4)
    y = op.forward(k, b, x, (2, 1), 1)
    alone = np.stack([op.forward(k[n], b[n], x[n], (2, 1), 1) for n in range(3)])
    np.testing.assert_allclose(y, alone, rtol=1e-13, atol=1e-13)
    g = normal(*y.shape)
    for i, v in enumerate((k, b, x)):
        each = np.stack([op.vjp[i](g[n], y[n], k[n], b[n], x[n], (2, 1), 1) for n in range(3)])
        np.testing.assert_allclose(op.vjp[i](g, y, k, b, x, (2, 1), 1), each, atol=1e-12)
        assert np.shape(each) == np.shape(v)
    assert check_vjp(op, (k, b, x), ((2, 1), 1)).ok
    assert check_jvp(op, (k, b, x), ((2, 1), 1)).ok


@pytest.mark.parametrize(
    ("k", "b", "x"),
    [
        ((2, 3, 1, 2), (2, 3), (1, 5)),  # one sample: per-sample kernels need a batch
        ((2, 3, 1, 2), (2, 3), (3, 1, 5)),  # three samples for two kernels
        ((2, 3, 1, 2), (3, 3), (2, 1, 5)),  # three biases
        ((3, 1, 2), (2, 3), (2, 1, 5)),  # a shared kernel with per-sample biases
        ((2, 3, 1, 2), (2, 3, 1), (2, 1, 5)),  # a bias of rank 3
    ],
)
def test_per_sample_kernels_refuse_other_layouts(k: Any, b: Any, x: Any) -> None:
    @tm.tapem
    def program() -> tm.Gen[tm.Handle]:
        handles = []
        for shape in (k, b, x):
            handles.append((yield from tm.const(np.zeros(shape))))
        return (yield ops.conv(*handles))

    with pytest.raises(tm.ShapeMismatch, match="conv: shape mismatch"):
        tm.value_of(program())


def _cnn(sample: Any) -> tm.Program[tm.Handle]:
    """One sample's loss: conv, relu, max pool, conv, average pool, layer norm."""

    @tm.tapem
    def loss() -> tm.Gen[tm.Handle]:
        k1 = yield from tm.param(np.linspace(-1, 1, 4 * 2 * 9).reshape(4, 2, 3, 3), name="k1")
        b1 = yield from tm.param(np.linspace(-0.5, 0.5, 4), name="b1")
        k2 = yield from tm.param(np.linspace(1, -1, 3 * 4 * 4).reshape(3, 4, 2, 2), name="k2")
        b2 = yield from tm.param(np.zeros(3), name="b2")
        gamma = yield from tm.param(np.array([1.0, 2.0, -1.0]), name="gamma")
        beta = yield from tm.param(np.array([0.5, -0.5, 0.0]), name="beta")
        x = yield from tm.const(sample)
        h = yield ops.relu((yield ops.conv(k1, b1, x, 1, 1)))
        h = yield ops.max_pool(h, (2, 2))
        h = yield ops.conv(k2, b2, h, 1, 1)
        h = yield ops.avg_pool(h, (2, 2), 1)
        h = yield ops.layer_norm(h, gamma, beta)
        return (yield ops.sum((yield h * h)))

    return loss()


def test_per_sample_gradients_of_a_cnn() -> None:
    samples = normal(5, 2, 6, 6)
    with warnings.catch_warnings():
        warnings.simplefilter("error", BatchingWarning)
        values, grads = tm.per_sample_grads(_cnn, samples)
    for n, sample in enumerate(samples):
        value, own = tm.value_and_grad(_cnn(sample))
        np.testing.assert_allclose(values[n], value, rtol=1e-12)
        for name, g in own.items():
            np.testing.assert_allclose(grads[name][n], g, rtol=1e-11, atol=1e-12)


# --- normalization -------------------------------------------------------------------------------

NORM_SAMPLES = {  # one sample's x shape and batch_norm's batched flag
    "one": ((3, 4, 2), None),
    "one, no spatial axes": ((3,), None),
    "batch": ((4, 3, 2), True),
    "batch, no spatial axes": ((5, 3), None),
}


@pytest.mark.parametrize("form", sorted(NORM_SAMPLES))
@pytest.mark.parametrize("per_sample", FLAGS, ids=str)
def test_batch_norm_with_any_inputs_per_sample(form: str, per_sample: Any) -> None:
    shape, flag = NORM_SAMPLES[form]
    x = (np.arange(np.prod(shape)).reshape(shape) % 7) * 0.3
    sample = [x, normal(3), normal(3)]
    check_batched(lambda h: ops.batch_norm(*h, 1e-3, flag), sample, per_sample)


@pytest.mark.parametrize("shape", [(4,), (2, 4), (3, 2, 4)])
@pytest.mark.parametrize("per_sample", FLAGS, ids=str)
def test_layer_norm_with_any_inputs_per_sample(shape: Any, per_sample: Any) -> None:
    x = (np.arange(np.prod(shape)).reshape(shape) % 5) * 0.7
    check_batched(lambda h: ops.layer_norm(*h, 1e-3), [x, normal(4), normal(4)], per_sample)


@pytest.mark.parametrize("layout", ["one", "batch"])
def test_batch_norm_takes_each_samples_own_statistics(layout: str) -> None:
    """A sample whose channel is constant gives exactly beta there, whatever the others hold;
    the other samples are standardized over their own values alone."""
    rng = np.random.default_rng(3)
    samples = rng.normal(size=(3, 2, 2, 4) if layout == "batch" else (3, 2, 4))
    if layout == "batch":
        samples[1, :, 0] = 2.5  # sample 1: channel 0 constant over its N and spatial axes
    else:
        samples[1, 0] = 2.5
    gamma, beta = np.array([1.5, -2.0]), np.array([0.25, 3.0])
    flag = layout == "batch"  # [N=2, C=2, 4] would read as one sample [C, 2, 4]

    @tm.tapem
    def program() -> tm.Gen[tm.Handle]:
        g = yield from tm.param(gamma, name="gamma")
        b = yield from tm.param(beta, name="beta")

        def each(x: Any) -> tm.Gen[tm.Handle]:
            return (yield ops.batch_norm((yield from tm.const(x)), g, b, 1e-5, flag))

        return (yield from tm.vmap(each, samples))

    out = tm.value_of(program())
    constant = out[1, :, 0] if layout == "batch" else out[1, 0]
    assert np.all(constant == beta[0])
    for n in (0, 2):
        alone = ops.batch_norm.forward(samples[n], gamma, beta, 1e-5, flag)
        np.testing.assert_allclose(out[n], alone, rtol=1e-12, atol=1e-12)


# --- attention -----------------------------------------------------------------------------------

ATTENTION_SAMPLES = {  # x's shape, and which weights (and the mask) are per sequence
    "one sequence": ((3, 4), ()),
    "sequences": ((2, 3, 4), ()),
    "sequences, own wq and mask": ((2, 3, 4), (0, 5)),
    "sequences, own wk, wv and wo": ((2, 3, 4), (1, 2, 3)),
}


CHOSEN = {"x": {4}, "weights": {0, 1, 2, 3}, "mask": {5}, "all": set(range(6)), "wo, x": {3, 4}}


@pytest.mark.parametrize("form", sorted(ATTENTION_SAMPLES))
@pytest.mark.parametrize(
    ("mask", "which"),
    [(mask, which) for mask in (False, True) for which in CHOSEN if mask or which != "mask"],
)
def test_attention_with_any_inputs_per_sample(form: str, mask: bool, which: str) -> None:
    x_shape, own = ATTENTION_SAMPLES[form]
    lead = x_shape[:-2]
    shapes = [(4, 4), (4, 4), (4, 2), (2, 5)]
    sample: list[Any] = [normal(*(lead if i in own else ()), *s) for i, s in enumerate(shapes)]
    sample.append(normal(*x_shape))
    if mask:
        allowed = np.tril(np.ones((3, 3), dtype=bool))
        allowed[1] = False  # a row with nothing allowed
        sample.append(np.broadcast_to(allowed, (*(lead if 5 in own else ()), 3, 3)).copy())
    per_sample = [i in CHOSEN[which] for i in range(len(sample))]
    check_batched(lambda h: ops.multi_head_attention(h, 2), sample, per_sample)


def test_per_sequence_weights_and_masks_are_each_sequence_alone() -> None:
    ws = [normal(3, 4, 4), normal(4, 4), normal(3, 4, 2), normal(3, 2, 5)]
    x = normal(3, 2, 4)
    mask = np.random.default_rng(5).random((3, 2, 2)) < 0.6
    inputs = (*ws, x, mask)
    y = ops.multi_head_attention.forward(*inputs, 2)
    for n in range(3):
        alone = [w[n] if np.ndim(w) == 3 else w for w in ws]
        expected = ops.multi_head_attention.forward(*alone, x[n], mask[n], 2)
        np.testing.assert_allclose(y[n], expected, rtol=1e-13, atol=1e-13)
    assert check_vjp(ops.multi_head_attention, inputs, (2,)).ok
    assert check_jvp(ops.multi_head_attention, inputs, (2,)).ok


def test_per_sample_gradients_of_an_attention_block() -> None:
    def block(sample: Any) -> tm.Program[tm.Handle]:
        @tm.tapem
        def loss() -> tm.Gen[tm.Handle]:
            ws = []
            for seed, name in enumerate(("wq", "wk", "wv", "wo")):
                values = np.random.default_rng(seed).normal(size=(4, 4)) * 0.5
                ws.append((yield from tm.param(values, name=name)))
            gamma = yield from tm.param(np.linspace(0.5, 1.5, 4), name="gamma")
            beta = yield from tm.param(np.zeros(4), name="beta")
            x = yield from tm.const(sample)
            causal = yield from tm.const(np.tril(np.ones((3, 3), dtype=bool)))
            h = yield ops.multi_head_attention(*ws, x, 2, mask=causal)
            h = yield ops.layer_norm((yield h + x), gamma, beta)
            return (yield ops.sum((yield h * h)))

        return loss()

    samples = normal(4, 3, 4)
    with warnings.catch_warnings():
        warnings.simplefilter("error", BatchingWarning)
        values, grads = tm.per_sample_grads(block, samples)
    for n, sample in enumerate(samples):
        value, own = tm.value_and_grad(block(sample))
        np.testing.assert_allclose(values[n], value, rtol=1e-12)
        for name, g in own.items():
            np.testing.assert_allclose(grads[name][n], g, rtol=1e-10, atol=1e-12)


# --- pools ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(2, 5, 4), (3, 2, 5, 4)])
@pytest.mark.parametrize(
    "pool",
    [
        lambda h: ops.max_pool(*h, (2, 2), 1, 1),
        lambda h: ops.avg_pool(*h, (3, 2), None, 1),
        lambda h: ops.smooth_max_pool(*h, (2, 2), (1, 2), 0, -0.5),
    ],
    ids=["max", "avg", "smooth"],
)
def test_pools_of_per_sample_inputs(shape: Any, pool: Apply) -> None:
    x = (np.arange(np.prod(shape)).reshape(shape) - 20) * 0.1
    check_batched(pool, [x], [True])
