"""``DataLoader`` and ``default_collate``: batching, drop_last, the seed across epochs, stacking."""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
import pytest

import tapem as tm
from tapem.data import default_collate
from tapem.data.batch import size, take


def lcg_order(seed: int, n: int) -> tuple[list[int], int]:
    """Indices in the spec's shuffle order and the last key, computed from the formula."""
    keys, s = [], seed
    for _ in range(n):
        s = (1103515245 * s + 12345) % 2**31
        keys.append(s)
    return sorted(range(n), key=lambda i: keys[i]), (keys[-1] if n else seed)


def test_batches_in_order_without_shuffle() -> None:
    loader = tm.DataLoader(list(range(7)), batch_size=3, collate=list)
    assert len(loader) == 3
    assert list(loader) == [[0, 1, 2], [3, 4, 5], [6]]
    assert list(loader) == [[0, 1, 2], [3, 4, 5], [6]]  # every epoch the same
    assert loader.epoch == 2 and loader.seed == 0


def test_drop_last() -> None:
    loader = tm.DataLoader(list(range(7)), batch_size=3, drop_last=True, collate=list)
    assert len(loader) == 2
    assert list(loader) == [[0, 1, 2], [3, 4, 5]]
    exact = tm.DataLoader(list(range(6)), batch_size=3, drop_last=True, collate=list)
    assert len(exact) == 2 and list(exact) == [[0, 1, 2], [3, 4, 5]]
    too_few = tm.DataLoader(list(range(2)), batch_size=3, drop_last=True, collate=list)
    assert len(too_few) == 0 and list(too_few) == []


def test_seed_is_carried_across_epochs() -> None:
    items = list("abcdefg")
    loader = tm.DataLoader(items, batch_size=3, shuffle=True, seed=0, collate=list)
    order1, key1 = lcg_order(0, 7)
    order2, key2 = lcg_order(key1, 7)
    epoch1 = [x for batch in loader for x in batch]
    assert epoch1 == [items[i] for i in order1]
    assert loader.seed == key1
    epoch2 = [x for batch in loader for x in batch]
    assert epoch2 == [items[i] for i in order2]
    assert loader.seed == key2
    assert epoch1 != epoch2


def test_epoch_two_is_the_dataset_shuffled_with_epoch_ones_key() -> None:
    ds = tm.Dataset.from_list(list(range(10)))
    loader = tm.DataLoader(ds, batch_size=4, shuffle=True, seed=17, collate=list)
    first, key = ds.shuffle(17)
    assert [x for b in loader for x in b] == first.to_list()
    second, _ = ds.shuffle(key)
    assert [x for b in loader for x in b] == second.to_list()


def test_each_iter_call_starts_an_epoch() -> None:
    loader = tm.DataLoader([1, 2, 3], shuffle=True, seed=5, collate=list)
    iter(loader)
    _, key1 = lcg_order(5, 3)
    assert loader.epoch == 1 and loader.seed == key1


def test_state_dict_resumes_the_same_epochs() -> None:
    a = tm.DataLoader(list(range(9)), batch_size=2, shuffle=True, seed=3, collate=list)
    list(a)
    b = tm.DataLoader(list(range(9)), batch_size=2, shuffle=True, collate=list)
    b.load_state_dict(a.state_dict())
    assert b.state_dict() == a.state_dict() and b.epoch == 1
    assert list(b) == list(a)
    with pytest.raises(tm.InvalidArgument, match="missing"):
        b.load_state_dict({"seed": 1})


@pytest.mark.parametrize("size", [0, -3])
def test_batch_size_must_be_positive(size: int) -> None:
    with pytest.raises(tm.InvalidArgument) as info:
        tm.DataLoader([1, 2, 3], batch_size=size, tag="train")
    assert str(info.value).startswith("train: batchSize must be > 0")


def test_empty_dataset() -> None:
    with pytest.raises(tm.EmptyDataset) as info:
        tm.DataLoader([], batch_size=2, tag="train")
    assert str(info.value) == "train: empty dataset"


def test_default_tag() -> None:
    with pytest.raises(tm.EmptyDataset, match=r"^DataLoader: empty dataset$"):
        tm.DataLoader(tm.Dataset.from_list([]))


# ---- collate -----------------------------------------------------------------------------------


