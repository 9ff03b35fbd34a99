"""Every metric of recall_jax, from one number per user: the target's position in a ranked list.

A position is 0-based (0 = first), or NOT_FOUND (-1) when the list does not hold the target (an
excluded target in a full ranking, a target a recall strategy did not retrieve). For a full
ranking the list is the whole rankable catalogue; for a recall strategy, its candidate list.

Per user, at cut-off k: HR@k = Recall@k (one target) = [position < k]; NDCG@k = 1 / log2(position
+ 2) when position < k; Precision@k = HR@k / k; MRR@k = 1 / (position + 1) when position < k.
MRR without a cut-off is only defined for full rankings. Reported values are means over users
(`per_user_metrics` keeps the per-user values for confidence intervals). Catalogue coverage and
the exposure Gini are properties of all users' lists together.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from recall_jax.core.ids import PADDING_ITEM

NOT_FOUND = -1


def _positions(positions) -> np.ndarray:
    positions = np.asarray(positions)
    if positions.ndim != 1 or positions.size == 0 or np.any(positions < NOT_FOUND):
        raise ValueError("positions must be a non-empty 1-D array of ranks >= 0, or -1 (not found)")
    return positions


def per_user_metrics(positions, ks: Sequence[int], *, full_ranking: bool) -> dict[str, np.ndarray]:
    """float64 [num_users] per metric: HR, Recall, NDCG, Precision and MRR at each k, and MRR
    (over the whole list) when `full_ranking`."""
    positions = _positions(positions)
    found = positions != NOT_FOUND
    reciprocal = np.where(found, 1.0 / (np.maximum(positions, 0) + 1.0), 0.0)
    discount = np.where(found, 1.0 / np.log2(np.maximum(positions, 0) + 2.0), 0.0)
    values: dict[str, np.ndarray] = {}
    for k in ks:
        if k < 1:
            raise ValueError(f"cut-offs must be >= 1, got {k}")
        hit = found & (positions < k)
        values[f"HR@{k}"] = hit.astype(np.float64)
        values[f"Recall@{k}"] = values[f"HR@{k}"]
        values[f"NDCG@{k}"] = np.where(hit, discount, 0.0)
        values[f"Precision@{k}"] = values[f"HR@{k}"] / k
        values[f"MRR@{k}"] = np.where(hit, reciprocal, 0.0)
    if full_ranking:
        values["MRR"] = reciprocal
    return values


def hit_rate_at_k(positions, k: int) -> float:
    """Share of users whose target is among the first k (= Recall@k with one target per user)."""
    return float(per_user_metrics(positions, (k,), full_ranking=False)[f"HR@{k}"].mean())


def ndcg_at_k(positions, k: int) -> float:
    return float(per_user_metrics(positions, (k,), full_ranking=False)[f"NDCG@{k}"].mean())


def mean_reciprocal_rank(positions, k: int | None = None) -> float:
    """MRR over the whole ranking (k None), or MRR@k (reciprocal rank 0 beyond k)."""
    if k is None:
        return float(per_user_metrics(positions, (), full_ranking=True)["MRR"].mean())
    return float(per_user_metrics(positions, (k,), full_ranking=False)[f"MRR@{k}"].mean())


def precision_at_k(positions, k: int) -> float:
    return hit_rate_at_k(positions, k) / k


def item_exposure(top_items: np.ndarray, k: int, num_items: int) -> np.ndarray:
    """int64 [num_items]: how many users' first-k lists show each real item 1..num_items.

    top_items: int [num_users, >= k], best first; 0 (empty slot) is not counted."""
    top_items = np.asarray(top_items)
    if top_items.ndim != 2 or top_items.shape[1] < k:
        raise ValueError(f"top_items must be [num_users, >= {k}], got {top_items.shape}")
    return np.bincount(top_items[:, :k].ravel(), minlength=num_items + 1)[1:]


def catalogue_coverage_at_k(top_items, k: int, num_items: int) -> float:
    """Share of the num_items real items that appear in at least one user's first k."""
    return float(np.count_nonzero(item_exposure(top_items, k, num_items)) / num_items)


def gini_of_counts(counts: np.ndarray) -> np.ndarray:
    """Gini coefficient of the last axis of counts [..., num_items] (0 = equal, -> 1 = one item)."""
    counts = np.sort(np.asarray(counts, np.float64), axis=-1)
    num_items = counts.shape[-1]
    ranks = np.arange(1, num_items + 1)
    totals = counts.sum(axis=-1)
    weighted = np.sum((2 * ranks - num_items - 1) * counts, axis=-1)
    return np.where(totals > 0, weighted / (num_items * np.maximum(totals, 1e-300)), 0.0)


def exposure_gini(top_items: np.ndarray, num_items: int) -> float:
    """Gini coefficient of how often each catalogue item is shown in top_items [num_users, k]."""
    top_items = np.asarray(top_items)
    return float(gini_of_counts(item_exposure(top_items, top_items.shape[1], num_items)))


def per_user_ann_recall(found_top: np.ndarray, exact_top: np.ndarray, k: int) -> np.ndarray:
    """float64 [num_users]: share of each user's exact top-k found in the first k of found_top.

    Both int [num_users, >= k], best first, 0 = empty slot (not counted)."""
    exact = np.asarray(exact_top)[:, :k]
    found = np.asarray(found_top)[:, :k]
    valid = exact != PADDING_ITEM
    hits = np.zeros(len(exact), np.int64)
    for column in range(k):  # k is small (10..200): compare one exact column at a time.
        hits += np.any(found == exact[:, column:column + 1], axis=1) & valid[:, column]
    return hits / np.maximum(valid.sum(axis=1), 1)


def ann_recall_at_k(found_top: np.ndarray, exact_top: np.ndarray, k: int) -> float:
    return float(per_user_ann_recall(found_top, exact_top, k).mean())


def ranking_metrics(target_ranks: np.ndarray, top_items: np.ndarray,
                    ks: Sequence[int] = (10, 50, 200), *, num_items: int,
                    target_ties: np.ndarray | None = None) -> dict[str, float]:
    """Means over users of a full ranking: HR, Recall, NDCG, Precision, MRR@k and Coverage at
    each k, then MRR, TargetTieShare (when ties are given) and num_users.

    TargetTieShare is the share of users whose target shares its exact score with another
    rankable item; ties are ordered by item id, so a high share makes ranks arbitrary."""
    metrics = {name: float(values.mean()) for name, values in
               per_user_metrics(target_ranks, ks, full_ranking=True).items()}
    for k in ks:
        metrics[f"Coverage@{k}"] = catalogue_coverage_at_k(top_items, k, num_items)
    if target_ties is not None:
        metrics["TargetTieShare"] = float(np.mean(np.asarray(target_ties) > 0))
    metrics["num_users"] = len(target_ranks)
    return metrics
