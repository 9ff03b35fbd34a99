"""Non-personalised baselines, ranked with the same full-ranking code as the models."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sparse

from recall_jax.core.csr import last_entries
from recall_jax.evaluation.protocol import Exclusions
from recall_jax.evaluation.ranking import RankingResult, rank_all_items
from recall_jax.retrieval.threshold import unit_rows


def popularity_scores(train_items: np.ndarray, num_items: int) -> np.ndarray:
    """float32 [num_items + 1]: how often each item occurs in train_items; index 0 (padding) = -inf.

    train_items: int [num_events], ids in 1..num_items.
    """
    train_items = np.asarray(train_items)
    if train_items.size and (train_items.min() < 1 or train_items.max() > num_items):
        raise ValueError(f"train_items must lie in 1..{num_items}")
    scores = np.bincount(train_items, minlength=num_items + 1).astype(np.float32)
    scores[0] = -np.inf
    return scores


def popularity_ranking(train_items: np.ndarray, num_items: int, targets: np.ndarray | None,
                       exclusions: Exclusions | None, num_users: int | None = None,
                       max_k: int = 200, user_chunk: int = 1024) -> RankingResult:
    """Rank items by training popularity for every evaluated user.

    train_items: int [num_events], the training events; targets: int [num_users] in
    1..num_items (or None, then num_users says how many users); exclusions: from the seen-item
    policy (`protocol.seen_item_exclusions`). Each user is the 1-dimensional vector [1] and each
    item the vector [count], so the score is the count and the exclusion, tie and rank rules are
    those of rank_all_items.
    """
    scores = popularity_scores(train_items, num_items)
    num_users = len(targets) if targets is not None else num_users
    return rank_all_items(np.ones((num_users, 1), np.float32), scores[:, None], targets,
                          exclusions, max_k=max_k, user_chunk=user_chunk)


def recent_history_mean(offsets: np.ndarray, items: np.ndarray, item_vectors: np.ndarray,
                        recent: int) -> np.ndarray:
    """float32 [num_users, dim]: the mean of the L2-normalised vectors of each user's last
    `recent` history items, itself L2-normalised (zero for an empty history).

    offsets: int64 [num_users + 1] and items: int [num_events], CSR histories in time order;
    item_vectors: [num_items + 1, dim], indexed by item id.
    """
    recent_offsets, recent_items = last_entries(offsets, items, recent)
    unit = unit_rows(item_vectors)
    # One sparse [num_users, num_items + 1] count matrix times the unit vectors: per-user sums.
    counts = sparse.csr_matrix((np.ones(len(recent_items), np.float32), recent_items,
                                recent_offsets), shape=(len(recent_offsets) - 1, len(unit)))
    return unit_rows(np.asarray(counts @ unit))


def content_similarity_ranking(item_vectors: np.ndarray, history_offsets: np.ndarray,
                               history_items: np.ndarray, targets: np.ndarray,
                               exclusions: Exclusions | None, recent: int = 20,
                               max_k: int = 200, user_chunk: int = 1024) -> RankingResult:
    """Rank items by cosine between their content vector and the user's recent content profile.

    A training-free content baseline (what pretrained text vectors achieve on their own): the
    user is the normalised mean of the last `recent` history items' vectors (history_offsets /
    history_items: CSR histories in time order), every item (cold ones included) its normalised
    vector. item_vectors: [num_items + 1, dim], row 0 padding. Exclusions (from the seen-item
    policy), tie and rank rules are those of rank_all_items.
    """
    users = recent_history_mean(history_offsets, history_items, item_vectors, recent)
    return rank_all_items(users, unit_rows(item_vectors), targets, exclusions, max_k=max_k,
                          user_chunk=user_chunk)
