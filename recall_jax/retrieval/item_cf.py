"""Item-based collaborative filtering: item-item cosine over co-occurrence, scored from histories.

sim(i, j) = |users with i and j| / sqrt(|users with i| * |users with j|), sim(i, i) = 0;
score(u, j) = sum over distinct items i in u's history of sim(i, j). Optionally each item keeps
only its `neighbours` most similar items (the classic sparse item-CF model), and only the user's
`recent` latest items vote (long histories otherwise pull every score towards popular items).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sparse

from recall_jax.core.csr import last_entries
from recall_jax.evaluation.protocol import Exclusions
from recall_jax.core.candidates import Candidates
from recall_jax.retrieval.exact import top_k_of_scores


def user_item_matrix(offsets: np.ndarray, items: np.ndarray, num_items: int) -> sparse.csr_matrix:
    """Binary [num_users, num_items + 1] CSR matrix of who interacted with what (column 0 unused)."""
    users = np.repeat(np.arange(len(offsets) - 1), np.diff(offsets))
    matrix = sparse.csr_matrix((np.ones(len(items), np.float32), (users, items)),
                               shape=(len(offsets) - 1, num_items + 1))
    matrix.data[:] = 1.0  # duplicates (repeat consumption) count once
    return matrix


def item_similarity(train_offsets: np.ndarray, train_items: np.ndarray, num_items: int,
                    neighbours: int | None = None) -> np.ndarray:
    """float32 [num_items + 1, num_items + 1] item-item cosine (row/column 0 zero)."""
    interactions = user_item_matrix(train_offsets, train_items, num_items)
    interactions.sum_duplicates()
    interactions.data[:] = 1.0
    co_occurrence = (interactions.T @ interactions).toarray().astype(np.float32)
    counts = np.diag(co_occurrence).copy()
    norms = np.sqrt(np.maximum(counts, 1.0))
    similarity = co_occurrence / norms[:, None] / norms[None, :]
    np.fill_diagonal(similarity, 0.0)
    similarity[0, :] = similarity[:, 0] = 0.0
    if neighbours is not None and neighbours < num_items:
        cut = np.partition(similarity, -neighbours, axis=1)[:, -neighbours][:, None]
        similarity = np.where(similarity >= cut, similarity, 0.0).astype(np.float32)
    return similarity


def item_cf_top_k(similarity: np.ndarray, history_offsets: np.ndarray, history_items: np.ndarray,
                  k: int, exclusions: Exclusions | None = None,
                  recent: int | None = None, user_chunk: int = 1024) -> Candidates:
    """Top-k items by summed similarity to each user's history (distinct items); with `recent`,
    only the last `recent` events of each history vote (the exclusions are the caller's, from
    the whole history under the seen-item policy)."""
    num_items = similarity.shape[0] - 1
    if recent:
        history_offsets, history_items = last_entries(history_offsets, history_items, recent)
    history = user_item_matrix(history_offsets, history_items, num_items)
    history.sum_duplicates()
    history.data[:] = 1.0
    # Users as sparse rows times the similarity table: a dense score row per user, made and
    # ranked one chunk of users at a time.
    return top_k_of_scores(lambda start, stop: history[start:stop] @ similarity,
                           history.shape[0], num_items, k, exclusions, user_chunk)
