"""The batched over-fetch that removes seen items from ANN top-k (ScaNN and FAISS share it),
against a per-user brute-force reference on skewed history lengths."""

from __future__ import annotations

import numpy as np

from recall_jax.core.candidates import Candidates
from recall_jax.evaluation.protocol import Exclusions
from recall_jax.retrieval.exclusion_search import (ExcludedPairs, drop_excluded, first_fetch,
                                                   search_excluding)

DIM = 16


def clustered(num, dim=DIM, clusters=20, seed=1):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(clusters, dim))
    points = centres[rng.integers(0, clusters, num)] + 0.3 * rng.normal(size=(num, dim))
    return points.astype(np.float32)


def item_table(num, seed=1):
    return np.concatenate([np.zeros((1, DIM), np.float32), clustered(num, seed=seed)])


def skewed_exclusions(scores: np.ndarray, rng: np.random.Generator, max_length: int,
                      ) -> Exclusions:
    """Log-normal history lengths (a long tail, some empty), each history drawn from the
    user's best-scored items, as a trained model's histories rank high."""
    num_users, num_items = scores.shape[0], scores.shape[1] - 1
    lengths = np.minimum(rng.lognormal(2.0, 1.2, num_users).astype(int), max_length)
    lengths[:3] = [0, max_length, num_items]  # no history, the longest, every item
    order = np.argsort(-scores[:, 1:], axis=1) + 1
    rows = [rng.choice(order[u, :min(num_items, 2 * n)], n, replace=False)
            for u, n in enumerate(lengths)]
    return Exclusions(np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64),
                      np.concatenate(rows).astype(np.int32))


def scored_users(items: np.ndarray, num_users: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(clustered user vectors, their scores [users, num_items + 1] with padding at -inf)."""
    users = clustered(num_users, seed=seed)
    return users, np.concatenate([np.full((num_users, 1), -np.inf), users @ items[1:].T], 1)


def brute_search(items: np.ndarray, calls: list | None = None):
    """An exact batched search (users, fetch) -> Candidates, recording each call's shape."""
    def search(users, fetch):
        if calls is not None:
            calls.append((len(users), fetch))
        scores = users @ items[1:].T
        top = np.argsort(-scores, axis=1, kind="stable")[:, :fetch]
        return Candidates.from_dense(top + 1, np.take_along_axis(scores, top, 1))
    return search


def excluded_of(exclusions: Exclusions, user: int) -> set[int]:
    return set(exclusions.items[exclusions.offsets[user]:exclusions.offsets[user + 1]].tolist())


def test_batched_over_fetch_equals_a_per_user_brute_reference_with_skewed_histories():
    rng = np.random.default_rng(0)
    items = item_table(300)
    users, scores = scored_users(items, 200, seed=5)
    exclusions = skewed_exclusions(scores, rng, max_length=250)
    k = 20
    calls = []
    found = search_excluding(brute_search(items, calls), users, k, exclusions, 300)
    for user in range(len(users)):
        excluded = excluded_of(exclusions, user)
        ranked = [int(i) for i in np.argsort(-scores[user, 1:], kind="stable") + 1
                  if int(i) not in excluded][:k]
        got, got_scores = found.for_user(user)
        assert got.tolist() == ranked, user
        np.testing.assert_allclose(got_scores, scores[user, ranked], rtol=1e-6)
    assert found.sizes()[2] == 0  # every item excluded: nothing left
    # One pass for everyone at k + the 90th percentile of the counts (a power of two), then
    # passes with doubled fetch for the users still short, until the catalogue size.
    assert calls[0] == (len(users), first_fetch(k, np.diff(exclusions.offsets), 300))
    assert all(n < len(users) for n, _ in calls[1:])
    assert [f for _, f in calls[1:]] == [min(300, calls[0][1] << i)
                                         for i in range(1, len(calls))]
    assert calls[-1][1] == 300


def test_first_fetch_rounds_the_quantile_up_to_a_power_of_two_within_the_catalogue():
    counts = np.array([0] * 50 + [90] * 40 + [1000] * 10)
    assert first_fetch(10, counts, 5000) == 10 + 128
    assert first_fetch(10, counts, 100) == 100
    assert first_fetch(10, np.zeros(5, int), 100) == 10


def test_drop_excluded_keeps_order_and_cuts_to_k():
    found = Candidates(np.array([0, 4, 4, 7]), np.array([5, 1, 2, 3, 9, 8, 7], np.int32),
                       np.arange(7, 0, -1).astype(np.float32))
    exclusions = Exclusions(np.array([0, 0, 1, 3]), np.array([4, 9, 7], np.int32))
    pairs = ExcludedPairs(exclusions, 10, bitmap_bytes=11)  # one user per bitmap pass
    kept = drop_excluded(found, pairs, k=2)
    assert kept.offsets.tolist() == [0, 2, 2, 3]
    assert kept.items.tolist() == [5, 1, 8] and kept.scores.tolist() == [7, 6, 2]
    kept = drop_excluded(found, pairs, rows=np.array([2, 1, 0]))  # other exclusion rows
    assert kept.offsets.tolist() == [0, 4, 4, 7]
    assert kept.items.tolist() == [5, 1, 2, 3, 9, 8, 7]
    kept = drop_excluded(found, pairs, rows=np.array([2, 2, 2]))
    assert kept.items.tolist() == [5, 1, 2, 3, 8]


def test_scann_with_exclusions_equals_its_own_per_user_over_fetch():
    from recall_jax.retrieval.scann_index import ScannIndex, ScannSettings  # noqa: PLC0415

    rng = np.random.default_rng(3)
    items = item_table(2000)
    users, scores = scored_users(items, 50, seed=6)
    exclusions = skewed_exclusions(scores, rng, max_length=300)
    index = ScannIndex.build(items, ScannSettings(num_leaves=20, num_leaves_to_search=5,
                                                  reorder=40))
    k = 10
    found = index.search(users, k, exclusions=exclusions)
    fetch_start = first_fetch(k, np.diff(exclusions.offsets), 2000)
    for user in range(len(users)):
        excluded = excluded_of(exclusions, user)
        assert not excluded & set(found.for_user(user)[0].tolist())
        fetch = fetch_start
        while True:  # this user alone, fetching more until k items survive
            alone = index.search(users[user:user + 1], fetch, reorder=max(40, fetch)
                                 ).for_user(0)[0]
            kept = [int(i) for i in alone if int(i) not in excluded][:k]
            if len(kept) == k or len(alone) < fetch or fetch == 2000:
                break
            fetch = min(2000, 2 * fetch)
        assert found.for_user(user)[0].tolist() == kept, user
