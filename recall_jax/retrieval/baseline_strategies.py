"""Model-free baselines: popularity and item-CF (whole history, or the last N items voting).

They rank from the users' training data and histories, so their query takes a slice of the
evaluated users (None: all of them) rather than user vectors.
"""

from __future__ import annotations

import time

import numpy as np

from recall_jax.core.candidates import Candidates
from recall_jax.evaluation.protocol import Exclusions
from recall_jax.retrieval.baselines import popularity_ranking
from recall_jax.retrieval.item_cf import item_cf_top_k, item_similarity
from recall_jax.retrieval.strategy_context import BaselineContext, Strategy


def popularity(context: BaselineContext) -> Strategy:
    users, num_items, max_k = context.users, context.num_items, context.max_k

    def search(part: slice | None, exclusions: Exclusions | None) -> Candidates:
        count = users.num_users if part is None else part.stop - part.start
        result = popularity_ranking(users.train_items, num_items, None, exclusions,
                                    num_users=count, max_k=max_k)
        return Candidates.from_dense(result.top_items, result.top_scores)
    return Strategy("popularity", search, memory_mb=(num_items + 1) * 4 / 2**20)


def item_similarity_table(context: BaselineContext) -> tuple[np.ndarray, float]:
    """(the item-item cosine of the training sequences, its build seconds), built once."""
    def build():
        compare_config = context.compare_config
        started = time.perf_counter()
        similarity = item_similarity(context.users.train_offsets, context.users.train_items,
                                     context.num_items, compare_config.item_cf_neighbours or None)
        return similarity, time.perf_counter() - started
    return context.cached("item_similarity", build)


def _item_cf(context: BaselineContext, name: str, recent: int | None) -> Strategy:
    similarity, build_seconds = item_similarity_table(context)
    users, max_k = context.users, context.max_k

    def search(part: slice | None, exclusions: Exclusions | None) -> Candidates:
        offsets, items = users.history_offsets, users.history_items
        if part is not None:
            rows = Exclusions(offsets, items).rows(part)
            offsets, items = rows.offsets, rows.items
        return item_cf_top_k(similarity, offsets, items, max_k, exclusions, recent=recent)
    return Strategy(name, search, build_seconds, similarity.nbytes / 2**20)


def item_cf(context: BaselineContext) -> Strategy:
    return _item_cf(context, "item-CF (co-occurrence cosine)", None)


def item_cf_recent(context: BaselineContext) -> Strategy | None:
    """Item-CF voting with each user's last compare.item_cf_recent items; None when it is 0."""
    compare_config = context.compare_config
    recent = compare_config.item_cf_recent
    return _item_cf(context, f"item-CF (last {recent} items)", recent) if recent else None
