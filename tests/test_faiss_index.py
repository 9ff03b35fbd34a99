"""FAISS indexes (HNSW, IVF-PQ fast scan + re-rank, flat): recall, save/load, seen-item
exclusions, auto-tuning, threads, range search; the FAISS strategies; compare.faiss
validation."""

from __future__ import annotations

import json

import numpy as np
import pytest

from experiments.configs import default
from recall_jax.errors import ConfigError
from recall_jax.evaluation.metrics import ann_recall_at_k
from recall_jax.retrieval import faiss_index as faiss_index_module
from recall_jax.retrieval.exact import exact_top_k
from recall_jax.retrieval.exclusion_search import first_fetch
from recall_jax.retrieval.faiss_index import (FaissIndex, FaissSettings, SearchSetting,
                                              autotune, search_grid)
from recall_jax.retrieval.threshold import cosine_chunks, cosine_threshold, unit_rows
from recall_jax.train.config_validation import validate_config
from test_exclusion_search import DIM, clustered, excluded_of, item_table, skewed_exclusions
from test_strategy_registry import compare, small_model

# ---------------------------------------------------------------------------------------------
# The FAISS index.
# ---------------------------------------------------------------------------------------------
ACCURATE = {"hnsw": SearchSetting(ef_search=256),
            "ivf_pq": SearchSetting(num_probes=16, k_factor=32.0),
            "flat": SearchSetting()}


@pytest.fixture(scope="module")
def indexes():
    items = item_table(3000)
    settings = FaissSettings(hnsw_m=32, hnsw_ef_construction=200, ivf_num_lists=40,
                             training_sample_size=2000, threads=1)
    return items, {kind: FaissIndex.build(items, kind, settings) for kind in ACCURATE}


@pytest.mark.parametrize("kind", ["hnsw", "ivf_pq", "flat"])
def test_faiss_recall_against_exact_top_k(indexes, kind):
    items, built = indexes
    queries = clustered(200, seed=2)
    exact = exact_top_k(queries, items, 10).padded(10)
    found = built[kind].search(queries, 10, ACCURATE[kind])
    assert np.all(found.sizes() == 10)
    recall = ann_recall_at_k(found.padded(10), exact, 10)
    assert recall >= (0.9 if kind != "flat" else 1.0), recall
    assert built[kind].memory_bytes() > 0 and built[kind].build_seconds > 0


@pytest.mark.parametrize("kind", ["hnsw", "ivf_pq"])
def test_faiss_save_and_reload_give_identical_results(indexes, kind, tmp_path):
    _, built = indexes
    queries = clustered(100, seed=3)
    before = built[kind].search(queries, 10, ACCURATE[kind])
    built[kind].save(tmp_path / "index")
    loaded = FaissIndex.load(tmp_path / "index")
    after = loaded.search(queries, 10, ACCURATE[kind])
    np.testing.assert_array_equal(before.items, after.items)
    np.testing.assert_array_equal(before.scores, after.scores)
    assert (loaded.kind, loaded.settings, loaded.num_items) == (kind, built[kind].settings, 3000)
    assert json.loads((tmp_path / "index" / FaissIndex.SETTINGS_FILE).read_text())["kind"] == kind
    with pytest.raises(FileNotFoundError, match="no saved FAISS index"):
        FaissIndex.load(tmp_path)


@pytest.mark.parametrize("kind", ["hnsw", "ivf_pq", "flat"])
def test_faiss_exclusions_are_never_returned_and_match_a_per_user_reference(indexes, kind):
    items, built = indexes
    index = built[kind]
    rng = np.random.default_rng(1)
    users = clustered(60, seed=4)
    scores = np.concatenate([np.full((len(users), 1), -np.inf), users @ items[1:].T], 1)
    exclusions = skewed_exclusions(scores, rng, max_length=400)
    k = 10
    found = index.search(users, k, ACCURATE[kind], exclusions)
    start = first_fetch(k, np.diff(exclusions.offsets), index.num_items)
    for user in range(len(users)):
        excluded = excluded_of(exclusions, user)
        got = found.for_user(user)[0].tolist()
        assert not excluded & set(got)
        # The reference: this user alone, fetching more until k items survive the filter.
        fetch = start
        while True:
            alone = index.search(users[user:user + 1], fetch, index.over_fetch_setting(
                ACCURATE[kind], k, fetch)).for_user(0)[0]
            kept = [int(i) for i in alone if int(i) not in excluded][:k]
            if len(kept) == k or len(alone) < fetch or fetch == index.num_items:
                break
            fetch = min(index.num_items, 2 * fetch)
        assert got == kept, (kind, user)
    if kind == "flat":
        exact = exact_top_k(users, items, k, exclusions)
        np.testing.assert_array_equal(found.padded(k), exact.padded(k))
    if kind == "ivf_pq":  # re-ranking k_factor * k plus the over-fetched items, not k_factor x
        assert index.over_fetch_setting(ACCURATE[kind], k, 10).k_factor == 32.0
        assert index.over_fetch_setting(ACCURATE[kind], k, 138).k_factor == (320 + 128) / 138


