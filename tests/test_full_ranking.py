"""rank_all_items against a plain numpy reference, across chunk sizes and user orders."""

import numpy as np
import pytest

from recall_jax.evaluation.full_ranking import RankingResult, rank_all_items

NUM_USERS, NUM_ITEMS, MAX_K = 23, 40, 45  # MAX_K > rankable items: filler slots get exercised.


def reference_ranking(user_vectors, item_vectors, targets, offsets, items, max_k) -> RankingResult:
    """Full score matrix, mask, stable argsort: the definition rank_all_items must match."""
    scores = user_vectors.astype(np.float64) @ item_vectors.astype(np.float64).T
    num_users = len(user_vectors)
    users = np.arange(num_users)
    rankable = np.ones(scores.shape, bool)
    rankable[:, 0] = False
    if offsets is not None:
        for user in users:
            rankable[user, items[offsets[user]:offsets[user + 1]]] = False
    rankable[users, targets] = True
    masked = np.where(rankable, scores, -np.inf)
    target_scores = scores[users, targets][:, None]
    competitors = rankable.copy()
    competitors[users, targets] = False
    target_ranks = np.sum(competitors & (masked > target_scores), axis=1)
    target_ties = np.sum(competitors & (masked == target_scores), axis=1)
    masked = np.pad(masked, [(0, 0), (0, max(0, max_k - masked.shape[1]))],
                    constant_values=-np.inf)  # Filler columns for max_k > num_items + 1.
    order = np.argsort(-masked, axis=1, kind="stable")[:, :max_k]
    top_scores = np.take_along_axis(masked, order, axis=1)
    return RankingResult(target_ranks=target_ranks,
                         top_items=np.where(np.isfinite(top_scores), order, 0),
                         top_scores=top_scores, target_ties=target_ties)


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


@pytest.mark.parametrize("user_chunk,item_chunk", CHUNKINGS)
def test_matches_reference_with_ties_and_exclusions(user_chunk, item_chunk):
    user_vectors, item_vectors, targets, offsets, items = make_problem(0, True, 3)
    expected = reference_ranking(user_vectors, item_vectors, targets, offsets, items, MAX_K)
    assert np.any(expected.target_ties > 0)  # The case exercises tie handling.
    result = rank_all_items(user_vectors, item_vectors, targets, offsets, items, max_k=MAX_K,
                            user_chunk=user_chunk, item_chunk=item_chunk)
    assert result.target_ranks.dtype == np.int64 and result.top_items.dtype == np.int32
    assert result.top_scores.dtype == np.float32 and result.top_items.shape == (NUM_USERS, MAX_K)
    assert_same(result, expected)


def test_matches_reference_without_exclusions():
    user_vectors, item_vectors, targets, _, _ = make_problem(1, True, 3)
    expected = reference_ranking(user_vectors, item_vectors, targets, None, None, 8)
    result = rank_all_items(user_vectors, item_vectors, targets, max_k=8, item_chunk=6)
    assert_same(result, expected)


def test_float_vectors_match_reference_and_are_identical_for_every_chunking():
    user_vectors, item_vectors, targets, offsets, items = make_problem(2, False, 40)
    expected = reference_ranking(user_vectors, item_vectors, targets, offsets, items, MAX_K)
    first = rank_all_items(user_vectors, item_vectors, targets, offsets, items, max_k=MAX_K)
    assert_same(first, expected, exact_scores=False)
    for user_chunk, item_chunk in CHUNKINGS[1:]:
        assert_same(rank_all_items(user_vectors, item_vectors, targets, offsets, items,
                                   max_k=MAX_K, user_chunk=user_chunk, item_chunk=item_chunk),
                    first)


def test_independent_of_user_order():
    user_vectors, item_vectors, targets, offsets, items = make_problem(3, False, 40)
    permutation = np.random.default_rng(4).permutation(NUM_USERS)
    histories = [items[offsets[u]:offsets[u + 1]] for u in permutation]
    permuted_offsets = np.concatenate([[0], np.cumsum([len(h) for h in histories])])
    permuted_items = np.concatenate(histories).astype(np.int32)
    original = rank_all_items(user_vectors, item_vectors, targets, offsets, items, max_k=MAX_K,
                              user_chunk=4, item_chunk=6)
    permuted = rank_all_items(user_vectors[permutation], item_vectors, targets[permutation],
                              permuted_offsets, permuted_items, max_k=MAX_K, user_chunk=7,
                              item_chunk=41)
    for field in ("target_ranks", "target_ties", "top_items", "top_scores"):
        np.testing.assert_array_equal(getattr(permuted, field), getattr(original, field)[permutation])


def test_padding_and_history_never_in_top_lists():
    user_vectors, item_vectors, targets, offsets, items = make_problem(5, False, 40)
    result = rank_all_items(user_vectors, item_vectors, targets, offsets, items, max_k=MAX_K,
                            user_chunk=4, item_chunk=6)
    filler = result.top_items == 0
    assert np.all(np.isneginf(result.top_scores[filler]))
    assert np.all(np.isfinite(result.top_scores[~filler]))
    for user in range(NUM_USERS):
        history = set(items[offsets[user]:offsets[user + 1]]) - {targets[user]}
        shown = result.top_items[user][~filler[user]]
        assert not history & set(shown)
        assert len(set(shown)) == len(shown)
        assert len(shown) == min(MAX_K, NUM_ITEMS - len(history))


def test_target_in_history_stays_rankable():
    # One dimension: item i scores item_vectors[i]. Items 1 and 2 are in the history, 2 is the target.
    item_vectors = np.array([[9.0], [5.0], [4.0], [3.0], [6.0]], np.float32)
    result = rank_all_items(np.ones((1, 1), np.float32), item_vectors, np.array([2]),
                            np.array([0, 2]), np.array([1, 2], np.int32), max_k=4)
    assert result.target_ranks.tolist() == [1]  # Only item 4 (score 6) is above the target.
    assert result.top_items.tolist() == [[4, 2, 3, 0]]
    assert result.top_scores.tolist() == [[6.0, 4.0, 3.0, -np.inf]]


def test_ties_rank_optimistically_and_are_counted():
    item_vectors = np.array([[0.0], [2.0], [1.0], [2.0], [2.0]], np.float32)
    result = rank_all_items(np.ones((2, 1), np.float32), item_vectors, np.array([3, 2]), max_k=4)
    assert result.target_ranks.tolist() == [0, 3]
    assert result.target_ties.tolist() == [2, 0]
    assert result.top_items.tolist() == [[1, 3, 4, 2], [1, 3, 4, 2]]  # Equal scores: lower id first.


def test_jax_inputs_and_validation():
    import jax.numpy as jnp
    user_vectors, item_vectors, targets, offsets, items = make_problem(6, True, 3)
    expected = reference_ranking(user_vectors, item_vectors, targets, offsets, items, MAX_K)
    result = rank_all_items(jnp.asarray(user_vectors), jnp.asarray(item_vectors),
                            jnp.asarray(targets), jnp.asarray(offsets), jnp.asarray(items),
                            max_k=MAX_K, user_chunk=4, item_chunk=6)
    assert_same(result, expected)
    with pytest.raises(ValueError, match="targets"):
        rank_all_items(user_vectors, item_vectors, np.zeros(NUM_USERS, int))
    with pytest.raises(ValueError, match="finite"):
        rank_all_items(user_vectors * np.nan, item_vectors, targets)
    with pytest.raises(ValueError, match="both"):
        rank_all_items(user_vectors, item_vectors, targets, exclude_offsets=offsets)
