"""Leave-one-out and temporal splits, and the registry that chooses them."""

from __future__ import annotations

import ml_collections
import numpy as np
import pytest

from experiments.configs import default
from recall_jax.data import registry, splits
from recall_jax.data.dataset import ItemCatalogue, from_user_lists


def _catalogue(num_items: int) -> ItemCatalogue:
    return ItemCatalogue(raw_ids=np.asarray([""] + [f"m{i}" for i in range(1, num_items + 1)]))


def _hand_made(timestamps=None):
    return from_user_lists("toy", ["alice", "bob", "carol"],
                           [np.array([1, 2, 3, 4]), np.array([5, 6, 7]), np.array([2, 4, 6, 8, 1])],
                           _catalogue(8), timestamp_lists=timestamps)


def _rows(dataset) -> list[list[int]]:
    return [dataset.sequence(u).tolist() for u in range(dataset.num_users)]


# ---------------------------------------------------------------------------------------------
# Leave-one-out.


def test_leave_one_out_exact_histories_and_targets():
    split = splits.leave_one_out_split(_hand_made())
    assert split.protocol == "leave-one-out"
    assert _rows(split.train) == [[1, 2], [5], [2, 4, 6]]
    assert _rows(split.validation.histories) == [[1, 2], [5], [2, 4, 6]]
    assert split.validation.targets.tolist() == [3, 6, 8]
    assert _rows(split.test.histories) == [[1, 2, 3], [5, 6], [2, 4, 6, 8]]
    assert split.test.targets.tolist() == [4, 7, 1]
    assert split.test.user_index.tolist() == [0, 1, 2]
    assert split.test.targets.dtype == np.int32 and split.test.user_index.dtype == np.int64
    assert split.test.histories.user_raw_ids.tolist() == ["alice", "bob", "carol"]


def test_leave_one_out_rejects_short_users_with_raw_id_and_hint():
    dataset = from_user_lists("toy", ["u1", "shorty"], [np.array([1, 2, 3]), np.array([1, 2])],
                              _catalogue(3))
    with pytest.raises(ValueError, match=r"'shorty'.* 2 events.*filter_short_users"):
        splits.leave_one_out_split(dataset)
    kept = splits.filter_short_users(dataset, min_events=3)
    assert kept.user_raw_ids.tolist() == ["u1"] and _rows(kept) == [[1, 2, 3]]
    assert splits.leave_one_out_split(kept).test.targets.tolist() == [3]


def test_leave_one_out_on_ml1m_train_excludes_target_positions(chrono_ml1m):
    split = splits.leave_one_out_split(chrono_ml1m)
    lengths = chrono_ml1m.lengths
    np.testing.assert_array_equal(split.train.lengths, lengths - 2)
    assert split.train.num_events == chrono_ml1m.num_events - 2 * chrono_ml1m.num_users
    ends = chrono_ml1m.offsets[1:]
    np.testing.assert_array_equal(split.test.targets, chrono_ml1m.items[ends - 1])
    np.testing.assert_array_equal(split.validation.targets, chrono_ml1m.items[ends - 2])
    # Train is exactly every event except each user's last two positions.
    position = np.arange(chrono_ml1m.num_events) - np.repeat(chrono_ml1m.offsets[:-1], lengths)
    in_train = position < np.repeat(lengths - 2, lengths)
    np.testing.assert_array_equal(split.train.items, chrono_ml1m.items[in_train])
    np.testing.assert_array_equal(split.test.histories.items,
                                  chrono_ml1m.items[position < np.repeat(lengths - 1, lengths)])


# ---------------------------------------------------------------------------------------------
# Temporal.


TIMES = [np.array([10, 20, 80, 95]), np.array([30, 85, 86]), np.array([1, 2, 3, 4, 90])]


def test_temporal_exact_histories_targets_and_absent_users():
    dataset = _hand_made(TIMES)
    # Sorted timestamps: 1 2 3 4 10 20 30 80 85 86 90 95 (12 events).
    cutoffs = splits.temporal_cutoffs(dataset, 0.6, 0.8)
    assert cutoffs == (30, 85)  # Lower quantiles: index floor(0.6*11)=6, floor(0.8*11)=8.
    split = splits.temporal_split(dataset, 0.6, 0.8)
    assert split.protocol == "temporal(0.6,0.8)"
    assert _rows(split.train) == [[1, 2], [], [2, 4, 6, 8]]
    assert np.all(split.train.timestamps < 30)
    # alice: first event in [30, 85) is 3 (t=80); bob's t=30 event sits on the cutoff but has no
    # history; carol has no event in the window.
    assert split.validation.user_index.tolist() == [0]
    assert split.validation.targets.tolist() == [3]
    assert _rows(split.validation.histories) == [[1, 2]]
    # Test: first event at or after 85.
    assert split.test.user_index.tolist() == [0, 1, 2]
    assert split.test.targets.tolist() == [4, 6, 1]
    assert _rows(split.test.histories) == [[1, 2, 3], [5], [2, 4, 6, 8]]


def test_temporal_tie_at_cutoff_belongs_to_the_later_window():
    dataset = from_user_lists("ties", ["a"], [np.array([1, 2, 3, 4])], _catalogue(4),
                              timestamp_lists=[np.array([5, 7, 7, 9])])
    split = splits.temporal_split(dataset, 0.5, 0.9)  # Cutoffs 7 and 7.
    assert _rows(split.train) == [[1]]
    assert split.validation.num_users == 0  # The window [7, 7) is empty.
    assert split.test.targets.tolist() == [2] and _rows(split.test.histories) == [[1]]