def test_autotune_reaches_the_target_or_returns_none(indexes):
    items, built = indexes
    queries = clustered(150, seed=6)
    exact = exact_top_k(queries, items, 10).padded(10)
    for kind in ("hnsw", "ivf_pq"):
        index = built[kind]
        best, trials = autotune(index, queries, exact, 10, 0.95)
        assert best is not None and best.ann_recall >= 0.95
        # Settings that cannot be faster than one reaching the target are not tried.
        assert len(trials) < len(search_grid(index, 10))
        if kind == "hnsw":
            assert trials[-1].ann_recall >= 0.95 > max(t.ann_recall for t in trials[:-1])
        check = index.search(queries, 10, best.setting)
        assert ann_recall_at_k(check.padded(10), exact, 10) == pytest.approx(best.ann_recall)
        assert min(t.ann_recall for t in trials) < best.ann_recall  # something to tune
        unreachable, trials = autotune(index, queries, exact, 10, 1.01,
                                       settings=search_grid(index, 10)[:2])
        assert unreachable is None and len(trials) == 2


def test_thread_count_is_set_for_the_search_and_restored(indexes, monkeypatch):
    _, built = indexes
    faiss = faiss_index_module._import_faiss()
    before = faiss.omp_get_max_threads()
    seen = []
    original = faiss.omp_set_num_threads
    monkeypatch.setattr(faiss, "omp_set_num_threads",
                        lambda n: (seen.append(n), original(n))[1])
    built["hnsw"].search(clustered(5, seed=7), 5)  # settings.threads = 1
    built["hnsw"].search(clustered(1, seed=7), 5, parallel=False)
    assert seen == [1, before, 1, before]
    assert faiss.omp_get_max_threads() == before


def test_ivf_pq_pads_dimensions_to_whole_pq_blocks():
    rng = np.random.default_rng(3)
    items = np.concatenate([np.zeros((1, 7), np.float32),
                            rng.normal(size=(400, 7)).astype(np.float32)])
    index = FaissIndex.build(items, "ivf_pq", FaissSettings(pq_dimensions_per_block=2,
                                                            ivf_num_lists=4, threads=1))
    assert index.padded_dim == 8
    queries = rng.normal(size=(20, 7)).astype(np.float32)
    found = index.search(queries, 5, SearchSetting(num_probes=4, k_factor=80.0))
    exact = exact_top_k(queries, items, 5)
    np.testing.assert_array_equal(found.padded(5), exact.padded(5))  # re-ranked exactly
    np.testing.assert_allclose(found.scores, exact.scores, rtol=1e-5)


@pytest.mark.parametrize("kind", ["flat", "hnsw"])
def test_range_search_equals_the_exact_cosine_threshold_set(kind):
    rng = np.random.default_rng(2)
    items = item_table(500, seed=8) * rng.lognormal(0, 0.3, (501, 1)).astype(np.float32)
    users = clustered(40, seed=9) * 3.0  # a dot model's vectors: normalised on both sides
    exclusions = skewed_exclusions(np.concatenate(
        [np.full((40, 1), -np.inf), users @ items[1:].T], 1), rng, max_length=60)
    cosines = np.concatenate([c for _, _, c in cosine_chunks(users, items, exclusions)])
    values = np.sort(cosines[np.isfinite(cosines)])[::-1]
    # A radius half-way between two cosines some 20 items per user apart: no ties at tau.
    position = 20 * len(users)
    tau = float(values[position] + values[position + 1]) / 2
    index = FaissIndex.build(unit_rows(items), kind,
                             FaissSettings(hnsw_ef_construction=200, threads=1))
    found = index.range_search(unit_rows(users), tau, SearchSetting(ef_search=1000), exclusions)
    exact = cosine_threshold(users, items, tau, exclusions)
    np.testing.assert_array_equal(found.offsets, exact.offsets)
    np.testing.assert_array_equal(found.items, exact.items)  # same sets, same (cosine) order
    np.testing.assert_allclose(found.scores, exact.scores, atol=1e-5)
    with pytest.raises(ValueError, match="range search needs"):
        FaissIndex.build(items, "ivf_pq", FaissSettings(threads=1)).range_search(users, tau)


