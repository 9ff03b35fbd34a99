"""Ranking metrics for one held-out target per user, from 0-based target ranks and top lists.

Every metric is a mean over users, returned as a Python float.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from recall_jax.evaluation.full_ranking import PADDING_ITEM, RankingResult


def _ranks(target_ranks) -> np.ndarray:
    ranks = np.asarray(target_ranks)
    if ranks.ndim != 1 or ranks.size == 0 or np.any(ranks < 0):
        raise ValueError("target_ranks must be a non-empty 1-D array of non-negative ranks")
    return ranks


def hit_rate_at_k(target_ranks, k: int) -> float:
    """Share of users whose target ranks in the top k (= Recall@k with one target per user)."""
    return float(np.mean(_ranks(target_ranks) < k))


def ndcg_at_k(target_ranks, k: int) -> float:
    """Mean of 1 / log2(rank + 2) where rank < k, else 0 (the ideal DCG of one target is 1)."""
    ranks = _ranks(target_ranks)
    return float(np.mean(np.where(ranks < k, 1.0 / np.log2(ranks + 2.0), 0.0)))


def mean_reciprocal_rank(target_ranks) -> float:
    """Mean of 1 / (rank + 1) over the full ranking (no cut-off)."""
    return float(np.mean(1.0 / (_ranks(target_ranks) + 1.0)))


def precision_at_k(target_ranks, k: int) -> float:
    """Share of the k recommended slots that hold the target: hit / k, averaged over users."""
    return hit_rate_at_k(target_ranks, k) / k


def catalogue_coverage_at_k(top_items, k: int, num_items: int) -> float:
    """Share of the num_items real items that appear in at least one user's top k.

    top_items: int [num_users, >= k], best first; the padding item 0 (filler) is not counted.
    """
    top_items = np.asarray(top_items)
    if top_items.ndim != 2 or top_items.shape[1] < k:
        raise ValueError(f"top_items must be [num_users, >= {k}], got {top_items.shape}")
    shown = np.unique(top_items[:, :k])
    return float(np.count_nonzero(shown != PADDING_ITEM) / num_items)


def ranking_metrics(result: RankingResult, ks: Sequence[int] = (10, 50, 200), *,
                    num_items: int) -> dict[str, float]:
    """HR, Recall, NDCG, Precision and Coverage at each k, then MRR, TargetTieShare, num_users.

    TargetTieShare (only when the result counts ties) is the share of users whose target shares
    its exact score with another rankable item; a high value means the ranks are optimistic.
    """
    metrics: dict[str, float] = {}
    for k in ks:
        metrics[f"HR@{k}"] = hit_rate_at_k(result.target_ranks, k)
        metrics[f"Recall@{k}"] = metrics[f"HR@{k}"]
        metrics[f"NDCG@{k}"] = ndcg_at_k(result.target_ranks, k)
        metrics[f"Precision@{k}"] = precision_at_k(result.target_ranks, k)
        metrics[f"Coverage@{k}"] = catalogue_coverage_at_k(result.top_items, k, num_items)
    metrics["MRR"] = mean_reciprocal_rank(result.target_ranks)
    if result.target_ties is not None:
        metrics["TargetTieShare"] = float(np.mean(np.asarray(result.target_ties) > 0))
    metrics["num_users"] = result.num_users
    return metrics