def test_temporal_requires_timestamps():
    with pytest.raises(ValueError, match="timestamps"):
        splits.temporal_split(_hand_made())


def test_temporal_rejects_unsorted_histories():
    dataset = from_user_lists("bad", ["a", "b"], [np.array([1, 2]), np.array([3, 4])],
                              _catalogue(4),
                              timestamp_lists=[np.array([1, 2]), np.array([9, 3])])
    with pytest.raises(ValueError, match="'b'.*out of order"):
        splits.temporal_split(dataset)


def _reference_temporal_targets(dataset, start, end):
    """Per-user loop: (rows, targets, history lengths) of the first event in [start, end)."""
    rows, targets, history_lengths = [], [], []
    for user in range(dataset.num_users):
        times = dataset.timestamps[dataset.offsets[user]:dataset.offsets[user + 1]]
        inside = np.flatnonzero((times >= start) & (times < end))
        if len(inside) and inside[0] >= 1:
            rows.append(user)
            targets.append(dataset.sequence(user)[inside[0]])
            history_lengths.append(inside[0])
    return rows, targets, history_lengths


def test_temporal_on_ml100k_matches_a_per_user_reference(ml100k):
    validation_cutoff, test_cutoff = splits.temporal_cutoffs(ml100k)
    split = splits.temporal_split(ml100k)
    assert np.all(split.train.timestamps < validation_cutoff)
    for evaluation, (start, end) in ((split.validation, (validation_cutoff, test_cutoff)),
                                     (split.test, (test_cutoff, np.inf))):
        rows, targets, history_lengths = _reference_temporal_targets(ml100k, start, end)
        assert evaluation.user_index.tolist() == rows
        assert evaluation.targets.tolist() == targets
        assert evaluation.histories.lengths.tolist() == history_lengths
        assert np.all(evaluation.histories.timestamps < end)
    assert 0 < split.test.num_users < ml100k.num_users


# ---------------------------------------------------------------------------------------------
# Registry.


def _config(**fields) -> ml_collections.ConfigDict:
    """The declared data section with some fields changed."""
    config = default.get_config().data
    config.update(fields)
    return config


def test_split_dataset_chooses_protocol():
    dataset = _hand_made(TIMES)
    assert registry.split_dataset(dataset, _config()).protocol == "leave-one-out"
    temporal = registry.split_dataset(dataset, _config(split="temporal", validation_quantile=0.6,
                                                       test_quantile=0.8))
    assert temporal.protocol == "temporal(0.6,0.8)"
    with pytest.raises(ValueError, match="leave_one_out"):
        registry.split_dataset(dataset, _config(split="random"))


def test_min_user_events_drops_short_users_before_splitting_and_says_so():
    dataset = _hand_made()  # alice 4 events, bob 3, carol 5
    split = registry.split_dataset(dataset, _config(min_user_events=4))
    assert split.test.targets.tolist() == [4, 1]  # bob is gone
    assert split.protocol == ("leave-one-out, 1 of 3 users dropped for having fewer than 4 "
                              "events")
    assert registry.split_dataset(dataset, _config()).protocol == "leave-one-out"
    with pytest.raises(ValueError, match="min_user_events=2: leave-one-out needs at least 3"):
        registry.split_dataset(dataset, _config(min_user_events=2))
    with pytest.raises(ValueError, match="no user has config.data.min_user_events=9"):
        registry.split_dataset(dataset, _config(min_user_events=9))


def test_load_dataset_unknown_name_lists_valid_names():
    with pytest.raises(ValueError, match="ml-1m-sasrec.*synthetic"):
        registry.load_dataset(_config(name="ml-2m"))


def test_load_dataset_real_and_synthetic(data_root):
    sasrec = registry.load_dataset(_config(name="ml-1m-sasrec", root=str(data_root)))
    assert (sasrec.name, sasrec.num_users, sasrec.num_items) == ("ml-1m-sasrec", 6040, 3416)
    assert sasrec.catalogue.text_fields["title"][1] == "Raiders of the Lost Ark"
    hundred_k = registry.load_dataset(_config(name="ml-100k", root=str(data_root)))
    assert hundred_k.num_events == 100000 and hundred_k.timestamps is not None
    synthetic = registry.load_dataset(_config(
        name="synthetic", synthetic=dict(num_users=20, num_items=30, num_topics=4,
                                         mean_length=10, seed=3)))
    assert synthetic.num_users == 20 and synthetic.num_items == 30


def test_load_dataset_never_downloads_with_a_configured_root(data_root, monkeypatch):
    from recall_jax.data import download

    def refuse(url, destination):
        raise AssertionError(f"unexpected download of {url}")

    monkeypatch.setattr(download, "fetch_url", refuse)
    with pytest.raises(FileNotFoundError, match="ratings.dat"):
        registry.load_dataset(_config(name="ml-1m-ratings", root=str(data_root)))


def test_load_dataset_generic_paths_relative_to_root(tmp_path):
    (tmp_path / "events.csv").write_text("user,item\nu,a\nu,b\nu,a\n")
    dataset = registry.load_dataset(_config(name="generic", root=str(tmp_path),
                                            interactions_path="events.csv"))
    assert dataset.name == "events" and dataset.sequence(0).tolist() == [1, 2, 1]
