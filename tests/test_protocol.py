"""The seen-item protocol on a hand-made dataset with repeated targets, and on synthetic data.

The hand-made case runs the real path (generic reader, leave-one-out split, the exclusions every
report uses, the popularity baseline through the ranking core); its expected values are worked
out by hand in the comments.
"""

import numpy as np
import pytest

from experiments.configs import default, synthetic_tiny
from recall_jax.data.registry import load_dataset, split_dataset
from recall_jax.evaluation.metrics import ranking_metrics
from recall_jax.evaluation.model_evaluation import evaluation_exclusions
from recall_jax.evaluation.protocol import (SEEN_ITEM_POLICIES, describe_policy,
                                            seen_item_exclusions, targets_in_history)
from recall_jax.retrieval.baselines import popularity_ranking

# Each user's events in time order (leave-one-out: the last is the test target, the one before
# it the validation target, the rest is training data).
SEQUENCES = {
    "bg": [1] * 12 + [2] * 11 + [3] * 10 + [4] * 9 + [5] * 8 + [6] * 7 + [7] * 6 + [8] * 5
          + [9] * 4 + [10] * 3 + [11] * 2 + [12] + [13, 13],
    "u1": [1, 2, 3, 4, 5, 6, 1],
    "u2": [13, 14, 12, 11],
    "u3": [1, 2, 3, 4, 3],
    "u4": [7, 8, 9, 10],
    "u5": [5, 6, 2, 5],
}
# Training counts: 1: 12+1+1 = 14, 2: 13, 3: 12, 4: 9+1 = 10, 5: 8+1+1 = 10, 6: 7+1 = 8,
# 7: 6+1 = 7, 8: 5+1 = 6, 9: 4, 10: 3, 11: 2, 12: 1, 13: 1, 14: 1. Popularity order (equal
# counts by id): 1 2 3 4 5 6 7 8 9 10 11 12 13 14.
# Test histories and targets, and the target's 0-based rank under each policy:
#   bg: 1..12 and 13, target 13: keep 12 (miss); exclude: in history (miss);
#       exclude_keep_target: 1..12 removed, so 13 comes first (hit).
#   u1: 1..6, target 1: keep 0; exclude miss; exclude_keep_target 0 (2..6 removed).
#   u2: 13 14 12, target 11: rank 10 under every policy (removed items rank below it): miss.
#   u3: 1 2 3 4, target 3: keep 2; exclude miss; exclude_keep_target 0 (1, 2, 4 removed).
#   u4: 7 8 9, target 10: keep 9; exclude and exclude_keep_target 6 (7, 8, 9 removed).
#   u5: 5 6 2, target 5: keep 4; exclude miss; exclude_keep_target 3 (6 and 2 removed: 1 3 4 5).
EXPECTED_HR10 = {"keep": 4 / 6, "exclude": 1 / 6, "exclude_keep_target": 5 / 6}
EXPECTED_NDCG10 = {
    "keep": (1 + 1 / np.log2(4) + 1 / np.log2(11) + 1 / np.log2(6)) / 6,
    "exclude": (1 / np.log2(8)) / 6,
    "exclude_keep_target": (1 + 1 + 1 + 1 / np.log2(8) + 1 / np.log2(5)) / 6,
}


@pytest.fixture(scope="module")
def hand_made_split(tmp_path_factory):
    path = tmp_path_factory.mktemp("protocol") / "events.csv"
    lines = ["user,item,timestamp"]
    for user, items in SEQUENCES.items():
        lines += [f"{user},item{item},{time}" for time, item in enumerate(items)]
    path.write_text("\n".join(lines) + "\n")
    config = default.get_config()
    config.data.name = "generic"
    config.data.interactions_path = str(path)
    dataset = load_dataset(config.data)
    return dataset, split_dataset(dataset, config.data)


@pytest.mark.parametrize("policy", SEEN_ITEM_POLICIES)
def test_popularity_under_each_policy_gives_the_hand_computed_values(hand_made_split, policy):
    dataset, split = hand_made_split
    test = split.test
    result = popularity_ranking(split.train.items, dataset.num_items, test.targets,
                                evaluation_exclusions(test, policy), max_k=10)
    metrics = ranking_metrics(result.target_ranks, result.top_items, (10,),
                              num_items=dataset.num_items)
    assert metrics["HR@10"] == pytest.approx(EXPECTED_HR10[policy])
    assert metrics["NDCG@10"] == pytest.approx(EXPECTED_NDCG10[policy])
    histories = test.histories
    repeated = targets_in_history(histories.offsets, histories.items, test.targets)
    assert repeated.sum() == 4  # bg, u1, u3 and u5
    assert "OPTIMISTIC" in describe_policy(policy) or policy != "exclude_keep_target"


def numpy_popularity_hit_rate(split, policy: str, k: int = 10) -> float:
    """An independent reference: per user, mask and sort by (count desc, id asc) in numpy."""
    counts = np.bincount(split.train.items, minlength=split.train.num_items + 1).astype(float)
    counts[0] = -np.inf
    hits = []
    for user in range(split.test.num_users):
        history = split.test.histories.sequence(user)
        target = split.test.targets[user]
        scores = counts.copy()
        if policy != "keep":
            removed = history if policy == "exclude" else history[history != target]
            scores[removed] = -np.inf
        if not np.isfinite(scores[target]):
            hits.append(False)
            continue
        order = np.lexsort((np.arange(len(scores)), -scores))
        hits.append(target in order[:k])
    return float(np.mean(hits))


def test_three_policies_on_synthetic_data_with_repeat_consumption():
    config = synthetic_tiny.get_config()
    dataset = load_dataset(config.data)
    split = split_dataset(dataset, config.data)
    test = split.test
    repeated = targets_in_history(test.histories.offsets, test.histories.items, test.targets)
    assert repeated.mean() > 0.3  # the data repeats: the policies must differ
    hit_rates = {}
    for policy in SEEN_ITEM_POLICIES:
        result = popularity_ranking(split.train.items, dataset.num_items, test.targets,
                                    evaluation_exclusions(test, policy), max_k=10)
        hit_rates[policy] = float(np.mean((result.target_ranks >= 0)
                                          & (result.target_ranks < 10)))
        assert hit_rates[policy] == pytest.approx(numpy_popularity_hit_rate(split, policy))
    # Removing every seen competitor but keeping the answer beats both fair rules.
    assert hit_rates["exclude_keep_target"] > hit_rates["keep"] > hit_rates["exclude"]


def test_policy_exclusions_and_bad_names():
    offsets, items, targets = np.array([0, 3, 3]), np.array([4, 2, 4], np.int32), np.array([4, 1])
    excluded = seen_item_exclusions(offsets, items, targets, "exclude")
    assert excluded.offsets.tolist() == [0, 3, 3] and excluded.items.tolist() == [4, 2, 4]
    optimistic = seen_item_exclusions(offsets, items, targets, "exclude_keep_target")
    assert optimistic.offsets.tolist() == [0, 1, 1] and optimistic.items.tolist() == [2]
    assert seen_item_exclusions(offsets, items, targets, "keep") is None
    with pytest.raises(ValueError, match="eval.seen_items must be one of"):
        seen_item_exclusions(offsets, items, targets, "exclude_history")
