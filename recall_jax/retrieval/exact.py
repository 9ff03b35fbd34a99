"""Exact top-K by brute force (the ground truth), and `jax.lax.approx_max_k` (TPU-native ANN).

Exact top-K is the evaluation core's ranking (`evaluation.ranking`) without targets, so the
comparison's ground truth and the training report rank with the same code. approx_max_k scores
with the same scorer and exclusions, then lets XLA pick the k best approximately.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from recall_jax.core.candidates import Candidates
from recall_jax.core.ids import PADDING_ITEM
from recall_jax.core.shapes import next_power_of_two
from recall_jax.evaluation.protocol import Exclusions
from recall_jax.evaluation.ranking import dot_scores, rank_all_items, rank_scores, rankable_in_block


def exact_top_k(user_vectors, item_vectors, k: int, exclusions: Exclusions | None = None,
                user_chunk: int = 1024, item_chunk: int | None = None, mesh=None) -> Candidates:
    """The k highest dot products per user over items 1..N (item_vectors row 0 is padding)."""
    _check_k(k, len(item_vectors) - 1)
    result = rank_all_items(user_vectors, item_vectors, None, exclusions, max_k=k,
                            user_chunk=user_chunk, item_chunk=item_chunk, mesh=mesh)
    return Candidates.from_dense(result.top_items, result.top_scores)


def top_k_of_scores(score_chunks, num_users: int, num_items: int, k: int,
                    exclusions: Exclusions | None = None, user_chunk: int = 1024) -> Candidates:
    """The k best items 1..N of scores computed elsewhere: score_chunks(start, stop) ->
    [stop - start, N + 1] (column 0 = padding)."""
    _check_k(k, num_items)
    result = rank_scores(score_chunks, num_users, num_items, None, exclusions, max_k=k,
                         user_chunk=user_chunk)
    return Candidates.from_dense(result.top_items, result.top_scores)


def _check_k(k: int, num_items: int) -> None:
    if not 1 <= k <= num_items:
        raise ValueError(f"k must lie in 1..{num_items} (the catalogue size), got {k}")


@functools.partial(jax.jit, static_argnames=("k", "recall_target"))
def _approx_chunk(users, items, exclusions, *, k, recall_target):
    scores = dot_scores(users, items)
    _, rankable = rankable_in_block(exclusions, 0, items.shape[0], items.shape[0] - 1)
    return jax.lax.approx_max_k(jnp.where(rankable, scores, -jnp.inf), k,
                                recall_target=recall_target)


def approx_top_k(user_vectors, item_vectors, k: int, recall_target: float = 0.95,
                 exclusions: Exclusions | None = None, user_chunk: int = 1024) -> Candidates:
    """`jax.lax.approx_max_k` with `recall_target`: a TPU-native partial reduction. On CPU and
    GPU XLA lowers it to an exact top-k, so measure its ANN recall rather than assume it."""
    user_vectors = np.asarray(user_vectors, np.float32)
    num_users, dimension = user_vectors.shape
    _check_k(k, len(item_vectors) - 1)
    items = jnp.asarray(np.nan_to_num(np.asarray(item_vectors, np.float32)))
    chunk = max(1, min(user_chunk, next_power_of_two(max(num_users, 1))))
    width = next_power_of_two(max(1, exclusions.max_length() if exclusions is not None else 1))
    top_items = np.zeros((num_users, k), np.int32)
    top_scores = np.full((num_users, k), -np.inf, np.float32)
    for start in range(0, num_users, chunk):
        stop = min(start + chunk, num_users)
        users = np.zeros((chunk, dimension), np.float32)
        users[:stop - start] = user_vectors[start:stop]
        padded = (exclusions.padded(start, stop, chunk, width) if exclusions is not None
                  else np.zeros((chunk, width), np.int32))
        scores, ids = _approx_chunk(users, items, padded, k=k, recall_target=recall_target)
        top_scores[start:stop] = np.asarray(scores)[:stop - start]
        top_items[start:stop] = np.asarray(ids)[:stop - start]
    top_items[~np.isfinite(top_scores)] = PADDING_ITEM
    return Candidates.from_dense(top_items, top_scores)
