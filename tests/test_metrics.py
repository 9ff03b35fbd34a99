"""Metrics on hand-computed cases, monotonicity in K, and the report writer."""

import json

import numpy as np
import pytest

from recall_jax.evaluation.full_ranking import RankingResult
from recall_jax.evaluation.metrics import (catalogue_coverage_at_k, hit_rate_at_k,
                                           mean_reciprocal_rank, ndcg_at_k, precision_at_k,
                                           ranking_metrics)
from recall_jax.evaluation.report import format_markdown_table, table_columns, write_report

RANKS = np.array([0, 1, 4, 10, 250])
TOP_ITEMS = np.array([[1, 2, 3], [2, 3, 4], [0, 0, 0]])


def test_single_user_values():
    assert ndcg_at_k([0], 10) == 1.0
    assert ndcg_at_k([1], 10) == pytest.approx(0.6309297535714575)  # 1 / log2(3)
    assert ndcg_at_k([10], 10) == 0.0
    assert hit_rate_at_k([9], 10) == 1.0 and hit_rate_at_k([10], 10) == 0.0
    assert mean_reciprocal_rank([0]) == 1.0 and mean_reciprocal_rank([3]) == 0.25
    assert precision_at_k([2], 5) == 0.2


def test_hand_computed_means():
    assert hit_rate_at_k(RANKS, 5) == pytest.approx(0.6)
    assert hit_rate_at_k(RANKS, 11) == pytest.approx(0.8)
    assert ndcg_at_k(RANKS, 5) == pytest.approx((1.0 + 0.6309297535714575 + 0.38685280723454163) / 5)
    assert mean_reciprocal_rank(RANKS) == pytest.approx((1 + 1 / 2 + 1 / 5 + 1 / 11 + 1 / 251) / 5)
    assert precision_at_k(RANKS, 5) == pytest.approx(0.12)


def test_coverage_ignores_padding():
    assert catalogue_coverage_at_k(TOP_ITEMS, 1, num_items=5) == pytest.approx(0.4)  # {1, 2}
    assert catalogue_coverage_at_k(TOP_ITEMS, 2, num_items=5) == pytest.approx(0.6)  # {1, 2, 3}
    assert catalogue_coverage_at_k(TOP_ITEMS, 3, num_items=5) == pytest.approx(0.8)  # {1, .., 4}
    with pytest.raises(ValueError):
        catalogue_coverage_at_k(TOP_ITEMS, 4, num_items=5)


def test_monotone_in_k_on_random_data():
    rng = np.random.default_rng(0)
    ranks = rng.geometric(0.05, 500) - 1
    top_items = rng.integers(0, 300, (500, 50))
    ks = [1, 2, 5, 10, 20, 50]
    for metric in (hit_rate_at_k, ndcg_at_k):
        values = [metric(ranks, k) for k in ks]
        assert values == sorted(values) and values[0] < values[-1]
    coverage = [catalogue_coverage_at_k(top_items, k, num_items=299) for k in ks]
    assert coverage == sorted(coverage)
    assert all(ndcg_at_k(ranks, k) <= hit_rate_at_k(ranks, k) for k in ks)
    # Users missing rank 0 add at most 1/2 each to the reciprocal rank.
    assert mean_reciprocal_rank(ranks) <= hit_rate_at_k(ranks, 1) + 1 / 2 * (1 - hit_rate_at_k(ranks, 1))


def test_ranking_metrics_keys_and_values():
    result = RankingResult(target_ranks=RANKS[:3], top_items=TOP_ITEMS,
                           top_scores=np.zeros((3, 3), np.float32),
                           target_ties=np.array([0, 2, 0]))
    metrics = ranking_metrics(result, ks=(1, 3), num_items=5)
    assert metrics["HR@1"] == pytest.approx(1 / 3) and metrics["Recall@3"] == pytest.approx(2 / 3)
    assert metrics["NDCG@3"] == pytest.approx((1 + 0.6309297535714575) / 3)
    assert metrics["Precision@3"] == pytest.approx(2 / 9)
    assert metrics["Coverage@3"] == pytest.approx(0.8)
    assert metrics["MRR"] == pytest.approx((1 + 1 / 2 + 1 / 5) / 3)
    assert metrics["TargetTieShare"] == pytest.approx(1 / 3)
    assert metrics["num_users"] == 3
    with pytest.raises(ValueError):
        hit_rate_at_k([], 10)


def test_report_columns_table_and_files(tmp_path):
    rows = [{"model": "popularity", "split": "test", "MRR": 0.1, "NDCG@10": 0.2, "HR@10": 0.3,
             "HR@5": np.float32(0.25), "num_users": 6040},
            {"model": "sas|rec", "split": "test", "HR@10": 0.5}]
    columns = table_columns(rows)
    assert columns == ["model", "split", "HR@5", "HR@10", "NDCG@10", "MRR", "num_users"]
    table = format_markdown_table(rows, columns)
    assert table.splitlines()[2] == "| popularity | test | 0.2500 | 0.3000 | 0.2000 | 0.1000 | 6040 |"
    assert table.splitlines()[3] == "| sas\\|rec | test |  | 0.5000 |  |  |  |"
    write_report(rows, str(tmp_path / "out"), "ML-1M", "full ranking over all 3706 items, "
                 "user's history excluded", "python -m scripts.evaluate")
    markdown = (tmp_path / "out" / "results.md").read_text()
    assert "user's history excluded" in markdown and "python -m scripts.evaluate" in markdown
    saved = json.loads((tmp_path / "out" / "results.json").read_text())
    assert saved["columns"] == columns and saved["rows"][0]["HR@5"] == pytest.approx(0.25)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["results.json", "results.md"]
