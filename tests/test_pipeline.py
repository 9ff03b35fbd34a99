"""The vectorised training input pipeline: coverage, determinism, host splits, targets."""

import numpy as np
import pytest

from recall_jax.data.dataset import ItemCatalogue, from_user_lists
from recall_jax.data import pipeline
from recall_jax.data.pipeline import NextItemBatches, bucket_for_lengths, last_items_matrix

SEQUENCES = [list(range(1, n + 1)) for n in (2, 3, 5, 8, 13, 21, 1, 30, 4, 9)]
DATASET = from_user_lists("toy", [str(u) for u in range(len(SEQUENCES))],
                          [np.array(s) for s in SEQUENCES],
                          ItemCatalogue(np.array([""] + [str(i) for i in range(1, 31)])))


def collect(batches, epoch):
    return list(batches.epoch(epoch))


def test_last_items_matrix_left_pads_and_truncates():
    offsets = np.array([0, 2, 7])
    items = np.array([5, 6, 1, 2, 3, 4, 9])
    np.testing.assert_array_equal(last_items_matrix(offsets, items, 3), [[0, 5, 6], [3, 4, 9]])


def test_bucket_for_lengths_picks_the_narrowest_fit():
    np.testing.assert_array_equal(bucket_for_lengths(np.array([1, 4, 5, 8, 9]), (4, 8, 16)),
                                  [0, 0, 1, 1, 2])


def test_every_trainable_user_once_per_epoch_with_next_item_targets():
    batches = NextItemBatches(DATASET, max_len=10, batch_size=4, seed=0, bucket_lengths=(4, 10))
    seen_last_targets = []
    for batch in collect(batches, 0):
        inputs, targets = batch["inputs"], batch["targets"]
        assert inputs.shape == targets.shape and inputs.shape[0] == 4
        assert inputs.shape[1] in (4, 10)
        real = inputs != 0
        # Target at t is the input at t + 1 wherever both are real items.
        both = real[:, :-1] & real[:, 1:]
        np.testing.assert_array_equal(targets[:, :-1][both], inputs[:, 1:][both])
        assert np.all(targets[~real] == 0)  # nothing to predict from padding
        for row in range(4):
            if real[row].any():
                seen_last_targets.append(int(targets[row, -1]))
    # Each user with >= 2 items appears once; its last target is its last item.
    expected = sorted(len(s) for s in SEQUENCES if len(s) >= 2)
    assert sorted(seen_last_targets) == expected


def test_batches_are_deterministic_by_seed_and_epoch():
    first = NextItemBatches(DATASET, 10, 4, seed=3, bucket_lengths=(4, 10))
    second = NextItemBatches(DATASET, 10, 4, seed=3, bucket_lengths=(4, 10))
    for a, b in zip(collect(first, 2), collect(second, 2)):
        np.testing.assert_array_equal(a["inputs"], b["inputs"])
    epoch_orders = [np.concatenate([b["targets"][:, -1] for b in collect(first, e)]) for e in (0, 1)]
    other_seed = NextItemBatches(DATASET, 10, 4, seed=4, bucket_lengths=(4, 10))
    assert not np.array_equal(epoch_orders[0], epoch_orders[1]) or not np.array_equal(
        epoch_orders[0], np.concatenate([b["targets"][:, -1] for b in collect(other_seed, 0)]))


def test_hosts_get_disjoint_halves_of_each_global_batch():
    whole = collect(NextItemBatches(DATASET, 10, 4, seed=1, bucket_lengths=(4, 10)), 0)
    host0 = collect(NextItemBatches(DATASET, 10, 4, seed=1, bucket_lengths=(4, 10),
                                    process_index=0, process_count=2), 0)
    host1 = collect(NextItemBatches(DATASET, 10, 4, seed=1, bucket_lengths=(4, 10),
                                    process_index=1, process_count=2), 0)
    assert len(whole) == len(host0) == len(host1)
    for full, a, b in zip(whole, host0, host1):
        np.testing.assert_array_equal(np.concatenate([a["inputs"], b["inputs"]]), full["inputs"])


def test_batch_size_must_split_over_hosts():
    with pytest.raises(ValueError, match="not divisible"):
        NextItemBatches(DATASET, 10, 5, seed=0, process_count=2)


def test_buckets_derived_from_short_histories_cut_padding():
    """Histories of mean length about 9: ML-1M's widths (16 ... 200) pad most tokens."""
    lengths = np.random.default_rng(0).geometric(1 / 9, size=5000)
    derived = pipeline.derived_bucket_lengths(lengths, max_len=200)
    assert derived[-1] == 200 and all(width % 8 == 0 for width in derived)
    assert derived[0] <= 16 and len(derived) <= len(pipeline.BUCKET_QUANTILES) + 1
    ml1m_widths = (16, 32, 48, 64, 96, 128, 160, 200)
    derived_padding = pipeline.padding_share(lengths, derived)
    assert derived_padding < pipeline.padding_share(lengths, ml1m_widths)
    assert derived_padding < 0.35
    # The share is what the batches really hold: hand-checked case.
    assert pipeline.padding_share(np.array([3, 8, 9]), (8, 16)) == 1 - 20 / 32


def test_batches_without_given_buckets_use_derived_widths_and_visit_everyone():
    batches = NextItemBatches(DATASET, max_len=10, batch_size=4, seed=0)
    trainable = np.flatnonzero(DATASET.lengths >= 2)
    expected = pipeline.derived_bucket_lengths(np.minimum(DATASET.lengths[trainable] - 1, 10),
                                               10)
    assert batches.bucket_lengths == expected
    rows = [row for batch in batches.epoch(0) for row in batch["targets"] if row.any()]
    assert len(rows) == len(trainable)
