"""Recall strategies and baselines are named extension points: compare.strategies and
compare.baselines pick registered factories, on small random vectors (no training)."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from experiments.configs import default
from recall_jax.core.candidates import Candidates
from recall_jax.errors import ConfigError
from recall_jax.evaluation.bootstrap import Bootstrap
from recall_jax.evaluation.protocol import Exclusions
from recall_jax.retrieval.comparison import EvaluatedUsers, ModelVectors, run_comparison
from recall_jax.retrieval.strategies import BASELINES, STRATEGIES
from recall_jax.retrieval.strategy_context import StrategyContext
from recall_jax.train.config_validation import validate_config

NUM_USERS, NUM_ITEMS, DIM = 40, 30, 8


@dataclasses.dataclass
class RandomK:
    """A toy RetrievalStrategy: k random items per user, none of them excluded, seeded."""

    k: int
    num_items: int
    name: str = "random k"
    note: str = "seed 0"
    build_seconds: float = 0.0
    memory_mb: float = 0.0

    def query(self, user_vectors: np.ndarray, exclusions: Exclusions | None) -> Candidates:
        rng = np.random.default_rng(0)
        lists = []
        for user in range(len(user_vectors)):
            excluded = ([] if exclusions is None else
                        exclusions.items[exclusions.offsets[user]:exclusions.offsets[user + 1]])
            allowed = np.setdiff1d(np.arange(1, self.num_items + 1), excluded)
            lists.append(rng.choice(allowed, self.k, replace=False))
        items = np.stack(lists)
        return Candidates.from_dense(items, -np.broadcast_to(np.arange(self.k), items.shape))


def small_model(name: str = "dot", normalized: bool = False, seed: int = 0) -> ModelVectors:
    rng = np.random.default_rng(seed)
    items = rng.normal(size=(NUM_ITEMS + 1, DIM)).astype(np.float32)
    items[0] = 0.0
    users = rng.normal(size=(NUM_USERS, DIM)).astype(np.float32)
    tuning = rng.normal(size=(20, DIM)).astype(np.float32)
    if normalized:
        items, users, tuning = (v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)
                                for v in (items, users, tuning))
    return ModelVectors(name, users, items, tuning, normalized)


def small_users(seed: int = 0) -> EvaluatedUsers:
    rng = np.random.default_rng(seed)
    lengths = rng.integers(1, 5, NUM_USERS)
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    histories = np.concatenate([rng.choice(np.arange(1, NUM_ITEMS + 1), n, replace=False)
                                for n in lengths]).astype(np.int32)
    targets = np.array([rng.choice(np.setdiff1d(np.arange(1, NUM_ITEMS + 1),
                                                histories[offsets[u]:offsets[u + 1]]))
                        for u in range(NUM_USERS)])
    return EvaluatedUsers(targets, Exclusions(offsets, histories), offsets, histories,
                          offsets, histories, tuning_exclusions=None)


def compare_config(strategies, baselines=()):
    config = default.compare_section()
    config.strategies, config.baselines = tuple(strategies), tuple(baselines)
    config.ks, config.sweep_sizes = (5, 10), (5,)
    config.latency_queries, config.timing_repeats, config.threshold_mean_size = 3, 1, 5
    return config


def compare(tmp_path, strategies, baselines=(), models=None) -> list[dict]:
    return run_comparison(models or [small_model()], small_users(),
                          compare_config(strategies, baselines), Bootstrap.draw(NUM_USERS, 20),
                          tmp_path, "toy", "random vectors", "pytest")


def test_a_registered_strategy_is_configured_by_name_and_reported(tmp_path):
    STRATEGIES.register("random_k", lambda context: RandomK(context.max_k,
                                                            context.model.num_items))
    try:
        rows = compare(tmp_path, ("exact", "random_k"))
    finally:
        STRATEGIES.unregister("random_k")
    assert "random_k" not in STRATEGIES
    assert [(r["model"], r["strategy"]) for r in rows] == [("dot", "exact top-K"),
                                                           ("dot", "random k")]
    row = rows[1]
    assert row["note"] == "seed 0" and row["SetSizeMean"] == 10.0 and row["EmptyShare"] == 0.0
    for metric in ("HR@5", "NDCG@10", "ANNRecall@10", "Coverage@5", "QPS", "p50_ms"):
        assert np.isfinite(row[metric]), metric
    assert row["ANNRecall@10"] < 1.0 and rows[0]["ANNRecall@10"] == 1.0
    markdown = (tmp_path / "comparison.md").read_text()
    assert "| dot | random k |" in markdown
    saved = json.loads((tmp_path / "comparison.json").read_text())
    assert [d["strategy"] for d in saved["differences"]] == ["random k"]


def test_only_the_configured_subset_runs_in_the_configured_order(tmp_path):
    models = [small_model(), small_model("cosine", normalized=True, seed=1)]
    rows = compare(tmp_path, ("cosine_threshold_per_user", "exact", "exact_cosine",
                              "cosine_threshold"), ("popularity",), models)
    assert [(r["model"], r["strategy"]) for r in rows] == [
        ("dot", "cosine > tau_u (per-user z, mean 5)"), ("dot", "exact top-K"),
        ("dot", "exact top-K by cosine"), ("dot", "cosine > tau (global, mean 5)"),
        ("cosine", "cosine > tau_u (per-user z, mean 5)"), ("cosine", "exact top-K"),
        ("cosine", "cosine > tau (global, mean 5)"),  # exact_cosine: not for a cosine model
        ("none (baseline)", "popularity")]
    saved = json.loads((tmp_path / "comparison.json").read_text())
    assert saved["scann_trials"] == {} and not list(tmp_path.glob("scann_index_*"))
    assert {p["model"] for p in saved["threshold_sweep"]} == {"dot", "cosine"}


def test_a_factory_that_does_not_apply_returns_none(tmp_path):
    model = small_model("cosine", normalized=True)
    context = StrategyContext(model, small_users(), compare_config(("exact",)), tmp_path)
    assert STRATEGIES.get("exact_cosine")(context) is None
    assert STRATEGIES.get("approx_max_k")(context) is None
    assert STRATEGIES.get("exact")(context).name == "exact top-K"


def test_unknown_or_missing_names_are_config_errors_listing_the_known_names(tmp_path):
    with pytest.raises(ConfigError, match=r"config\.compare\.strategies='nearest'.*'scann_tuned'"):
        compare(tmp_path, ("exact", "nearest"))
    with pytest.raises(ConfigError, match=r"config\.compare\.baselines='nope'.*'item_cf'"):
        compare(tmp_path, ("exact",), ("nope",))
    with pytest.raises(ConfigError, match=r"config\.compare\.strategies=.*must include 'exact'"):
        compare(tmp_path, ("cosine_threshold",))
    config = default.get_config()
    config.compare.strategies = ("cosine_threshold", "nearest")
    config.compare.baselines = ("popularity", "popularity")
    with pytest.raises(ConfigError) as error:
        validate_config(config)
    message = str(error.value)
    assert "config.compare.strategies=('cosine_threshold', 'nearest'): expected distinct " \
           f"names of {list(STRATEGIES.names())}" in message
    assert "must include 'exact'" in message
    assert f"config.compare.baselines=('popularity', 'popularity'): expected distinct names " \
           f"of {list(BASELINES.names())}" in message


def test_default_config_names_every_registered_strategy_and_baseline():
    config = default.compare_section()
    assert config.strategies == STRATEGIES.names() and config.baselines == BASELINES.names()


def test_a_name_registers_once():
    with pytest.raises(ValueError, match="'exact' is registered already"):
        STRATEGIES.register("exact", lambda context: None)
    with pytest.raises(ValueError, match="'popularity' is registered already"):
        BASELINES.register("popularity", lambda context: None)
