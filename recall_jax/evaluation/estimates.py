"""Table rows with uncertainty: each metric's mean over users, its 95% bootstrap interval, and
paired differences against a reference row evaluated on the same users.

A row is a dict of labels (strings), metric values (floats) and "ci95": {metric: [low, high]};
a difference row holds labels, "reference" (the reference row's label) and, per metric,
[mean difference, low, high] of (row - reference).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from recall_jax.evaluation.bootstrap import Bootstrap
from recall_jax.evaluation.metrics import per_user_metrics, ranking_metrics
from recall_jax.evaluation.ranking import RankingResult

INTERVAL_KEY = "ci95"


def with_intervals(labels: dict, per_user: dict[str, np.ndarray], bootstrap: Bootstrap,
                   extra: dict[str, tuple[float, tuple[float, float]]] | None = None) -> dict:
    """A row: labels, the mean of each per-user metric with its interval, and `extra` metrics
    given as (value, (low, high)); num_users last."""
    row = dict(labels)
    intervals = {}
    for name, values in per_user.items():
        row[name] = float(np.mean(values))
        intervals[name] = list(bootstrap.interval(values))
    for name, (value, interval) in (extra or {}).items():
        row[name] = value
        intervals[name] = list(interval)
    row["num_users"] = bootstrap.num_users
    row[INTERVAL_KEY] = intervals
    return row


def full_ranking_per_user(result: RankingResult, ks: Sequence[int]) -> dict[str, np.ndarray]:
    """Per-user metrics of a full ranking (see metrics.per_user_metrics), with TargetTieShare."""
    values = per_user_metrics(result.target_ranks, ks, full_ranking=True)
    if result.target_ties is not None:
        values["TargetTieShare"] = (np.asarray(result.target_ties) > 0).astype(np.float64)
    return values


def full_ranking_row(labels: dict, result: RankingResult, ks: Sequence[int], num_items: int,
                     bootstrap: Bootstrap) -> dict:
    """The report row of a full ranking: HR, Recall, NDCG, Precision, MRR@k and Coverage at each
    k, MRR and TargetTieShare, each with its interval."""
    point = ranking_metrics(result.target_ranks, result.top_items, ks, num_items=num_items)
    coverage = {f"Coverage@{k}": (point[f"Coverage@{k}"],
                                  bootstrap.coverage_interval(result.top_items, k, num_items))
                for k in ks}
    return with_intervals(labels, full_ranking_per_user(result, ks), bootstrap, coverage)


def paired_difference_row(labels: dict, reference_label: str, values: dict[str, np.ndarray],
                          reference: dict[str, np.ndarray], bootstrap: Bootstrap,
                          metrics: Sequence[str]) -> dict:
    """labels + {"reference": reference_label, metric: [difference, low, high]} for each metric
    present in both per-user dicts."""
    row = dict(labels, reference=reference_label)
    for name in metrics:
        if name in values and name in reference:
            row[name] = list(bootstrap.paired_difference(values[name], reference[name]))
    return row


def interval_contains_zero(difference: Sequence[float]) -> bool:
    return difference[1] <= 0.0 <= difference[2]


def seed_summary(values_by_seed: Sequence[dict]) -> dict[str, tuple[float, float]]:
    """{metric: (mean, sample std)} across runs with different seeds (std 0 for one run)."""
    summary = {}
    for name in values_by_seed[0]:
        values = [run[name] for run in values_by_seed if isinstance(run.get(name), (int, float))]
        if len(values) == len(values_by_seed):
            summary[name] = (float(np.mean(values)),
                             float(np.std(values, ddof=1)) if len(values) > 1 else 0.0)
    return summary
