"""Non-personalised baselines, ranked with the same full-ranking code as the models."""

from __future__ import annotations

import numpy as np

from recall_jax.data.dataset import SequenceDataset
from recall_jax.evaluation.full_ranking import RankingResult, rank_all_items


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


def popularity_ranking(train_dataset: SequenceDataset, evaluation_histories_offsets: np.ndarray,
                       evaluation_histories_items: np.ndarray, targets: np.ndarray,
                       exclude_history: bool, max_k: int = 200,
                       user_chunk: int = 1024) -> RankingResult:
    """Rank items by training popularity for every evaluation user.

    evaluation_histories_offsets: int64 [num_users + 1] and evaluation_histories_items: int32
    [num_events], the CSR histories of the evaluated users; removed from their rankings when
    exclude_history (the target excepted). targets: int [num_users] in 1..num_items.
    Each user is the 1-dimensional vector [1] and each item the vector [count], so the score is
    the count and the exclusion, tie and rank rules are those of rank_all_items.
    """
    scores = popularity_scores(train_dataset.items, train_dataset.num_items)
    num_users = len(evaluation_histories_offsets) - 1
    exclusions = ((evaluation_histories_offsets, evaluation_histories_items) if exclude_history
                  else (None, None))
    return rank_all_items(np.ones((num_users, 1), np.float32), scores[:, None], targets,
                          *exclusions, max_k=max_k, user_chunk=user_chunk)
