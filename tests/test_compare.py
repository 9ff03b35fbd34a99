"""The recall-strategy comparison end to end on the tiny synthetic dot and cosine models."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from experiments.configs import synthetic_tiny
from recall_jax import compare
from recall_jax.data.registry import load_dataset
from recall_jax.errors import RunFolderError
from recall_jax.evaluation.model_evaluation import encode_users_and_items
from recall_jax.train import trainer


@pytest.fixture(scope="module")
def comparison(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("compare")
    config = synthetic_tiny.get_compare_config()
    rows = compare.compare(config, workdir)
    return {(row["model"], row["strategy"]): row for row in rows}, workdir, config


def test_every_strategy_is_measured_on_both_models_with_every_metric(comparison):
    rows, _, _ = comparison
    for model in ("dot", "cosine"):
        assert {(model, "exact top-K"), (model, "ScaNN (configured)")} <= set(rows)
        assert any(m == model and s.startswith("cosine > tau (global") for m, s in rows)
        assert any(m == model and s.startswith("cosine > tau_u") for m, s in rows)
        assert any(m == model and s.startswith("ScaNN top-") for m, s in rows)
    assert ("dot", "exact top-K by cosine") in rows
    assert ("cosine", "exact top-K by cosine") not in rows  # the same as its exact top-K
    assert any(m == "dot" and s.startswith("approx_max_k") for m, s in rows)
    assert {("none (baseline)", "popularity"), ("none (baseline)", "item-CF (last 5 items)"),
            ("none (baseline)", "item-CF (co-occurrence cosine)")} <= set(rows)
    for key, row in rows.items():
        for metric in ("HR@10", "NDCG@10", "Precision@10", "MRR@10", "Coverage@10", "Gini@10",
                       "SetSizeMean", "SetSizeP95", "EmptyShare", "ANNRecall@10", "QPS",
                       "p50_ms", "p99_ms", "build_s", "memory_MB"):
            assert metric in row, (key, metric)
        assert "MRR" not in row  # candidate lists are truncated: only MRR@K is defined
        for metric, (low, high) in row["ci95"].items():
            assert low <= row[metric] + 1e-12 and row[metric] <= high + 1e-12, (key, metric)
        assert row["QPS"] > 0 and row["p99_ms"] >= row["p50_ms"] > 0


def numpy_exact_metrics(config, workdir, kind: str) -> tuple[float, float, np.ndarray]:
    """HR@10 and NDCG@10 of a brute-force numpy ranking of the trained model's test users
    (history removed), and its top-10 lists: an independent check of the comparison."""
    dataset = load_dataset(config.data)
    split, _ = trainer.split_with_cold_start(dataset, config)
    run_config = trainer.load_run_config(workdir / f"{kind}_model")
    model, params, mesh = trainer.restore_best_params(run_config, workdir / f"{kind}_model",
                                                      dataset)
    users, items = encode_users_and_items(model, params, split.test, 64,
                                          run_config.train.bucket_lengths, mesh)
    scores = users.astype(np.float64) @ items.astype(np.float64).T
    scores[:, 0] = -np.inf
    for user in range(len(users)):
        scores[user, split.test.histories.sequence(user)] = -np.inf
    top = np.argsort(-scores, axis=1, kind="stable")[:, :10]
    rank = np.argmax(top == split.test.targets[:, None], axis=1)
    hit = np.any(top == split.test.targets[:, None], axis=1)
    return (float(hit.mean()), float(np.mean(np.where(hit, 1 / np.log2(rank + 2), 0.0))), top)


@pytest.mark.parametrize("kind", ["dot", "cosine"])
def test_exact_top_k_matches_an_independent_numpy_brute_force(comparison, kind):
    rows, workdir, config = comparison
    hit_rate, ndcg, _ = numpy_exact_metrics(config, workdir, kind)
    exact = rows[(kind, "exact top-K")]
    assert exact["HR@10"] == pytest.approx(hit_rate, abs=1e-9)
    assert exact["NDCG@10"] == pytest.approx(ndcg, abs=1e-6)


def test_models_beat_popularity_and_thresholds_hit_their_size(comparison):
    rows, _, _ = comparison
    for model in ("dot", "cosine"):
        assert rows[(model, "exact top-K")]["NDCG@10"] > \
            rows[("none (baseline)", "popularity")]["NDCG@10"] + 0.1
        threshold = next(r for (m, s), r in rows.items()
                         if m == model and s.startswith("cosine > tau (global"))
        # Calibrated on validation users to a mean of 10 candidates; test users land near it.
        assert 5 <= threshold["SetSizeMean"] <= 15


def test_outputs_tables_differences_csv_json_and_plots(comparison):
    rows, workdir, _ = comparison
    folder = workdir / "comparison"
    markdown = (folder / "comparison.md").read_text()
    for heading in ("### Quality", "### Each strategy against its model's exact top-K",
                    "### Candidate sets", "### Cost"):
        assert heading in markdown
    assert "seen items excluded" in markdown and "of test targets repeat a history item" in markdown
    with open(folder / "comparison.csv") as handle:
        assert len(list(csv.DictReader(handle))) == len(rows)
    saved = json.loads((folder / "comparison.json").read_text())
    assert saved["threshold_sweep"] and set(saved["scann_trials"]) == {"dot", "cosine"}
    # Every strategy but the references has a paired difference against its model's exact top-K.
    assert len(saved["differences"]) == len(rows) - 2
    scann = next(d for d in saved["differences"]
                 if (d["model"], d["strategy"]) == ("cosine", "ScaNN (configured)"))
    assert scann["reference"] == "cosine: exact top-K"
    assert scann["HR@10"][1] <= scann["HR@10"][0] <= scann["HR@10"][2]
    for plot in ("recall_vs_candidates.png", "ann_recall_vs_qps.png"):
        assert (folder / plot).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    for kind in ("dot", "cosine"):
        assert (folder / f"scann_index_{kind}" / "recall_jax_scann.json").is_file()


def test_a_model_folder_of_the_wrong_kind_is_refused(comparison, tmp_path):
    _, workdir, config = comparison
    config = config.copy_and_resolve_references()
    config.compare.models = ("cosine",)
    config.compare.cosine_model_workdir = str(workdir / "dot_model")
    with pytest.raises(RunFolderError, match="not a cosine model"):
        compare.compare(config, tmp_path)
