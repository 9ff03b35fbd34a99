"""The ranking core against a plain numpy reference, across chunk sizes, user orders and modes."""

import numpy as np
import pytest

from recall_jax.evaluation.protocol import Exclusions, seen_item_exclusions
from recall_jax.evaluation.ranking import NOT_RANKED, RankingResult, rank_all_items, rank_scores

NUM_USERS, NUM_ITEMS, MAX_K = 23, 40, 45  # MAX_K > rankable items: filler slots get exercised.


def reference_ranking(user_vectors, item_vectors, targets, exclusions, max_k) -> RankingResult:
    """Full score matrix, mask, stable argsort: the definition the ranking core must match."""
    scores = user_vectors.astype(np.float64) @ item_vectors.astype(np.float64).T
    num_users = len(user_vectors)
    users = np.arange(num_users)
    rankable = np.ones(scores.shape, bool)
    rankable[:, 0] = False
    if exclusions is not None:
        for user in users:
            rankable[user, exclusions.items[exclusions.offsets[user]:exclusions.offsets[user + 1]]] = False
    masked = np.where(rankable, scores, -np.inf)
    masked = np.pad(masked, [(0, 0), (0, max(0, max_k - masked.shape[1]))],
                    constant_values=-np.inf)  # Filler columns for max_k > num_items + 1.
    order = np.argsort(-masked, axis=1, kind="stable")  # Equal scores: lower id first.
    top_scores = np.take_along_axis(masked, order[:, :max_k], axis=1)
    ranks, ties = [], []
    for user, target in zip(users, targets):
        if not rankable[user, target]:
            ranks.append(NOT_RANKED)
            ties.append(0)
            continue
        ranks.append(int(np.flatnonzero(order[user] == target)[0]))
        same = rankable[user] & (scores[user] == scores[user, target])
        ties.append(int(same.sum()) - 1)
    return RankingResult(top_items=np.where(np.isfinite(top_scores), order[:, :max_k], 0),
                         top_scores=top_scores, target_ranks=np.array(ranks),
                         target_ties=np.array(ties))


def make_problem(seed, integer_vectors, dimension):
    """Random users, items, targets and histories; some targets also occur in the history."""
    rng = np.random.default_rng(seed)
    if integer_vectors:  # Exact sums in any order, and many ties.
        user_vectors = rng.integers(-2, 3, (NUM_USERS, dimension)).astype(np.float32)
        item_vectors = rng.integers(-2, 3, (NUM_ITEMS + 1, dimension)).astype(np.float32)
    else:
        user_vectors = rng.standard_normal((NUM_USERS, dimension)).astype(np.float32)
        item_vectors = rng.standard_normal((NUM_ITEMS + 1, dimension)).astype(np.float32)
    item_vectors[0] = 100.0  # The padding row would win every ranking if it were ranked.
    lengths = rng.integers(0, 16, NUM_USERS)
    lengths[3] = 0
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    items = np.concatenate([rng.integers(1, NUM_ITEMS + 1, n) for n in lengths]).astype(np.int32)
    targets = rng.integers(1, NUM_ITEMS + 1, NUM_USERS)
    with_history = np.flatnonzero(lengths > 0)[:5]
    targets[with_history] = items[offsets[with_history]]
    return user_vectors, item_vectors, targets, offsets, items


def assert_same(result, expected, exact_scores=True):
    np.testing.assert_array_equal(result.target_ranks, expected.target_ranks)
    np.testing.assert_array_equal(result.target_ties, expected.target_ties)
    np.testing.assert_array_equal(result.top_items, expected.top_items)
    if exact_scores:
        np.testing.assert_array_equal(result.top_scores, expected.top_scores)
    else:
        np.testing.assert_allclose(result.top_scores, expected.top_scores, rtol=1e-5, atol=1e-5)


CHUNKINGS = [(1024, None), (4, 6), (23, 1), (7, 41), (5, 100)]
POLICIES = ["exclude", "keep", "exclude_keep_target"]


