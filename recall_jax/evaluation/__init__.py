"""Full-ranking evaluation: ranks, metrics and result reports."""

from recall_jax.evaluation.full_ranking import RankingResult, ordered_dot, rank_all_items
from recall_jax.evaluation.metrics import (catalogue_coverage_at_k, hit_rate_at_k,
                                           mean_reciprocal_rank, ndcg_at_k, precision_at_k,
                                           ranking_metrics)
from recall_jax.evaluation.report import format_markdown_table, table_columns, write_report

__all__ = [
    "RankingResult", "rank_all_items", "ordered_dot",
    "hit_rate_at_k", "ndcg_at_k", "mean_reciprocal_rank", "precision_at_k",
    "catalogue_coverage_at_k", "ranking_metrics",
    "format_markdown_table", "table_columns", "write_report",
]
