"""Metrics of candidate sets (top-K lists or ragged threshold sets) against one target per user.

A target's position is its 0-based index in the user's candidate list (best first), or -1 when
the strategy did not retrieve it. Every metric is a mean over users unless said otherwise.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from recall_jax.data.dataset import owner_of_entries
from recall_jax.retrieval.candidates import Candidates


def target_positions(candidates: Candidates, targets: np.ndarray) -> np.ndarray:
    """int64 [num_users]: index of each user's target in its candidate list, -1 when absent."""
    targets = np.asarray(targets)
    if len(targets) != candidates.num_users:
        raise ValueError(f"{len(targets)} targets for {candidates.num_users} users")
    owner = owner_of_entries(candidates.offsets)
    hits = np.nonzero(candidates.items == targets[owner])[0]
    positions = np.full(candidates.num_users, np.iinfo(np.int64).max, np.int64)
    np.minimum.at(positions, owner[hits], hits - candidates.offsets[owner[hits]])
    return np.where(positions == np.iinfo(np.int64).max, -1, positions)


def exposure_gini(top_items: np.ndarray, num_items: int) -> float:
    """Gini coefficient of how often each catalogue item is shown (0 = equal, -> 1 = one item).

    top_items: int [num_users, k] (0 = empty slot, not counted). Items never shown count as 0.
    """
    counts = np.bincount(np.asarray(top_items).ravel(), minlength=num_items + 1)[1:]
    counts = np.sort(counts.astype(np.float64))
    total = counts.sum()
    if total == 0:
        return 0.0
    ranks = np.arange(1, num_items + 1)
    return float(np.sum((2 * ranks - num_items - 1) * counts) / (num_items * total))


def ann_recall_at_k(candidates: Candidates, exact_top_items: np.ndarray, k: int) -> float:
    """Mean share of each user's exact top-k that the strategy's first k candidates contain."""
    exact = np.asarray(exact_top_items)[:, :k]
    found = candidates.padded(k)
    valid = exact != 0
    hits = np.zeros(len(exact), np.int64)
    for column in range(k):  # k is small (10..200): compare one exact column at a time.
        hits += np.any(found == exact[:, column:column + 1], axis=1) & valid[:, column]
    return float(np.mean(hits / np.maximum(valid.sum(axis=1), 1)))


def candidate_metrics(candidates: Candidates, targets: np.ndarray, ks: Sequence[int], *,
                      num_items: int, exact_top_items: np.ndarray | None = None,
                      max_set_size: int | None = None) -> dict[str, float]:
    """HR (=Recall), NDCG, Precision, Coverage, exposure Gini at each k; MRR; set-size statistics.

    Only the first k candidates count for metrics at k. `SetRecall` is the share of targets that
    are anywhere in the set (the recall of the candidate set itself). With exact_top_items
    ([num_users, >= max k], best first), ANNRecall@k against exact top-k is added.
    `OversizedShare` needs max_set_size.
    """
    positions = target_positions(candidates, targets)
    found = positions >= 0
    discount = 1.0 / np.log2(np.maximum(positions, 0) + 2.0)
    sizes = candidates.sizes()
    metrics: dict[str, float] = {}
    for k in ks:
        hit = found & (positions < k)
        metrics[f"HR@{k}"] = float(np.mean(hit))
        metrics[f"Recall@{k}"] = metrics[f"HR@{k}"]
        metrics[f"NDCG@{k}"] = float(np.mean(np.where(hit, discount, 0.0)))
        metrics[f"Precision@{k}"] = metrics[f"HR@{k}"] / k
        top = candidates.padded(k)
        metrics[f"Coverage@{k}"] = float(np.count_nonzero(np.unique(top)) / num_items)
        metrics[f"Gini@{k}"] = exposure_gini(top, num_items)
        if exact_top_items is not None:
            metrics[f"ANNRecall@{k}"] = ann_recall_at_k(candidates, exact_top_items, k)
    metrics["MRR"] = float(np.mean(np.where(found, 1.0 / (np.maximum(positions, 0) + 1.0), 0.0)))
    metrics["SetRecall"] = float(np.mean(found))
    metrics["SetSizeMean"] = float(np.mean(sizes))
    metrics["SetSizeP50"] = float(np.percentile(sizes, 50))
    metrics["SetSizeP95"] = float(np.percentile(sizes, 95))
    metrics["EmptyShare"] = float(np.mean(sizes == 0))
    if max_set_size is not None:
        metrics["OversizedShare"] = float(np.mean(sizes > max_set_size))
    metrics["num_users"] = candidates.num_users
    return metrics
