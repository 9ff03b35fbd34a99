"""Item-based collaborative filtering: item-item cosine over co-occurrence, scored from histories.

sim(i, j) = |users with i and j| / sqrt(|users with i| * |users with j|), sim(i, i) = 0;
score(u, j) = sum over distinct items i in u's history of sim(i, j). Optionally each item keeps
only its `neighbours` most similar items (the classic sparse item-CF model), and only the user's
`recent` latest items vote (long histories otherwise pull every score towards popular items).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sparse

from recall_jax.data.dataset import last_entries
from recall_jax.retrieval.candidates import Candidates
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
                  k: int, exclude_offsets=None, exclude_items=None,
                  recent: int | None = None) -> Candidates:
    """Top-k items by summed similarity to each user's history (distinct items); with `recent`,
    only the last `recent` events of each history vote (exclusions still cover all of it)."""
    num_items = similarity.shape[0] - 1
    if recent:
        history_offsets, history_items = last_entries(history_offsets, history_items, recent)
    history = user_item_matrix(history_offsets, history_items, num_items)
    history.sum_duplicates()
    history.data[:] = 1.0
    # Users as sparse rows times the similarity table = a dense score row per user.
    parts = []
    chunk = 1024
    for start in range(0, history.shape[0], chunk):
        stop = min(start + chunk, history.shape[0])
        scores = np.asarray(history[start:stop] @ similarity, np.float32)
        part_offsets = None if exclude_offsets is None else (
            exclude_offsets[start:stop + 1] - exclude_offsets[start])
        part_items = None if exclude_items is None else (
            exclude_items[exclude_offsets[start]:exclude_offsets[stop]])
        parts.append(top_k_of_scores(scores, k, part_offsets, part_items))
    return Candidates.concatenate(parts)