@pytest.mark.parametrize("policy", POLICIES)
@pytest.mark.parametrize("user_chunk,item_chunk", CHUNKINGS)
@pytest.mark.parametrize("audit", [False, True])
def test_matches_reference_with_ties_and_each_policy(user_chunk, item_chunk, policy, audit):
    user_vectors, item_vectors, targets, offsets, items = make_problem(0, True, 3)
    exclusions = seen_item_exclusions(offsets, items, targets, policy)
    expected = reference_ranking(user_vectors, item_vectors, targets, exclusions, MAX_K)
    assert np.any(expected.target_ties > 0)  # The case exercises tie handling.
    result = rank_all_items(user_vectors, item_vectors, targets, exclusions, max_k=MAX_K,
                            user_chunk=user_chunk, item_chunk=item_chunk, audit=audit)
    assert result.target_ranks.dtype == np.int64 and result.top_items.dtype == np.int32
    assert result.top_scores.dtype == np.float32 and result.top_items.shape == (NUM_USERS, MAX_K)
    assert_same(result, expected)


def test_rank_below_k_exactly_when_the_target_is_in_the_top_k_list():
    user_vectors, item_vectors, targets, offsets, items = make_problem(1, True, 3)
    exclusions = seen_item_exclusions(offsets, items, targets, "exclude")
    result = rank_all_items(user_vectors, item_vectors, targets, exclusions, max_k=10,
                            item_chunk=7)
    for k in (1, 3, 10):
        in_list = np.any(result.top_items[:, :k] == targets[:, None], axis=1)
        np.testing.assert_array_equal((result.target_ranks >= 0) & (result.target_ranks < k),
                                      in_list)


def test_float_vectors_match_reference_and_audit_mode_is_identical_for_every_chunking():
    user_vectors, item_vectors, targets, offsets, items = make_problem(2, False, 40)
    exclusions = seen_item_exclusions(offsets, items, targets, "exclude")
    expected = reference_ranking(user_vectors, item_vectors, targets, exclusions, MAX_K)
    default = rank_all_items(user_vectors, item_vectors, targets, exclusions, max_k=MAX_K)
    assert_same(default, expected, exact_scores=False)
    first = rank_all_items(user_vectors, item_vectors, targets, exclusions, max_k=MAX_K,
                           audit=True)
    assert_same(first, expected, exact_scores=False)
    for user_chunk, item_chunk in CHUNKINGS[1:]:
        assert_same(rank_all_items(user_vectors, item_vectors, targets, exclusions,
                                   max_k=MAX_K, user_chunk=user_chunk, item_chunk=item_chunk,
                                   audit=True), first)


def test_independent_of_user_order():
    user_vectors, item_vectors, targets, offsets, items = make_problem(3, False, 40)
    permutation = np.random.default_rng(4).permutation(NUM_USERS)
    histories = [items[offsets[u]:offsets[u + 1]] for u in permutation]
    permuted_offsets = np.concatenate([[0], np.cumsum([len(h) for h in histories])])
    permuted_items = np.concatenate(histories).astype(np.int32)
    original = rank_all_items(user_vectors, item_vectors, targets,
                              Exclusions(offsets, items), max_k=MAX_K, user_chunk=4,
                              item_chunk=6, audit=True)
    permuted = rank_all_items(user_vectors[permutation], item_vectors, targets[permutation],
                              Exclusions(permuted_offsets, permuted_items), max_k=MAX_K,
                              user_chunk=7, item_chunk=41, audit=True)
    for field in ("target_ranks", "target_ties", "top_items", "top_scores"):
        np.testing.assert_array_equal(getattr(permuted, field), getattr(original, field)[permutation])


def test_padding_and_history_never_in_top_lists():
    user_vectors, item_vectors, targets, offsets, items = make_problem(5, False, 40)
    result = rank_all_items(user_vectors, item_vectors, targets, Exclusions(offsets, items),
                            max_k=MAX_K, user_chunk=4, item_chunk=6)
    filler = result.top_items == 0
    assert np.all(np.isneginf(result.top_scores[filler]))
    assert np.all(np.isfinite(result.top_scores[~filler]))
    for user in range(NUM_USERS):
        history = set(items[offsets[user]:offsets[user + 1]].tolist())
        shown = result.top_items[user][~filler[user]]
        assert not history & set(shown.tolist())
        assert len(set(shown.tolist())) == len(shown)
        assert len(shown) == min(MAX_K, NUM_ITEMS - len(history))