def test_hnsw_range_search_over_many_query_blocks_equals_flat():
    # efSearch 8192 makes FAISS search the queries in several blocks, which its range search
    # cannot (it aborts): the index splits the call.
    items = unit_rows(item_table(2000, seed=10))
    users = unit_rows(clustered(1000, seed=11))
    hnsw = FaissIndex.build(items, "hnsw", FaissSettings(threads=1))
    assert 10**8 // (hnsw.index.hnsw.max_level * DIM * 8192 + 1) < len(users) / 2
    found = hnsw.range_search(users, 0.9, SearchSetting(ef_search=8192))
    exact = FaissIndex.build(items, "flat", FaissSettings(threads=1)).range_search(users, 0.9)
    np.testing.assert_array_equal(found.offsets, exact.offsets)
    np.testing.assert_array_equal(found.items, exact.items)


# ---------------------------------------------------------------------------------------------
# Strategies and config.
# ---------------------------------------------------------------------------------------------
def test_faiss_strategies_run_in_the_comparison(tmp_path):
    models = [small_model(), small_model("cosine", normalized=True, seed=1)]
    rows = compare(tmp_path, ("exact", "faiss_hnsw", "faiss_ivf_pq", "cosine_threshold",
                              "faiss_range_threshold"), models=models)
    by_name = {(r["model"], r["strategy"]): r for r in rows}
    for model in ("dot", "cosine"):
        hnsw = by_name[(model, "FAISS HNSW (tuned)")]
        ivf = by_name[(model, "FAISS IVF-PQ fast scan + re-rank (tuned)")]
        for row in (hnsw, ivf):
            assert row["ANNRecall@10"] >= 0.9 and row["memory_MB"] > 0
            assert "tuned for ANN-recall@10 >= 0.98" in row["note"]
        assert "efSearch" in hnsw["note"] and "lists" in ivf["note"]
        threshold = by_name[(model, "cosine > tau (global, mean 5)")]
        ranged = by_name[(model, "FAISS HNSW range search, cosine > tau (global, mean 5)")]
        assert ranged["SetSizeMean"] == pytest.approx(threshold["SetSizeMean"], rel=0.05)
        assert ranged["note"].startswith(threshold["note"])  # the same calibrated tau
        assert (tmp_path / f"faiss_hnsw_index_{model}" / FaissIndex.SETTINGS_FILE).is_file()
    saved = json.loads((tmp_path / "comparison.json").read_text())
    assert set(saved["faiss_trials"]) == {"dot", "cosine"}
    assert set(saved["faiss_trials"]["dot"]) == {"hnsw", "ivf_pq", "range"}
    assert saved["faiss_trials"]["dot"]["hnsw"]["best"]["ann_recall"] >= 0.98


def test_compare_faiss_settings_are_validated():
    config = default.get_config()
    assert FaissSettings.from_config(config.compare.faiss) == FaissSettings()
    config.compare.faiss.hnsw_m = 0
    config.compare.faiss.refine_k_factor = 0.5
    config.compare.faiss.ivf_num_lists = 8
    config.compare.faiss.ivf_num_probes = 16
    config.compare.faiss.threads = -1
    with pytest.raises(ConfigError) as error:
        validate_config(config)
    message = str(error.value)
    assert "config.compare.faiss.hnsw_m=0: expected an integer >= 1" in message
    assert "config.compare.faiss.refine_k_factor=0.5: expected a number in [1, inf]" in message
    assert "config.compare.faiss.ivf_num_probes=16: must not exceed " \
           "config.compare.faiss.ivf_num_lists=8" in message
    assert "config.compare.faiss.threads=-1: expected an integer >= 0" in message
    with pytest.raises(ValueError, match="unknown FAISS settings"):
        FaissSettings.from_config({"efSearch": 10})
