"""The training helpers: leaves for parameters and data, a monadic fold, and averaged losses.

These are programs too (use them with ``yield from``). They follow TorchLean's training
helpers exactly, including the tape they record:

>>> import numpy as np
>>> import tapem as tm
>>> @tm.tapem
... def loss(losses):
...     def per_sample(value):
...         return (yield from tm.const(value))
...     return (yield from tm.mean_scalar_over(losses, per_sample))
>>> value = tm.evaluate(loss([2.0, 2.0, 3.0])).unwrap()
>>> tape = tm.execute(loss([2.0, 2.0, 3.0])).unwrap()
>>> float(tape.value(value))  # 7 * (1/3), the reciprocal mean
2.333333333333333
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

import numpy as np

from tapem.batching.collated import Collated
from tapem.batching.levels import Begin, End, Level
from tapem.batching.stacked import stack_samples
from tapem.errors import EmptyDataset, InvalidArgument, NotAHandle, ShapeMismatch
from tapem.handle import Handle
from tapem.ops.elementwise import add, scale
from tapem.ops.reductions import sum as sum_
from tapem.program import Gen, Subprogram, tapem
from tapem.requests import Leaf, Op, leaf_array, make_leaf, make_op

__all__ = [
    "const",
    "fold_m",
    "mean_scalar_over",
    "mean_scalar_over_array",
    "mean_scalar_over_dataset",
    "param",
    "vmap",
]

A = TypeVar("A")
X = TypeVar("X")


LossOf = Callable[[X], Subprogram[Handle]]
"""A per-sample loss: called with one sample, returns a program (or generator) whose result is
the handle of a scalar node."""


def _on_tape(value: Any, who: str) -> None:
    if isinstance(value, (Handle, Op)):
        raise InvalidArgument(
            f"{who} of a {type(value).__name__}: its value is already on the tape (or will be, "
            "once yielded); use the handle itself, e.g. `y = yield h * 2.0`, no leaf needed"
        )


def param(value: Any, name: str | None = None) -> Gen[Handle]:
    """A trainable leaf (``requires_grad=True``): a parameter of the loss.

    Like :func:`const`, a plain generator (run it with ``yield from``), not a re-runnable
    :class:`~tapem.Program`: per-sample losses make two of these per sample, and a generator is
    the cheapest thing ``yield from`` can run.
    """
    if value.__class__ is not np.ndarray:
        _on_tape(value, "tm.param")
    return (yield Leaf(value, name, True))


def const(value: Any, name: str | None = None) -> Gen[Handle]:
    """A data leaf (``requires_grad=False``): inputs, labels, masks, frozen tensors."""
    if value.__class__ is not np.ndarray or value.dtype.kind not in "fiub":
        _on_tape(value, "tm.const")
        value = leaf_array(value, name, False)  # what Leaf(value, name, False) does
    return (yield make_leaf(value, name, False))


@tapem
def fold_m(step: Callable[[A, X], Subprogram[A]], init: A, xs: Iterable[X]) -> Gen[A]:
    """Monadic left fold: ``acc = init``, then ``acc = yield from step(acc, x)`` for each ``x``.

    Stops at the first error (it propagates out of the ``yield from``).
    """
    acc = init
    for x in xs:
        acc = yield from step(acc, x)
    return acc


def _scalar_loss(loss: Any, tag: str) -> Handle:
    if not isinstance(loss, Handle):
        hint = ": yield it, `return (yield request)`" if isinstance(loss, Op) else ""
        raise NotAHandle(
            f"{tag}: the per-sample loss must return the handle of a scalar node, "
            f"got {type(loss).__name__}{hint}"
        )
    if loss.shape != ():
        raise ShapeMismatch(tag, [loss.shape, ()], "the per-sample loss must be a scalar")
    return loss


@tapem
def vmap(
    loss_of: Callable[[Any], Subprogram[Any]],
    samples: Any,
    *,
    tag: str = "vmap",
    per_sample_params: bool = False,
) -> Gen[Any]:
    """``loss_of`` run once over all the ``samples``: the handle of its per-sample results,
    stacked on a new axis 0 (a sub-program: ``losses = yield from tm.vmap(loss_of, samples)``).

    ``samples`` is a sequence of samples (arrays, or tuples, lists or dicts of arrays, all with
    the same shapes) or an array whose axis 0 runs over the samples. ``loss_of`` receives one
    sample made of :class:`~tapem.batching.Stacked` arrays (every sample's values at once, read
    as one sample's: see :mod:`tapem.batching.stacked` for what per-sample code may do with
    them), and its requests are batched by each op's batching rule: the tape records ordinary
    ops on the whole batch. It may return a handle, or a tuple, list or dict of handles; a
    result that does not depend on the sample is repeated for each. ``per_sample_params``
    gives every trainable leaf made inside ``loss_of`` one copy per sample (what
    :func:`tapem.per_sample_grads` needs).

    >>> import numpy as np
    >>> import tapem as tm
    >>> @tm.tapem
    ... def scaled(xs):
    ...     w = yield from tm.param(np.array(2.0), name="w")
    ...     def each(x):
    ...         X = yield from tm.const(x)
    ...         return (yield X * w)
    ...     return (yield from tm.vmap(each, xs))
    >>> assert np.array_equal(tm.value_of(scaled(np.array([1.0, 2.0, 3.0]))), [2.0, 4.0, 6.0])
    """
    n = len(samples)
    if n == 0:
        raise EmptyDataset(tag)
    level = Level(n, per_sample_params=per_sample_params)
    sample = stack_samples(samples, level, tag)
    yield Begin(level)  # type: ignore[misc]  # a request of the recording path's own
    try:
        result = yield from loss_of(sample)
    except Exception:
        yield End(level, None)  # type: ignore[misc]
        raise
    return (yield End(level, result))  # type: ignore[misc]


@tapem
def mean_scalar_over(
    xs: Sequence[X], loss_of: LossOf[X], *, tag: str = "mean_scalar_over", batched: bool = False
) -> Gen[Handle]:
    """The mean of ``loss_of(x)`` over the samples ``xs``, recorded as TorchLean records it.

    Runs ``loss_of(xs[0])``, then for each later sample its loss and one ``add``; then one
    ``scale`` by the reciprocal ``1/N`` (so losses 2, 2, 3 give ``7 * (1/3)``). An empty ``xs``
    fails with :class:`~tapem.EmptyDataset` (``"<tag>: empty dataset"``) without calling
    ``loss_of``; a per-sample loss that is not scalar fails with :class:`~tapem.ShapeMismatch`.

    ``batched=True`` runs ``loss_of`` once over all the samples (:func:`vmap`), then one
    ``sum`` and the same ``scale``: the same value and gradients up to the order of summation,
    in a few ops whatever the number of samples. The samples (arrays, or tuples or dicts of
    arrays) must have equal shapes.
    """
    if batched:
        return (yield from _batched_mean(xs, loss_of, tag))
    samples = xs if isinstance(xs, list) else list(xs)
    if not samples:
        raise EmptyDataset(tag)
    first = _scalar_loss((yield from loss_of(samples[0])), tag)

    def step(acc: Handle, x: X) -> Gen[Handle]:
        loss = yield from loss_of(x)
        if loss.__class__ is not Handle or loss._value.shape != ():  # the check, inlined
            loss = _scalar_loss(loss, tag)
        return (yield make_op(add, (acc, loss), ()))

    total = yield from fold_m(step, first, samples[1:])
    inv = 1.0 / len(samples)
    return (yield scale(total, inv))


def _batched_mean(xs: Any, loss_of: LossOf[Any], tag: str) -> Gen[Handle]:
    samples = xs if isinstance(xs, (list, np.ndarray, Collated)) else list(xs)

    def scalar(sample: Any) -> Gen[Handle]:
        return _scalar_loss((yield from loss_of(sample)), tag)

    losses = yield from vmap(scalar, samples, tag=tag)
    total = yield sum_(losses)
    return (yield scale(total, 1.0 / len(samples)))


@tapem
def mean_scalar_over_array(
    xs: Iterable[X],
    loss_of: LossOf[X],
    *,
    tag: str = "mean_scalar_over_array",
    batched: bool = False,
) -> Gen[Handle]:
    """Exactly ``mean_scalar_over(list(xs), loss_of)``, for arrays and other batches; with
    ``batched=True``, an array's axis 0 is the batch as it is (not split and stacked again)."""
    samples: Any = xs if batched and isinstance(xs, np.ndarray) else list(xs)
    return (yield from mean_scalar_over(samples, loss_of, tag=tag, batched=batched))


@tapem
def mean_scalar_over_dataset(
    ds: Any, loss_of: LossOf[Any], *, tag: str = "mean_scalar_over_dataset", batched: bool = False
) -> Gen[Handle]:
    """Exactly ``mean_scalar_over(ds.to_list(), loss_of)`` for a :class:`~tapem.Dataset`."""
    return (yield from mean_scalar_over(ds.to_list(), loss_of, tag=tag, batched=batched))
