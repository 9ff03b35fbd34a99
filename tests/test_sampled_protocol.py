"""eval.protocol="sampled": each target among random negatives outside the history."""

from __future__ import annotations

import numpy as np
import pytest

from experiments.configs import synthetic_tiny
from recall_jax.data.dataset import ItemCatalogue, from_user_lists
from recall_jax.data.splits import EvaluationSet
from recall_jax.errors import ConfigError
from recall_jax.evaluation.sampled import rank_among_sampled, sampled_negatives
from recall_jax.train import trainer
from recall_jax.train.config_validation import validate_config

NUM_ITEMS = 30


def evaluation_set(histories: list[list[int]], targets: list[int]) -> EvaluationSet:
    catalogue = ItemCatalogue(raw_ids=np.array([""] + [str(i) for i in range(1, NUM_ITEMS + 1)]),
                              text_fields={})
    data = from_user_lists("toy", [str(u) for u in range(len(histories))], histories, catalogue)
    return EvaluationSet(data, np.asarray(targets, np.int32), np.arange(len(histories)))


def test_negatives_avoid_history_target_and_padding_and_are_seeded():
    users = evaluation_set([[1, 2, 3], list(range(4, 20)), [5]], [4, 21, 6])
    first = sampled_negatives(users, NUM_ITEMS, 10, seed=3)
    assert first.shape == (3, 10)
    for row, (history, target) in enumerate([([1, 2, 3], 4), (range(4, 20), 21), ([5], 6)]):
        assert len(set(first[row])) == 10
        assert not set(first[row]) & (set(history) | {target, 0})
        assert set(first[row]) <= set(range(1, NUM_ITEMS + 1))
    np.testing.assert_array_equal(first, sampled_negatives(users, NUM_ITEMS, 10, seed=3))
    assert not np.array_equal(first, sampled_negatives(users, NUM_ITEMS, 10, seed=4))
    with pytest.raises(ValueError, match="only 13 items outside its history"):
        sampled_negatives(users, NUM_ITEMS, 14, seed=0)


def test_rank_counts_negatives_above_the_target_with_ties_by_item_id():
    items = np.arange(NUM_ITEMS + 1, dtype=np.float32)[:, None]  # item i scores i
    users = np.ones((3, 1), np.float32)
    targets = np.array([10, 10, 30], np.int32)
    negatives = np.array([[1, 2, 11, 12], [1, 2, 3, 4], [5, 6, 7, 8]], np.int32)
    result = rank_among_sampled(users, items, targets, negatives, max_k=3)
    np.testing.assert_array_equal(result.target_ranks, [2, 0, 0])
    np.testing.assert_array_equal(result.top_items, [[12, 11, 10], [10, 4, 3], [30, 8, 7]])
    tied = np.ones((NUM_ITEMS + 1, 1), np.float32)  # every score equal: smaller ids first
    result = rank_among_sampled(users[:1], tied, targets[:1], negatives[:1], max_k=6)
    assert result.target_ranks[0] == 2 and result.target_ties[0] == 4
    np.testing.assert_array_equal(result.top_items[0], [1, 2, 10, 11, 12, 0])


def test_a_sampled_run_is_labelled_everywhere_and_scores_above_full_ranking(tmp_path):
    config = synthetic_tiny.get_config()
    config.train.num_epochs = 3
    full = trainer.train_and_evaluate(config, tmp_path / "full")
    config.eval.protocol = "sampled"
    config.eval.sampled_negatives = 20
    sampled = trainer.train_and_evaluate(config, tmp_path / "sampled")
    assert "SAMPLED ranking (not full ranking): each target among 20 items" in sampled["protocol"]
    page = (tmp_path / "sampled" / "results.md").read_text()
    assert "(SAMPLED protocol: 20 negatives)" in page.splitlines()[0]
    rows = {(r["model"], r["split"]): r for r in sampled["rows"]}
    full_rows = {(r["model"], r["split"]): r for r in full["rows"]}
    # The same model (same seed and schedule): 21 candidates are easier than 200 items.
    assert rows[("sasrec", "test")]["HR@10"] > full_rows[("sasrec", "test")]["HR@10"]
    assert rows[("popularity", "test")]["HR@10"] > full_rows[("popularity", "test")]["HR@10"]
    assert rows[("sasrec", "test")]["NDCG@10"] > rows[("popularity", "test")]["NDCG@10"]


def test_unknown_protocol_is_a_config_error():
    config = synthetic_tiny.get_config()
    config.eval.protocol = "sampled_100"
    with pytest.raises(ConfigError, match="config.eval.protocol='sampled_100': expected one of "
                                          r"\['full', 'sampled'\]"):
        validate_config(config)


def test_negatives_are_uniform_over_the_allowed_items_and_cover_crowded_histories():
    """Every allowed item is drawn about equally often (chi-square), and a user whose history
    leaves exactly `count` items gets exactly those (the direct fallback)."""
    allowed_for_first = [i for i in range(1, NUM_ITEMS + 1) if i not in (1, 2, 3, 4)]
    users = evaluation_set([[1, 2, 3]] * 3000 + [list(range(1, 21))], [4] * 3000 + [21])
    negatives = sampled_negatives(users, NUM_ITEMS, 5, seed=0)
    counts = np.bincount(negatives[:3000].ravel(), minlength=NUM_ITEMS + 1)
    assert counts[[0, 1, 2, 3, 4]].sum() == 0
    expected = 3000 * 5 / len(allowed_for_first)
    chi_square = np.sum((counts[allowed_for_first] - expected) ** 2 / expected)
    assert chi_square < 60  # 25 degrees of freedom: p < 1e-4 above 60
    assert all(len(set(row)) == 5 for row in negatives)
    crowded = sampled_negatives(users, NUM_ITEMS, 9, seed=1)[-1]
    assert sorted(crowded) == list(range(22, 31))
