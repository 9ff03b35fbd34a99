"""Evaluation: the seen-item protocol, the exact ranking core, metrics, intervals and reports."""

from recall_jax.evaluation.bootstrap import Bootstrap
from recall_jax.evaluation.metrics import (NOT_FOUND, catalogue_coverage_at_k, hit_rate_at_k,
                                           mean_reciprocal_rank, ndcg_at_k, per_user_metrics,
                                           precision_at_k, ranking_metrics)
from recall_jax.evaluation.protocol import (SEEN_ITEM_POLICIES, Exclusions, describe_policy,
                                            seen_item_exclusions, targets_in_history)
from recall_jax.evaluation.ranking import (NOT_RANKED, RankingResult, dot_scores, ordered_dot,
                                           rank_all_items, rank_scores)
from recall_jax.evaluation.report import format_markdown_table, table_columns, write_report

__all__ = [
    "Bootstrap",
    "NOT_FOUND", "catalogue_coverage_at_k", "hit_rate_at_k", "mean_reciprocal_rank",
    "ndcg_at_k", "per_user_metrics", "precision_at_k", "ranking_metrics",
    "SEEN_ITEM_POLICIES", "Exclusions", "describe_policy", "seen_item_exclusions",
    "targets_in_history",
    "NOT_RANKED", "RankingResult", "dot_scores", "ordered_dot", "rank_all_items", "rank_scores",
    "format_markdown_table", "table_columns", "write_report",
]