def test_a_repeated_target_is_a_miss_under_exclude_and_rankable_under_the_optimistic_rule():
    # One dimension: item i scores item_vectors[i]. Items 1 and 2 are in the history, 2 is the target.
    item_vectors = np.array([[9.0], [5.0], [4.0], [3.0], [6.0]], np.float32)
    offsets, history = np.array([0, 2]), np.array([1, 2], np.int32)
    targets = np.array([2])
    users = np.ones((1, 1), np.float32)
    excluded = rank_all_items(users, item_vectors, targets,
                              seen_item_exclusions(offsets, history, targets, "exclude"), max_k=4)
    assert excluded.target_ranks.tolist() == [NOT_RANKED]
    assert excluded.top_items.tolist() == [[4, 3, 0, 0]]
    optimistic = rank_all_items(users, item_vectors, targets,
                                seen_item_exclusions(offsets, history, targets,
                                                     "exclude_keep_target"), max_k=4)
    assert optimistic.target_ranks.tolist() == [1]  # Only item 4 (score 6) is above the target.
    assert optimistic.top_items.tolist() == [[4, 2, 3, 0]]
    kept = rank_all_items(users, item_vectors, targets, None, max_k=4)
    assert kept.target_ranks.tolist() == [2]  # Items 4 (6) and 1 (5) are above it.


def test_ties_are_ordered_by_item_id_and_counted():
    item_vectors = np.array([[0.0], [2.0], [1.0], [2.0], [2.0]], np.float32)
    result = rank_all_items(np.ones((2, 1), np.float32), item_vectors, np.array([3, 2]), max_k=4)
    assert result.target_ranks.tolist() == [1, 3]  # Item 3 comes after item 1 of equal score.
    assert result.target_ties.tolist() == [2, 0]
    assert result.top_items.tolist() == [[1, 3, 4, 2], [1, 3, 4, 2]]


def test_precomputed_scores_rank_like_vectors():
    user_vectors, item_vectors, targets, offsets, items = make_problem(7, True, 3)
    exclusions = Exclusions(offsets, items)
    scores = user_vectors @ item_vectors.T
    by_vectors = rank_all_items(user_vectors, item_vectors, targets, exclusions, max_k=MAX_K)
    by_scores = rank_scores(lambda start, stop: scores[start:stop], NUM_USERS, NUM_ITEMS,
                            targets, exclusions, max_k=MAX_K, user_chunk=6)
    assert_same(by_scores, by_vectors)
    top_only = rank_scores(lambda start, stop: scores[start:stop], NUM_USERS, NUM_ITEMS,
                           None, exclusions, max_k=5)
    assert top_only.target_ranks is None
    np.testing.assert_array_equal(top_only.top_items, by_vectors.top_items[:, :5])


def test_jax_inputs_and_validation():
    import jax.numpy as jnp
    user_vectors, item_vectors, targets, offsets, items = make_problem(6, True, 3)
    exclusions = Exclusions(offsets, items)
    expected = reference_ranking(user_vectors, item_vectors, targets, exclusions, MAX_K)
    result = rank_all_items(jnp.asarray(user_vectors), jnp.asarray(item_vectors),
                            jnp.asarray(targets), exclusions, max_k=MAX_K, user_chunk=4,
                            item_chunk=6)
    assert_same(result, expected)
    with pytest.raises(ValueError, match="targets"):
        rank_all_items(user_vectors, item_vectors, np.zeros(NUM_USERS, int))
    with pytest.raises(ValueError, match="finite"):
        rank_all_items(user_vectors * np.nan, item_vectors, targets)
    with pytest.raises(ValueError, match="exclusions for 2 users"):
        rank_all_items(user_vectors, item_vectors, targets, Exclusions(offsets[:3], items[:offsets[2]]))
    with pytest.raises(ValueError, match="offsets"):
        Exclusions(np.array([0, 5]), np.array([1, 2], np.int32))
