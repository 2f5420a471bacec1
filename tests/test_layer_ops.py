"""Neural-layer ops in programs: attention masks, norms, where, dropout, indexing, gather, gelu.

Expected values come from straightforward numpy written here (or by hand, in the comments),
never from the rules under test.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

import tapem as tm
from tapem import ops

rng = np.random.default_rng(99)


# --- multi-head attention ------------------------------------------------------------------------


def reference_attention(ws: list[Any], x: Any, heads: int, mask: Any | None = None) -> Any:
    """One sequence, one head at a time, one row at a time."""
    wq, wk, wv, wo = ws
    q, k, v = x @ wq, x @ wk, x @ wv
    hq, hv = wq.shape[1] // heads, wv.shape[1] // heads
    outs = []
    for h in range(heads):
        qh, kh, vh = (
            q[:, h * hq : (h + 1) * hq],
            k[:, h * hq : (h + 1) * hq],
            v[:, h * hv : (h + 1) * hv],
        )
        scores = qh @ kh.T / math.sqrt(hq)
        weights = np.zeros_like(scores)
        for r in range(scores.shape[0]):
            allowed = np.ones(scores.shape[1], bool) if mask is None else mask[r]
            if allowed.any():
                e = np.exp(scores[r, allowed] - scores[r, allowed].max())
                weights[r, allowed] = e / e.sum()
        outs.append(weights @ vh)
    return np.concatenate(outs, axis=1) @ wo


def attention_weights(d: int = 6) -> list[Any]:
    return [rng.standard_normal((d, d)) * 0.5 for _ in range(4)]


@tm.tapem
def attention_loss(ws: list[Any], x: Any, heads: int, mask: Any | None) -> tm.Gen[tm.Handle]:
    W = []
    for name, w in zip(("wq", "wk", "wv", "wo"), ws, strict=True):
        W.append((yield from tm.param(w, name)))
    X = yield from tm.param(x, "x")
    M = None if mask is None else (yield from tm.const(mask))
    y = yield ops.multi_head_attention(*W, X, heads, mask=M)
    return (yield ops.sum((yield y * y)))


@pytest.mark.parametrize("masked", [False, True])
def test_attention_matches_reference_with_and_without_batch(masked: bool) -> None:
    ws, heads = attention_weights(), 2
    x = rng.standard_normal((3, 4, 6))
    mask = np.tril(np.ones((4, 4), bool)) if masked else None
    batched = ops.multi_head_attention.forward(*ws, x, *([] if mask is None else [mask]), heads)
    for i in range(3):
        expected = reference_attention(ws, x[i], heads, mask)
        assert np.allclose(batched[i], expected)
        args = (*ws, x[i], *([] if mask is None else [mask]), heads)
        assert np.allclose(ops.multi_head_attention.forward(*args), expected)


def test_a_fully_masked_row_gets_zero_weights_and_no_nan() -> None:
    ws, heads = attention_weights(), 2
    x = rng.standard_normal((4, 6))
    mask = np.tril(np.ones((4, 4), bool))
    mask[2] = False  # token 2 may attend to nothing
    value, grads = tm.value_and_grad(attention_loss(ws, x, heads, mask))
    y = ops.multi_head_attention.forward(*ws, x, mask, heads)
    assert np.array_equal(y[2], np.zeros(6))  # all-zero weights: an all-zero output row
    assert np.allclose(y, reference_attention(ws, x, heads, mask))
    assert np.isfinite(value) and all(np.all(np.isfinite(g)) for g in grads.values())
    # x[2] still matters as a key and value of row 3; its gradient matches finite differences
    eps = 1e-6
    bump = np.zeros_like(x)
    bump[2, 0] = eps
    up = tm.value_and_grad(attention_loss(ws, x + bump, heads, mask))[0]
    down = tm.value_and_grad(attention_loss(ws, x - bump, heads, mask))[0]
    assert np.isclose(grads["x"][2, 0], (up - down) / (2 * eps), rtol=1e-5, atol=1e-8)


def test_the_mask_is_a_parent_on_the_tape_not_a_parameter() -> None:
    ws = attention_weights()
    mask = np.ones((4, 4), bool)
    _, tape = tm.run(attention_loss(ws, rng.standard_normal((4, 6)), 2, mask)).unwrap()
    node = next(n for n in tape if n.rule is not None and n.rule.name == "multi_head_attention")
    assert len(node.parents) == 6 and tape.node(node.parents[5]).value.dtype == np.bool_
    assert node.params == {"num_heads": 2}


# --- norms ---------------------------------------------------------------------------------------


def test_layer_norm_uses_the_population_variance_over_the_last_axis() -> None:
    x = rng.standard_normal((2, 3, 5))
    gamma, beta = rng.standard_normal(5), rng.standard_normal(5)
    mean = x.mean(axis=-1, keepdims=True)
    var = ((x - mean) ** 2).sum(axis=-1, keepdims=True) / 5  # divide by D, not D - 1
    expected = (x - mean) / np.sqrt(var + 1e-5) * gamma + beta
    assert np.allclose(ops.layer_norm.forward(x, gamma, beta, 1e-5), expected)


def test_batch_norm_statistics_per_channel() -> None:
    gamma, beta = rng.standard_normal(3), rng.standard_normal(3)
    single = rng.standard_normal((3, 4, 5))  # [C, H, W]: over H and W
    mean = single.mean(axis=(1, 2), keepdims=True)
    var = single.var(axis=(1, 2), keepdims=True)
    expected = (single - mean) / np.sqrt(var + 1e-5) * gamma[:, None, None] + beta[:, None, None]
    assert np.allclose(ops.batch_norm.forward(single, gamma, beta, 1e-5, None), expected)
    batch = rng.standard_normal((2, 3, 4, 5))  # [N, C, H, W]: over N, H and W
    mean = batch.mean(axis=(0, 2, 3), keepdims=True)
    var = batch.var(axis=(0, 2, 3), keepdims=True)
    expected = (batch - mean) / np.sqrt(var + 1e-5) * gamma[:, None, None] + beta[:, None, None]
    assert np.allclose(ops.batch_norm.forward(batch, gamma, beta, 1e-5, None), expected)
    # a batch of one is the single sample
    one = ops.batch_norm.forward(single[None], gamma, beta, 1e-5, None)
    assert np.allclose(one[0], ops.batch_norm.forward(single, gamma, beta, 1e-5, None))


def test_batch_norm_reads_an_ambiguous_layout_as_one_sample_unless_told() -> None:
    x = rng.standard_normal((3, 3, 4))  # [C=3, 3, 4] or [N=3, C=3, 4]
    gamma, beta = np.ones(3), np.zeros(3)
    as_sample = ops.batch_norm.forward(x, gamma, beta, 0.0, None)
    assert np.allclose(as_sample.mean(axis=(1, 2)), 0)
    as_batch = ops.batch_norm.forward(x, gamma, beta, 0.0, True)
    assert np.allclose(as_batch.mean(axis=(0, 2)), 0)


# --- where ---------------------------------------------------------------------------------------


def test_where_masks_an_infinite_branch_without_nan_gradients() -> None:
    mask = np.array([True, False, True, False])

    @tm.tapem
    def masked_softmax_loss(logits: Any) -> tm.Gen[tm.Handle]:
        z = yield from tm.param(logits, "z")
        blocked = yield from tm.const(np.full(4, -np.inf))
        m = yield from tm.const(mask)
        p = yield ops.softmax_last((yield ops.where(m, z, blocked)))
        target = yield from tm.const(np.array([1.0, 0.0, 0.0, 0.0]))
        return (yield ops.sum((yield p * target)))

    value, grads = tm.value_and_grad(masked_softmax_loss(np.array([0.5, 3.0, -0.5, 1.0])))
    e = np.exp([0.5, -0.5])
    p0 = e[0] / e.sum()
    assert np.isclose(value, p0)
    assert np.all(np.isfinite(grads["z"]))
    assert np.allclose(grads["z"], [p0 * (1 - p0), 0.0, -p0 * (1 - p0), 0.0])


def test_where_selects_the_cotangent_instead_of_multiplying_it() -> None:
    # the cotangent reaching `where` is w, infinite where the mask is False: selecting gives 0
    # there, multiplying by the mask would give inf * 0 = nan (the loss itself is inf)
    @tm.tapem
    def loss(x: Any) -> tm.Gen[tm.Handle]:
        X = yield from tm.param(x, "x")
        m = yield from tm.const(np.array([True, False]))
        one = yield from tm.const(np.ones(2))
        w = yield from tm.const(np.array([2.0, np.inf]))
        return (yield ops.sum((yield (yield ops.where(m, X, one)) * w)))

    _, grads = tm.value_and_grad(loss(np.array([1.0, 1.0])))
    assert np.array_equal(grads["x"], [2.0, 0.0])


# --- dropout -------------------------------------------------------------------------------------


@tm.tapem
def dropout_loss(x: Any, c: Any, p: float, seed: int) -> tm.Gen[tm.Handle]:
    X = yield from tm.param(x, "x")
    C = yield from tm.const(c)
    return (yield ops.sum((yield (yield ops.dropout(X, p, seed)) * C)))


def test_dropout_reverse_pass_uses_the_forward_mask() -> None:
    x, c = np.ones(2000), rng.standard_normal(2000)
    _, tape = tm.run(dropout_loss(x, c, 0.25, 11)).unwrap()
    y = next(n for n in tape if n.rule is not None and n.rule.name == "dropout").value
    kept = y != 0
    assert 0.7 < kept.mean() < 0.8 and np.allclose(y[kept], 4 / 3)
    _, grads = tm.value_and_grad(dropout_loss(x, c, 0.25, 11))
    assert np.allclose(grads["x"], np.where(kept, c * 4 / 3, 0.0))
    # the mask depends on the seed, and only on the seed
    again = ops.dropout.forward(x, 0.25, 11)
    other = ops.dropout.forward(x, 0.25, 12)
    assert np.array_equal(again, y) and not np.array_equal(other, y)


def test_dropout_extremes() -> None:
    x = rng.standard_normal(10)
    assert np.array_equal(ops.dropout.forward(x, 0.0, 3), x)
    assert np.array_equal(ops.dropout.forward(x, 1.0, 3), np.zeros(10))


# --- indexing, gather, flatten, concat, stack ----------------------------------------------------


def test_handle_slicing_sugar_in_a_program() -> None:
    @tm.tapem
    def loss(x: Any) -> tm.Gen[tm.Handle]:
        X = yield from tm.param(x, "x")
        middle = yield X[1:3]
        last = yield X[-1]
        column = yield X[..., None]
        total = yield ops.sum((yield middle * middle))
        return (yield (yield total + last) + (yield ops.sum(column)))

    x = np.array([0.0, 1.0, 2.0, 3.0, 4.0])
    value, grads = tm.value_and_grad(loss(x))
    assert value == 1 + 4 + 4 + 10  # 1^2 + 2^2, x[-1], sum(x)
    assert np.array_equal(grads["x"], [1.0, 3.0, 5.0, 1.0, 2.0])
    _, tape = tm.run(loss(x)).unwrap()
    keys = [n.params["key"] for n in tape if n.rule is not None and n.rule.name == "index"]
    assert keys == [((1, 3, None),), (-1,), ("...", None)]  # plain data on the tape


def test_a_handle_is_not_iterable() -> None:
    h = tm.Handle(0, np.zeros(3))
    with pytest.raises(TypeError, match="not iterable"):
        list(h)


def test_gather_accumulates_repeated_indices() -> None:
    @tm.tapem
    def loss(table: Any, rows: Any) -> tm.Gen[tm.Handle]:
        T = yield from tm.param(table, "table")
        R = yield from tm.const(rows)
        return (yield ops.sum((yield ops.gather(T, R))))

    table = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
    value, grads = tm.value_and_grad(loss(table, np.array([[2, 0], [2, 2]])))
    assert value == 3 * 11 + 3
    assert np.array_equal(grads["table"], [[1.0, 1.0], [0.0, 0.0], [3.0, 3.0]])


def test_flatten_concat_stack_shapes() -> None:
    x = np.zeros((2, 3, 4))
    assert ops.flatten.forward(x, 0, -1).shape == (24,)
    assert ops.flatten.forward(x, 1, -1).shape == (2, 12)
    assert ops.flatten.forward(x, 0, 1).shape == (6, 4)
    assert ops.flatten.forward(np.array(5.0), 0, -1).shape == (1,)  # as torch.flatten
    a, b = np.ones((2, 3)), np.zeros((2, 1))
    assert ops.concat.forward(a, b, -1).shape == (2, 4)
    assert ops.stack.forward(a, a, a, 1).shape == (2, 3, 3)


# --- gelu ----------------------------------------------------------------------------------------


def test_gelu_is_the_exact_erf_form() -> None:
    xs = np.concatenate([np.linspace(-10, 10, 2001), [-6.0, -1.0, 0.0, 1.0, 6.0, 1e-8]])
    expected = np.array([0.5 * v * (1 + math.erf(v / math.sqrt(2))) for v in xs])
    assert np.allclose(ops.gelu.forward(xs), expected, rtol=1e-14, atol=1e-15)
    assert ops.gelu.forward(np.ones(3, dtype=np.float32)).dtype == np.float32
    assert np.isnan(ops.gelu.forward(np.array([np.nan]))[0])
    # the derivative Phi(x) + x phi(x) at 1: 0.8413447460685429 + 0.24197072451914337
    assert np.isclose(ops.gelu.vjp[0](1.0, None, np.array(1.0)), 1.0833154705876864)
