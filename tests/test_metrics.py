"""Metrics on hand-computed cases, monotonicity in K, and the report writer."""

import json

import numpy as np
import pytest

from recall_jax.evaluation.metrics import (NOT_FOUND, ann_recall_at_k, catalogue_coverage_at_k,
                                           exposure_gini, hit_rate_at_k, mean_reciprocal_rank,
                                           ndcg_at_k, per_user_metrics, precision_at_k,
                                           ranking_metrics)
from recall_jax.evaluation.report import (format_difference, format_markdown_table,
                                          table_columns, write_report)

RANKS = np.array([0, 1, 4, 10, 250])
TOP_ITEMS = np.array([[1, 2, 3], [2, 3, 4], [0, 0, 0]])


def test_single_user_values():
    assert ndcg_at_k([0], 10) == 1.0
    assert ndcg_at_k([1], 10) == pytest.approx(0.6309297535714575)  # 1 / log2(3)
    assert ndcg_at_k([10], 10) == 0.0
    assert hit_rate_at_k([9], 10) == 1.0 and hit_rate_at_k([10], 10) == 0.0
    assert mean_reciprocal_rank([0]) == 1.0 and mean_reciprocal_rank([3]) == 0.25
    assert mean_reciprocal_rank([3], k=3) == 0.0 and mean_reciprocal_rank([2], k=3) == 1 / 3
    assert precision_at_k([2], 5) == 0.2


def test_not_found_is_a_miss_everywhere():
    values = per_user_metrics([NOT_FOUND], (1, 10), full_ranking=True)
    assert all(value.tolist() == [0.0] for value in values.values())
    with pytest.raises(ValueError, match="-1"):
        hit_rate_at_k([-2], 10)


def test_hand_computed_means():
    assert hit_rate_at_k(RANKS, 5) == pytest.approx(0.6)
    assert hit_rate_at_k(RANKS, 11) == pytest.approx(0.8)
    assert ndcg_at_k(RANKS, 5) == pytest.approx((1.0 + 0.6309297535714575 + 0.38685280723454163) / 5)
    assert mean_reciprocal_rank(RANKS) == pytest.approx((1 + 1 / 2 + 1 / 5 + 1 / 11 + 1 / 251) / 5)
    assert mean_reciprocal_rank(RANKS, k=5) == pytest.approx((1 + 1 / 2 + 1 / 5) / 5)
    assert precision_at_k(RANKS, 5) == pytest.approx(0.12)


def test_coverage_and_gini_ignore_padding():
    assert catalogue_coverage_at_k(TOP_ITEMS, 1, num_items=5) == pytest.approx(0.4)  # {1, 2}
    assert catalogue_coverage_at_k(TOP_ITEMS, 2, num_items=5) == pytest.approx(0.6)  # {1, 2, 3}
    assert catalogue_coverage_at_k(TOP_ITEMS, 3, num_items=5) == pytest.approx(0.8)  # {1, .., 4}
    with pytest.raises(ValueError):
        catalogue_coverage_at_k(TOP_ITEMS, 4, num_items=5)
    assert exposure_gini(np.array([[1, 2], [3, 4]]), 4) == pytest.approx(0.0)
    # One item shown to everyone out of 4: Gini = (n - 1) / n.
    assert exposure_gini(np.array([[1], [1], [1]]), 4) == pytest.approx(0.75)


def test_ann_recall_counts_the_exact_items_found():
    exact = np.array([[1, 2, 3], [4, 5, 0]])
    found = np.array([[3, 9, 1], [5, 4, 7]])
    assert ann_recall_at_k(found, exact, 3) == pytest.approx((2 / 3 + 1.0) / 2)
    assert ann_recall_at_k(found, exact, 1) == pytest.approx(0.0)


