"""Popularity baseline on a hand-made dataset."""

import numpy as np

from recall_jax.data.dataset import ItemCatalogue, from_user_lists
from recall_jax.retrieval.baselines import popularity_ranking, popularity_scores

NUM_ITEMS = 5


def train_dataset():
    catalogue = ItemCatalogue(raw_ids=np.array(["", "a", "b", "c", "d", "e"]))
    lists = [np.array([1, 2, 2, 3]), np.array([2, 3]), np.array([4])]
    return from_user_lists("train", ["u0", "u1", "u2"], lists, catalogue)


def test_popularity_scores_are_counts_and_padding_is_never_best():
    scores = popularity_scores(train_dataset().items, NUM_ITEMS)
    assert scores.dtype == np.float32
    assert scores.tolist() == [-np.inf, 1.0, 3.0, 2.0, 1.0, 0.0]


def test_popularity_ranking_with_and_without_history():
    # Counts: item 2 -> 3, item 3 -> 2, items 1 and 4 -> 1, item 5 -> 0.
    offsets = np.array([0, 1, 3, 3])
    histories = np.array([2, 2, 3], np.int32)  # user 0: [2]; user 1: [2, 3]; user 2: nothing.
    targets = np.array([3, 2, 4])
    kept = popularity_ranking(train_dataset(), offsets, histories, targets,
                              exclude_history=False, max_k=5)
    assert kept.top_items.tolist() == [[2, 3, 1, 4, 5]] * 3  # Equal counts: lower id first.
    assert kept.target_ranks.tolist() == [1, 0, 2]
    assert kept.target_ties.tolist() == [0, 0, 1]  # Item 4 ties with item 1.
    removed = popularity_ranking(train_dataset(), offsets, histories, targets,
                                 exclude_history=True, max_k=5)
    # User 1's target (2) is also in their history: it stays; item 3 is removed.
    assert removed.top_items.tolist() == [[3, 1, 4, 5, 0], [2, 1, 4, 5, 0], [2, 3, 1, 4, 5]]
    assert removed.target_ranks.tolist() == [0, 0, 2]
    assert removed.top_scores[0].tolist() == [2.0, 1.0, 1.0, 0.0, -np.inf]
