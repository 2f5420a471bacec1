"""``Dataset`` (SPEC §9): construction, indexing, map, split, TorchLean's shuffle, batches."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

import tapem as tm
from tapem.data import lcg


def lcg_keys(seed: int, n: int) -> list[int]:
    """The LCG keys from the spec's formula, written out here independently of tapem."""
    keys, s = [], seed
    for _ in range(n):
        s = (1103515245 * s + 12345) % 2**31
        keys.append(s)
    return keys


# ---- construction and access -----------------------------------------------------------------


def test_from_list_to_list_len_and_iteration() -> None:
    items = [(0.0, 1.0), (1.0, 3.0), (2.0, 5.0)]
    ds = tm.Dataset.from_list(items)
    assert len(ds) == 3
    assert ds.to_list() == items
    assert list(ds) == items
    assert ds.to_list() is not ds.to_list()  # a new list each time


def test_dataset_is_immutable_snapshot_of_its_input() -> None:
    items = [1, 2, 3]
    ds = tm.Dataset.from_list(items)
    items.append(4)
    out = ds.to_list()
    out.append(5)
    assert ds.to_list() == [1, 2, 3]


def test_indexing_by_int_and_slice() -> None:
    ds = tm.Dataset.from_list(["a", "b", "c", "d"])
    assert (ds[0], ds[3], ds[-1]) == ("a", "d", "d")
    part = ds[1:3]
    assert isinstance(part, tm.Dataset)
    assert part.to_list() == ["b", "c"]
    assert ds[::-1].to_list() == ["d", "c", "b", "a"]
    with pytest.raises(IndexError):
        ds[4]


def test_map() -> None:
    ds = tm.Dataset.from_list([1, 2, 3]).map(lambda x: (x, x * 10))
    assert ds.to_list() == [(1, 10), (2, 20), (3, 30)]


def test_split_at() -> None:
    ds = tm.Dataset.from_list(range(5))
    a, b = ds.split_at(2)
    assert (a.to_list(), b.to_list()) == ([0, 1], [2, 3, 4])
    a, b = ds.split_at(0)
    assert (a.to_list(), b.to_list()) == ([], [0, 1, 2, 3, 4])
    a, b = ds.split_at(9)
    assert (a.to_list(), b.to_list()) == ([0, 1, 2, 3, 4], [])
    with pytest.raises(tm.InvalidArgument, match="split_at: n must be >= 0"):
        ds.split_at(-1)


# ---- shuffle -----------------------------------------------------------------------------------


def test_lcg_is_the_spec_formula() -> None:
    assert [lcg(s) for s in (0, 1, 12345, 2**31 - 1)] == [
        (1103515245 * s + 12345) % 2**31 for s in (0, 1, 12345, 2**31 - 1)
    ]


def test_shuffle_seed_0_exact_order_and_returned_seed() -> None:
    keys = lcg_keys(0, 5)
    assert keys == [12345, 1406932606, 654583775, 1449466924, 229283573]
    shuffled, next_seed = tm.Dataset.from_list(["a", "b", "c", "d", "e"]).shuffle(0)
    # ascending keys: 12345 (a), 229283573 (e), 654583775 (c), 1406932606 (b), 1449466924 (d)
    assert shuffled.to_list() == ["a", "e", "c", "b", "d"]
    assert next_seed == 229283573 == keys[-1]


def test_shuffle_second_epoch_uses_the_returned_seed() -> None:
    ds = tm.Dataset.from_list(["a", "b", "c", "d", "e"])
    _, seed = ds.shuffle(0)
    keys = lcg_keys(seed, 5)
    shuffled, next_seed = ds.shuffle(seed)
    expected = [x for _, x in sorted(zip(keys, "abcde", strict=True))]
    assert shuffled.to_list() == expected == ["e", "d", "b", "a", "c"]
    assert next_seed == keys[-1]


def test_shuffle_of_empty_dataset_returns_the_input_seed() -> None:
    empty: tm.Dataset[int] = tm.Dataset.from_list([])
    shuffled, seed = empty.shuffle(42)
    assert shuffled.to_list() == []
    assert seed == 42


def test_shuffle_leaves_the_dataset_unchanged() -> None:
    ds = tm.Dataset.from_list([3, 1, 2])
    ds.shuffle(5)
    assert ds.to_list() == [3, 1, 2]


@given(st.lists(st.integers(), max_size=40), st.integers(min_value=0, max_value=2**31 - 1))
def test_shuffle_is_a_permutation_sorted_by_lcg_keys(items: list[int], seed: int) -> None:
    shuffled, next_seed = tm.Dataset.from_list(items).shuffle(seed)
    keys = lcg_keys(seed, len(items))
    order = sorted(range(len(items)), key=lambda i: keys[i])
    assert shuffled.to_list() == [items[i] for i in order]
    assert next_seed == (keys[-1] if items else seed)


def test_shuffle_sorts_only_by_key_not_by_sample() -> None:
    # Samples that cannot be compared must still shuffle (the sort never compares them).
    samples = [object() for _ in range(6)]
    shuffled, _ = tm.Dataset.from_list(samples).shuffle(3)
    assert sorted(map(id, shuffled)) == sorted(map(id, samples))


# ---- batches -----------------------------------------------------------------------------------


def test_batches_of_7_by_3() -> None:
    batches = tm.Dataset.from_list(list("abcdefg")).batches(3)
    assert [len(b) for b in batches] == [3, 3, 1]
    assert all(isinstance(b, tm.Dataset) for b in batches)
    assert [b.to_list() for b in batches] == [["a", "b", "c"], ["d", "e", "f"], ["g"]]


@pytest.mark.parametrize(("n", "size"), [(1, 1), (6, 3), (6, 4), (5, 10), (10, 1)])
def test_batch_count_is_the_ceiling(n: int, size: int) -> None:
    batches = tm.Dataset.from_list(range(n)).batches(size)
    assert len(batches) == -(-n // size)
    assert [x for b in batches for x in b] == list(range(n))


@pytest.mark.parametrize("size", [0, -1])
def test_batch_size_must_be_positive(size: int) -> None:
    with pytest.raises(tm.InvalidArgument) as info:
        tm.Dataset.from_list([1, 2]).batches(size, tag="train")
    assert str(info.value).startswith("train: batchSize must be > 0")


def test_batch_size_check_comes_before_the_empty_check() -> None:
    with pytest.raises(tm.InvalidArgument, match="batches: batchSize must be > 0"):
        tm.Dataset.from_list([]).batches(0)


def test_batches_of_empty_dataset() -> None:
    with pytest.raises(tm.EmptyDataset) as info:
        tm.Dataset.from_list([]).batches(2, tag="val")
    assert str(info.value) == "val: empty dataset"
    assert info.value.tag == "val"


def test_batches_feed_mean_scalar_over_dataset() -> None:
    @tm.tapem
    def mean_of(batch: tm.Dataset[float]) -> tm.Gen[tm.Handle]:
        def per_sample(x: float) -> tm.Gen[tm.Handle]:
            return (yield from tm.const(x))

        return (yield from tm.mean_scalar_over_dataset(batch, per_sample))

    batches = tm.Dataset.from_list([2.0, 2.0, 3.0, 5.0]).batches(3)
    tapes = [tm.run(mean_of(b)).unwrap() for b in batches]
    means = [float(tape.value(out)) for out, tape in tapes]
    assert means == [7.0 * (1.0 / 3.0), 5.0]
