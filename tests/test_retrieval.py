"""Recall strategies against brute-force numpy references and hand-made cases."""

from __future__ import annotations

import numpy as np
import pytest

from recall_jax.evaluation.metrics import ann_recall_at_k
from recall_jax.evaluation.protocol import Exclusions
from recall_jax.core.candidates import Candidates
from recall_jax.retrieval.exact import approx_top_k, exact_top_k
from recall_jax.core.csr import last_entries
from recall_jax.retrieval.item_cf import item_cf_top_k, item_similarity
from recall_jax.retrieval.scann_index import ScannIndex, ScannSettings, autotune
from recall_jax.retrieval.threshold import (cosine_chunks, cosine_threshold, filter_by_cosine,
                                            per_user_taus, tau_for_mean_size, z_for_mean_size)

RNG = np.random.default_rng(0)
USERS = RNG.normal(size=(37, 8)).astype(np.float32)
ITEMS = RNG.normal(size=(51, 8)).astype(np.float32)  # row 0 = padding
# Each user excludes a few items (CSR), as a history would.
EXCLUDE_LENGTHS = RNG.integers(0, 6, size=len(USERS))
EXCLUDE_OFFSETS = np.concatenate([[0], np.cumsum(EXCLUDE_LENGTHS)]).astype(np.int64)
EXCLUDE_ITEMS = np.concatenate([RNG.choice(np.arange(1, 51), n, replace=False)
                                for n in EXCLUDE_LENGTHS]).astype(np.int32)
EXCLUSIONS = Exclusions(EXCLUDE_OFFSETS, EXCLUDE_ITEMS)


def numpy_cosines():
    users = USERS / np.linalg.norm(USERS, axis=1, keepdims=True)
    items = ITEMS / np.linalg.norm(ITEMS, axis=1, keepdims=True)
    cosines = users @ items.T
    cosines[:, 0] = np.nan
    for user in range(len(USERS)):
        cosines[user, EXCLUDE_ITEMS[EXCLUDE_OFFSETS[user]:EXCLUDE_OFFSETS[user + 1]]] = np.nan
    return cosines


def as_sets(candidates: Candidates):
    return [set(candidates.for_user(u)[0].tolist()) for u in range(candidates.num_users)]


@pytest.mark.parametrize("tau", [-0.2, 0.1, 0.45])
def test_threshold_keeps_exactly_the_items_whose_cosine_exceeds_tau(tau):
    found = cosine_threshold(USERS, ITEMS, tau, EXCLUSIONS, user_chunk=8)
    cosines = numpy_cosines()
    for user in range(len(USERS)):
        with np.errstate(invalid="ignore"):
            expected = set(np.nonzero(cosines[user] > tau)[0].tolist())
        items, scores = found.for_user(user)
        assert set(items.tolist()) == expected
        assert np.all(np.diff(scores) <= 0)  # best first
        np.testing.assert_allclose(scores, cosines[user, items], atol=1e-5)


def test_global_tau_hits_the_target_mean_size_and_per_user_tau_follows_each_user():
    cosines = np.concatenate([c for _, _, c in cosine_chunks(USERS, ITEMS, EXCLUSIONS, user_chunk=16)])
    np.testing.assert_allclose(cosines, numpy_cosines(), atol=1e-5)
    tau = tau_for_mean_size(cosines, 7.0)
    found = cosine_threshold(USERS, ITEMS, tau, EXCLUSIONS)
    assert found.sizes().mean() == pytest.approx(7.0, abs=1 / len(USERS))

    z = z_for_mean_size(cosines, 7.0)
    taus = per_user_taus(USERS, ITEMS, z, EXCLUSIONS)
    expected_taus = np.nanmean(cosines, axis=1) + z * np.nanstd(cosines, axis=1)
    np.testing.assert_allclose(taus, expected_taus, atol=1e-5)
    calibrated = cosine_threshold(USERS, ITEMS, taus, EXCLUSIONS)
    assert calibrated.sizes().mean() == pytest.approx(7.0, abs=2 / len(USERS))
    assert len(set(calibrated.sizes().tolist())) > 1  # sizes vary per user, unlike top-K


def test_hybrid_keeps_the_ann_candidates_that_clear_tau():
    top = exact_top_k(USERS, ITEMS, 12, EXCLUSIONS)
    hybrid = filter_by_cosine(top, USERS, ITEMS, 0.2)
    threshold = cosine_threshold(USERS, ITEMS, 0.2, EXCLUSIONS)
    for got, in_top, over_tau in zip(as_sets(hybrid), as_sets(top), as_sets(threshold)):
        assert got == in_top & over_tau


