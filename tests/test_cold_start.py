"""The cold-start split: held-out items never reach training or histories; targets are kept."""

from __future__ import annotations

import numpy as np
import pytest

from recall_jax.data.cold_start import choose_cold_items, cold_start_split
from recall_jax.data.splits import leave_one_out_split
from recall_jax.data.synthetic import make_synthetic


@pytest.fixture(scope="module")
def split():
    return leave_one_out_split(make_synthetic(num_users=300, num_items=200, num_topics=5,
                                              mean_length=20, seed=0))


def test_cold_items_are_a_seeded_share_of_the_catalogue(split):
    first = choose_cold_items(split.train, 0.1, seed=1)
    assert first.sum() == round(0.1 * len(np.unique(split.train.items)))
    assert not first[0]
    np.testing.assert_array_equal(first, choose_cold_items(split.train, 0.1, seed=1))
    assert not np.array_equal(first, choose_cold_items(split.train, 0.1, seed=2))
    with pytest.raises(ValueError, match=r"share must lie in \(0, 1\)"):
        choose_cold_items(split.train, 1.5, seed=0)


def test_cold_items_never_reach_training_or_histories_and_targets_are_kept(split):
    cold_split = cold_start_split(split, share=0.2, seed=0)
    cold = cold_split.held_out
    assert np.all(cold_split.cold_items[cold])  # held out implies cold
    new = cold_split.split
    assert not cold[new.train.items].any()
    for evaluation, original in ((new.validation, split.validation), (new.test, split.test)):
        assert not cold[evaluation.histories.items].any()
        np.testing.assert_array_equal(evaluation.targets, original.targets)
    # Warm events are all still there, in order.
    warm_events = split.train.items[~cold[split.train.items]]
    np.testing.assert_array_equal(new.train.items, warm_events)
    is_cold = cold_split.target_is_cold(new.test)
    assert 0 < is_cold.sum() < len(is_cold)
    assert "cold start (20% of items" in new.protocol
