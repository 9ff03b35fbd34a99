"""Popularity and text-similarity baselines on hand-made data."""

import numpy as np

from recall_jax.data.dataset import ItemCatalogue, from_user_lists
from recall_jax.evaluation.protocol import seen_item_exclusions
from recall_jax.retrieval.baselines import (content_similarity_ranking, popularity_ranking,
                                            popularity_scores, recent_history_mean)

NUM_ITEMS = 5


def train_dataset():
    catalogue = ItemCatalogue(raw_ids=np.array(["", "a", "b", "c", "d", "e"]))
    lists = [np.array([1, 2, 2, 3]), np.array([2, 3]), np.array([4])]
    return from_user_lists("train", ["u0", "u1", "u2"], lists, catalogue)


def test_popularity_scores_are_counts_and_padding_is_never_best():
    scores = popularity_scores(train_dataset().items, NUM_ITEMS)
    assert scores.dtype == np.float32
    assert scores.tolist() == [-np.inf, 1.0, 3.0, 2.0, 1.0, 0.0]


def test_popularity_ranking_under_each_seen_item_policy():
    # Counts: item 2 -> 3, item 3 -> 2, items 1 and 4 -> 1, item 5 -> 0.
    offsets = np.array([0, 1, 3, 3])
    histories = np.array([2, 2, 3], np.int32)  # user 0: [2]; user 1: [2, 3]; user 2: nothing.
    targets = np.array([3, 2, 4])
    train_items = train_dataset().items

    def rank(policy):
        return popularity_ranking(train_items, NUM_ITEMS, targets,
                                  seen_item_exclusions(offsets, histories, targets, policy),
                                  max_k=5)
    kept = rank("keep")
    assert kept.top_items.tolist() == [[2, 3, 1, 4, 5]] * 3  # Equal counts: lower id first.
    assert kept.target_ranks.tolist() == [1, 0, 3]  # Item 4 comes after item 1 (same count).
    assert kept.target_ties.tolist() == [0, 0, 1]
    removed = rank("exclude")
    # User 1's target (2) is also in their history: removed, so a miss (rank -1).
    assert removed.top_items.tolist() == [[3, 1, 4, 5, 0], [1, 4, 5, 0, 0], [2, 3, 1, 4, 5]]
    assert removed.target_ranks.tolist() == [0, -1, 3]
    assert removed.top_scores[0].tolist() == [2.0, 1.0, 1.0, 0.0, -np.inf]
    optimistic = rank("exclude_keep_target")
    assert optimistic.top_items[1].tolist() == [2, 1, 4, 5, 0]
    assert optimistic.target_ranks.tolist() == [0, 0, 3]


def test_recent_history_mean_matches_a_loop_over_users():
    rng = np.random.default_rng(0)
    item_vectors = rng.normal(size=(9, 4)).astype(np.float32)
    item_vectors[0] = 0.0
    lists = [[1, 2, 3, 4, 5], [6], [], [7, 8, 8]]
    offsets = np.cumsum([0] + [len(items) for items in lists])
    items = np.array(sum(lists, []), np.int32)
    got = recent_history_mean(offsets, items, item_vectors, recent=2)
    unit = item_vectors / np.maximum(np.linalg.norm(item_vectors, axis=1, keepdims=True), 1e-12)
    for user, history in enumerate(lists):
        if not history:
            np.testing.assert_array_equal(got[user], 0.0)
            continue
        expected = unit[history[-2:]].sum(0)
        np.testing.assert_allclose(got[user], expected / np.linalg.norm(expected), atol=1e-6)


def test_text_similarity_ranks_by_cosine_to_recent_items_and_reaches_unseen_items():
    # Items 1-2 point along x, 3-4 along y; item 5 (never in any history) along y as well.
    item_vectors = np.array([[0, 0], [1, 0], [2, 0.1], [0, 1], [0.5, 1], [0.01, 1]], np.float32)
    offsets = np.array([0, 3, 4])
    items = np.array([1, 1, 3, 2], np.int32)  # user 0: 1, 1, 3 (recent: 1, 3); user 1: 2
    targets = np.array([5, 1])
    result = content_similarity_ranking(item_vectors, offsets, items, targets,
                                        seen_item_exclusions(offsets, items, targets, "exclude"),
                                        recent=1, max_k=3)
    # User 0's profile is item 3 (y): item 5 is the best item left after its history is removed.
    assert result.top_items[0, 0] == 5 and result.target_ranks[0] == 0
    # User 1's profile is item 2 (x): item 1, its target, is the best item left.
    assert result.top_items[1, 0] == 1 and result.target_ranks[1] == 0
