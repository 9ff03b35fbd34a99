"""The synthetic dataset: validity, determinism and planted sequential signal."""

from __future__ import annotations

import hashlib
import tracemalloc

import numpy as np
import pytest

from recall_jax.data import splits, synthetic
from recall_jax.data.synthetic import make_synthetic


def _arrays(dataset):
    return (dataset.offsets, dataset.items, dataset.timestamps, dataset.catalogue.raw_ids,
            *dataset.catalogue.text_fields.values())


def test_same_seed_same_dataset_other_seed_differs():
    first, again, other = make_synthetic(seed=7), make_synthetic(seed=7), make_synthetic(seed=8)
    for left, right in zip(_arrays(first), _arrays(again)):
        np.testing.assert_array_equal(left, right)
    assert not np.array_equal(first.items[:200], other.items[:200])


def test_shapes_ids_and_time_order():
    dataset = make_synthetic(num_users=50, num_items=40, num_topics=4, mean_length=12, seed=1)
    assert dataset.num_users == 50 and dataset.num_items == 40
    assert dataset.items.min() >= 1 and dataset.items.max() <= 40
    assert dataset.lengths.min() >= 3
    assert abs(dataset.lengths.mean() - 12) < 3
    within_user = np.ones(dataset.num_events - 1, dtype=bool)
    within_user[dataset.offsets[1:-1] - 1] = False
    assert np.all(np.diff(dataset.timestamps)[within_user] > 0)


def test_item_text_names_topic_and_id():
    dataset = make_synthetic(num_items=30, num_topics=3, seed=2)
    titles = dataset.catalogue.text_fields["title"]
    genres = dataset.catalogue.text_fields["genres"]
    assert titles[0] == "" and genres[0] == ""
    for item in (1, 17, 30):
        assert titles[item].startswith(genres[item] + " ")
        assert titles[item].endswith(f"#{item}")
    assert len(set(genres[1:])) == 3


def test_consecutive_items_tend_to_share_a_topic():
    dataset = make_synthetic(num_topics=8, seed=0)
    genres = dataset.catalogue.text_fields["genres"][dataset.items]
    within_user = np.ones(dataset.num_events - 1, dtype=bool)
    within_user[dataset.offsets[1:-1] - 1] = False
    same_topic = (genres[1:] == genres[:-1])[within_user].mean()
    assert same_topic > 0.6  # Chance would be about 1/8.


def _hit_rate_at_10(scores: np.ndarray, targets: np.ndarray) -> float:
    scores = scores.astype(float).copy()
    scores[:, 0] = -np.inf  # Never recommend padding.
    top = np.argsort(-scores, axis=1, kind="stable")[:, :10]
    return float((top == targets[:, None]).any(axis=1).mean())


def test_last_item_transitions_beat_popularity():
    """A model that reads the history (first-order transitions) must beat popularity."""
    dataset = make_synthetic(seed=0)
    split = splits.leave_one_out_split(dataset)
    num_ids = dataset.num_items + 1
    popularity = np.bincount(split.train.items, minlength=num_ids)
    within_user = np.ones(split.train.num_events - 1, dtype=bool)
    within_user[split.train.offsets[1:-1] - 1] = False
    transitions = np.zeros((num_ids, num_ids))
    np.add.at(transitions, (split.train.items[:-1][within_user],
                            split.train.items[1:][within_user]), 1)
    last_items = split.test.histories.items[split.test.histories.offsets[1:] - 1]
    popularity_hits = _hit_rate_at_10(np.tile(popularity, (len(last_items), 1)),
                                      split.test.targets)
    transition_hits = _hit_rate_at_10(transitions[last_items] + 1e-3 * popularity,
                                      split.test.targets)
    assert transition_hits > popularity_hits + 0.2


def test_rejects_more_topics_than_items():
    with pytest.raises(ValueError, match="num_topics"):
        make_synthetic(num_items=3, num_topics=5)


def test_row_draws_match_counting_the_entries_below_each_uniform():
    rng = np.random.default_rng(3)
    cumulative = np.cumsum(rng.dirichlet(np.full(9, 0.5), size=6), axis=1)
    cumulative[:, -1] = 1.0
    cumulative[2, 4:] = 1.0  # a row padded with ones, as for a small topic
    rows = rng.integers(0, 6, size=5000)
    drawn = synthetic._sample_rows(cumulative, np.random.default_rng(11), rows)
    uniform = np.random.default_rng(11).random(len(rows))
    counted = np.minimum((cumulative[rows] < uniform[:, None]).sum(axis=1), 8)
    np.testing.assert_array_equal(drawn, counted)
    assert drawn[rows == 2].max() == 4 and drawn.max() == 8  # padding never drawn


def test_output_is_pinned_for_a_seed():
    """The exact bytes of one dataset, as generated before the generator was vectorised."""
    dataset = make_synthetic(num_users=300, num_items=5000, num_topics=50, mean_length=20, seed=3)
    digest = hashlib.sha256()
    for array in (*_arrays(dataset), dataset.user_raw_ids):
        digest.update(np.ascontiguousarray(array).tobytes())
    assert digest.hexdigest()[:16] == "9af9619a745ee92c"


def test_large_catalogue_with_few_topics_stays_small():
    """Memory must not grow with users x items per topic (2000 x 100000 floats = 1.6 GB)."""
    tracemalloc.start()
    try:
        dataset = make_synthetic(num_users=2000, num_items=200_000, num_topics=2,
                                 mean_length=10, seed=0)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert dataset.num_items == 200_000 and dataset.items.max() <= 200_000
    assert peak < 300 * 2**20, f"peak {peak / 2**20:.0f} MiB"