def numpy_top_k(k):
    scores = USERS @ ITEMS.T
    scores[:, 0] = -np.inf
    for user in range(len(USERS)):
        scores[user, EXCLUDE_ITEMS[EXCLUDE_OFFSETS[user]:EXCLUDE_OFFSETS[user + 1]]] = -np.inf
    return np.argsort(-scores, axis=1, kind="stable")[:, :k]


def test_exact_top_k_matches_numpy_with_exclusions_and_chunks():
    found = exact_top_k(USERS, ITEMS, 10, EXCLUSIONS, user_chunk=8)
    np.testing.assert_array_equal(found.padded(10), numpy_top_k(10))
    assert np.all(found.sizes() == 10)


def test_approx_max_k_is_exact_off_tpu_and_meets_its_target_on_tpu():
    """XLA lowers approx_max_k to an exact top-k on CPU and GPU (so the comparison measures its
    ANN recall rather than assume it); only TPU runs the approximate partial reduction."""
    import jax
    found = approx_top_k(USERS, ITEMS, 10, recall_target=0.95, exclusions=EXCLUSIONS,
                         user_chunk=8)
    exact = numpy_top_k(10)
    if jax.default_backend() == "tpu":
        assert ann_recall_at_k(found.padded(10), exact, 10) >= 0.95
    else:
        np.testing.assert_array_equal(found.padded(10), exact)


def clustered(num, dim=16, clusters=20, seed=1):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(clusters, dim))
    points = centres[rng.integers(0, clusters, num)] + 0.3 * rng.normal(size=(num, dim))
    return points.astype(np.float32)


def test_scann_save_and_reload_give_identical_results(tmp_path, monkeypatch):
    items = np.concatenate([np.zeros((1, 16), np.float32), clustered(3000)])
    queries = clustered(200, seed=2)
    index = ScannIndex.build(items, ScannSettings(num_leaves=40, num_leaves_to_search=8,
                                                  reorder=50))
    before = index.search(queries, 10)
    monkeypatch.chdir(tmp_path)
    index.save("index")  # a relative path, then the folder is moved: it must still load
    (tmp_path / "index").rename(tmp_path / "moved")
    after = ScannIndex.load(tmp_path / "moved").search(queries, 10)
    np.testing.assert_array_equal(before.items, after.items)
    np.testing.assert_array_equal(before.scores, after.scores)
    assert index.memory_bytes(tmp_path / "moved") > 0
    with pytest.raises(FileNotFoundError, match="no saved ScaNN index"):
        ScannIndex.load(tmp_path)


def test_scann_search_removes_excluded_items():
    index = ScannIndex.build(ITEMS, ScannSettings(num_leaves=4, num_leaves_to_search=4,
                                                  reorder=50, dimensions_per_block=1))
    found = index.search(USERS, 10, exclusions=EXCLUSIONS)
    for user in range(len(USERS)):
        excluded = set(EXCLUDE_ITEMS[EXCLUDE_OFFSETS[user]:EXCLUDE_OFFSETS[user + 1]].tolist())
        assert not excluded & set(found.for_user(user)[0].tolist())
    assert np.all(found.sizes() == 10)
    assert ann_recall_at_k(found.padded(10), numpy_top_k(10), 10) >= 0.9


def test_autotuner_meets_its_recall_target_on_clustered_data():
    items = np.concatenate([np.zeros((1, 16), np.float32), clustered(5000)])
    queries = clustered(300, seed=3)
    exact = exact_top_k(queries, items, 10).padded(10)
    index = ScannIndex.build(items, ScannSettings(num_leaves=64, reorder=40))
    best, trials = autotune(index, queries, exact, 10, target_recall=0.95,
                            leaves_grid=[1, 4, 16, 64], reorder_grid=[10, 40, 100])
    assert best is not None and len(trials) == 12
    assert best.ann_recall >= 0.95
    check = index.search(queries, 10, leaves_to_search=best.leaves_to_search,
                         reorder=best.reorder)
    assert ann_recall_at_k(check.padded(10), exact, 10) >= 0.95
    # The cheapest setting is faster but less accurate: there was something to tune.
    assert min(t.ann_recall for t in trials) < best.ann_recall