def test_default_collate_stacks_tuple_fields() -> None:
    samples = [(np.full((2, 3), float(i)), i) for i in range(5)]
    batches = list(tm.DataLoader(samples, batch_size=2))
    assert [(x.shape, y.shape) for x, y in batches] == [((2, 2, 3), (2,))] * 2 + [((1, 2, 3), (1,))]
    x, y = batches[1]
    assert np.array_equal(x[:, 0, 0], [2.0, 3.0])
    assert y.tolist() == [2, 3] and y.dtype.kind == "i"


def test_default_collate_stacks_array_samples() -> None:
    images = [np.full((8, 8), i, dtype=np.float32) for i in range(4)]
    (batch,) = list(tm.DataLoader(images, batch_size=4))
    assert batch.shape == (4, 8, 8) and batch.dtype == np.float32
    assert np.array_equal(batch[:, 0, 0], [0, 1, 2, 3])


def test_default_collate_scalars_dicts_and_named_tuples() -> None:
    class Pair(NamedTuple):
        x: np.ndarray
        y: Any

    assert default_collate([1.0, 2.0]).tolist() == [1.0, 2.0]
    batch = default_collate([Pair(np.zeros(2), 1.0), Pair(np.ones(2), 0.0)])
    assert isinstance(batch, Pair) and batch.x.shape == (2, 2) and batch.y.tolist() == [1.0, 0.0]
    d = default_collate([{"x": np.zeros(3), "y": 1}, {"x": np.ones(3), "y": 2}])
    assert d["x"].shape == (2, 3) and d["y"].tolist() == [1, 2]


def test_default_collate_copies_into_a_frozen_batch() -> None:
    samples = [np.arange(3.0), np.arange(3.0) + 10]
    batch = default_collate(samples)
    assert not np.shares_memory(batch, samples[0])
    assert not batch.flags.writeable  # a leaf records it without another copy
    with pytest.raises(ValueError, match="read-only"):
        batch[:] = 0.0
    samples[0][0] = 99.0  # the samples stay the caller's to change
    assert batch[0, 0] == 0.0


def test_default_collate_errors_name_the_field_and_the_fix() -> None:
    with pytest.raises(tm.InvalidArgument, match=r"sample\[0\] shapes differ.*collate=list"):
        default_collate([(np.zeros(2), 1), (np.zeros(3), 1)])
    with pytest.raises(tm.InvalidArgument, match=r"type str.*collate=list"):
        default_collate(["a", "b"])
    with pytest.raises(tm.InvalidArgument, match="tuple of 2 fields"):
        default_collate([(1, 2), (1, 2, 3)])
    with pytest.raises(tm.InvalidArgument, match="no samples"):
        default_collate([])


def test_a_collated_batch_counts_and_cuts_its_samples_however_nested() -> None:
    class Pair(NamedTuple):
        x: np.ndarray
        m: np.ndarray

    samples = [{"in": Pair(np.full(2, i), np.ones(1)), "y": (i, {"id": i})} for i in range(5)]
    (batch,) = list(tm.DataLoader(samples, batch_size=5))
    assert size(batch, "test") == 5  # not the 2 keys of the dict
    cut = take(batch, 1, 3)
    assert isinstance(cut["in"], Pair) and cut["in"].x[:, 0].tolist() == [1, 2]
    assert cut["y"][1]["id"].tolist() == [1, 2] and size(cut, "test") == 2
    assert size(list(range(3)), "test") == 3  # collate=list: the samples themselves
    with pytest.raises(tm.InvalidArgument, match="the fields have 5, 4 rows"):
        size((batch["y"][0], batch["y"][0][:4]), "test")
    with pytest.raises(tm.InvalidArgument, match="test: the batch is a float without a length"):
        size(1.0, "test")


def test_custom_collate_dataset_batches_feed_mean_scalar_over_dataset() -> None:
    loader = tm.DataLoader([2.0, 2.0, 3.0], batch_size=3, collate=tm.Dataset.from_list)
    (batch,) = list(loader)

    @tm.tapem
    def mean_of(ds: tm.Dataset[float]) -> tm.Gen[tm.Handle]:
        def per_sample(x: float) -> tm.Gen[tm.Handle]:
            return (yield from tm.const(x))

        return (yield from tm.mean_scalar_over_dataset(ds, per_sample))

    out, tape = tm.run(mean_of(batch)).unwrap()
    assert float(tape.value(out)) == 2.333333333333333


def test_load_state_dict_names_the_missing_entries() -> None:
    loader = tm.DataLoader([1, 2, 3], collate=list)
    with pytest.raises(
        tm.InvalidArgument, match=r"DataLoader.load_state_dict: missing \['epoch'\]"
    ):
        loader.load_state_dict({"seed": 1})
    assert loader.epoch == 0