def test_monotone_in_k_and_truncated_mrr_below_full_mrr_on_random_data():
    rng = np.random.default_rng(0)
    ranks = rng.geometric(0.05, 500) - 1
    ranks[::7] = NOT_FOUND
    top_items = rng.integers(0, 300, (500, 50))
    ks = [1, 2, 5, 10, 20, 50]
    for metric in (hit_rate_at_k, ndcg_at_k, lambda r, k: mean_reciprocal_rank(r, k)):
        values = [metric(ranks, k) for k in ks]
        assert values == sorted(values) and values[0] < values[-1]
    coverage = [catalogue_coverage_at_k(top_items, k, num_items=299) for k in ks]
    assert coverage == sorted(coverage)
    assert all(ndcg_at_k(ranks, k) <= hit_rate_at_k(ranks, k) for k in ks)
    assert all(mean_reciprocal_rank(ranks, k) < mean_reciprocal_rank(ranks) for k in ks)


def test_ranking_metrics_keys_and_values():
    metrics = ranking_metrics(RANKS[:3], TOP_ITEMS, ks=(1, 3), num_items=5,
                              target_ties=np.array([0, 2, 0]))
    assert metrics["HR@1"] == pytest.approx(1 / 3) and metrics["Recall@3"] == pytest.approx(2 / 3)
    assert metrics["NDCG@3"] == pytest.approx((1 + 0.6309297535714575) / 3)
    assert metrics["Precision@3"] == pytest.approx(2 / 9)
    assert metrics["Coverage@3"] == pytest.approx(0.8)
    assert metrics["MRR"] == pytest.approx((1 + 1 / 2 + 1 / 5) / 3)
    assert metrics["MRR@1"] == pytest.approx(1 / 3)
    assert metrics["TargetTieShare"] == pytest.approx(1 / 3)
    assert metrics["num_users"] == 3
    with pytest.raises(ValueError):
        hit_rate_at_k([], 10)


def test_report_columns_intervals_differences_and_files(tmp_path):
    rows = [{"model": "popularity", "split": "test", "MRR": 0.1, "NDCG@10": 0.2, "HR@10": 0.3,
             "HR@5": np.float32(0.25), "num_users": 6040,
             "ci95": {"HR@10": [0.28, 0.32], "HR@5": [0.2, 0.3]}},
            {"model": "sas|rec", "split": "test", "HR@10": 0.5}]
    columns = table_columns(rows)
    assert columns == ["model", "split", "HR@5", "HR@10", "NDCG@10", "MRR", "num_users"]
    table = format_markdown_table(rows, columns)
    assert table.splitlines()[2] == ("| popularity | test | 0.2500 [0.2000, 0.3000] | "
                                     "0.3000 [0.2800, 0.3200] | 0.2000 | 0.1000 | 6040 |")
    assert table.splitlines()[3] == "| sas\\|rec | test |  | 0.5000 |  |  |  |"
    assert format_difference([0.01, -0.002, 0.02]) == "+0.0100 [-0.0020, +0.0200] ≈"
    assert format_difference([0.01, 0.002, 0.02]) == "+0.0100 [+0.0020, +0.0200]"
    differences = [{"model": "sas|rec", "split": "test", "reference": "popularity",
                    "HR@10": [0.2, 0.1, 0.3]}]
    write_report(rows, str(tmp_path / "out"), "ML-1M", "full ranking over all 3706 items, "
                 "seen items excluded", "python -m recall_jax.main", columns=["HR@10"],
                 differences=differences, difference_metrics=["HR@10"])
    markdown = (tmp_path / "out" / "results.md").read_text()
    assert "seen items excluded" in markdown and "python -m recall_jax.main" in markdown
    assert "| model | split | HR@10 |" in markdown  # only the chosen metric columns
    assert "| sas\\|rec | test | popularity | +0.2000 [+0.1000, +0.3000] |" in markdown
    saved = json.loads((tmp_path / "out" / "results.json").read_text())
    assert saved["columns"] == columns and saved["rows"][0]["HR@5"] == pytest.approx(0.25)
    assert saved["rows"][0]["ci95"]["HR@10"] == [0.28, 0.32]
    assert saved["differences"] == differences
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["results.json", "results.md"]