def test_item_cf_on_a_hand_made_history():
    # users: {1,2}, {1,2}, {2,3}, {3,4}
    train_offsets = np.array([0, 2, 4, 6, 8])
    train_items = np.array([1, 2, 1, 2, 2, 3, 3, 4])
    similarity = item_similarity(train_offsets, train_items, num_items=4)
    # sim(1,2) = 2 / sqrt(2 * 3); sim(2,3) = 1 / sqrt(3 * 2); sim(3,4) = 1 / sqrt(2 * 1)
    assert similarity[1, 2] == pytest.approx(2 / np.sqrt(6))
    assert similarity[2, 3] == pytest.approx(1 / np.sqrt(6))
    assert similarity[3, 4] == pytest.approx(1 / np.sqrt(2))
    assert similarity[1, 4] == 0 and similarity[2, 2] == 0
    # A user who saw item 1: item 2 first, then nothing else scores > 0.
    found = item_cf_top_k(similarity, np.array([0, 1]), np.array([1]), k=2,
                          exclusions=Exclusions(np.array([0, 1]), np.array([1])))
    assert found.for_user(0)[0][0] == 2
    # A user who saw 2 and 4: item 3 (2/sqrt(6)... via 2 and 4) beats item 1.
    found = item_cf_top_k(similarity, np.array([0, 2]), np.array([2, 4]), k=2,
                          exclusions=Exclusions(np.array([0, 2]), np.array([2, 4])))
    expected_3 = 1 / np.sqrt(6) + 1 / np.sqrt(2)
    assert found.for_user(0)[0].tolist() == [3, 1]
    assert found.for_user(0)[1][0] == pytest.approx(expected_3)
    # Only the latest item (4) votes: item 3 alone scores, item 1 (reached via 2) drops out,
    # and the excluded history stays excluded.
    found = item_cf_top_k(similarity, np.array([0, 2]), np.array([2, 4]), k=2,
                          exclusions=Exclusions(np.array([0, 2]), np.array([2, 4])), recent=1)
    assert found.for_user(0)[0][0] == 3
    assert found.for_user(0)[1][0] == pytest.approx(1 / np.sqrt(2))
    assert found.for_user(0)[1][1] == 0.0


def test_last_entries_keeps_each_rows_latest_values():
    offsets, values = last_entries(np.array([0, 4, 4, 6, 7]), np.array([1, 2, 3, 4, 5, 6, 7]), 2)
    assert offsets.tolist() == [0, 2, 2, 4, 5]
    assert values.tolist() == [3, 4, 5, 6, 7]
    with pytest.raises(ValueError, match="keep must be >= 1"):
        last_entries(offsets, values, 0)


def test_target_positions_in_candidate_lists():
    candidates = Candidates(np.array([0, 3, 3, 5]), np.array([4, 2, 9, 9, 1], np.int32),
                            np.array([3, 2, 1, 5, 4], np.float32))
    np.testing.assert_array_equal(candidates.positions_of(np.array([2, 7, 1])), [1, -1, 1])
    assert candidates.padded(2).tolist() == [[4, 2], [0, 0], [9, 1]]


def test_exact_top_k_split_over_a_device_mesh_matches_one_device():
    import jax
    from recall_jax.core import sharding
    mesh = sharding.make_mesh(1, jax.devices())
    found = exact_top_k(USERS, ITEMS, 10, EXCLUSIONS, user_chunk=8, mesh=mesh)
    np.testing.assert_array_equal(found.padded(10), numpy_top_k(10))


def test_exact_top_k_on_eight_devices_matches_numpy():
    import os
    import pathlib
    import subprocess
    import sys
    script = (
        "import numpy as np, jax, sys\n"
        "sys.path.insert(0, 'tests')\n"
        "from test_retrieval import USERS, ITEMS, EXCLUSIONS, numpy_top_k\n"
        "from recall_jax.retrieval.exact import exact_top_k\n"
        "from recall_jax.core import sharding\n"
        "assert jax.device_count() == 8\n"
        "found = exact_top_k(USERS, ITEMS, 10, EXCLUSIONS, user_chunk=16,\n"
        "                    mesh=sharding.make_mesh(1))\n"
        "np.testing.assert_array_equal(found.padded(10), numpy_top_k(10))\n"
        "print('ok')\n")
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=8",
               JAX_PLATFORMS="cpu")
    done = subprocess.run([sys.executable, "-c", script], cwd=pathlib.Path(__file__).parents[1],
                          env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and done.stdout.strip().endswith("ok"), done.stderr[-2000:]
