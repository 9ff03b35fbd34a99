"""Brute-force strategies: exact top-K (every other strategy's reference), exact top-K by cosine,
and `jax.lax.approx_max_k`."""

from __future__ import annotations

from recall_jax.retrieval import threshold
from recall_jax.retrieval.exact import approx_top_k, exact_top_k
from recall_jax.retrieval.strategy_context import Strategy, StrategyContext

EXACT = "exact top-K"  # the label of the reference rows


def exact(context: StrategyContext) -> Strategy:
    items, max_k = context.model.item_vectors, context.max_k
    return Strategy(EXACT, lambda users, exclusions: exact_top_k(
        users, items, max_k, exclusions, mesh=context.mesh), memory_mb=context.item_mb)


def exact_cosine(context: StrategyContext) -> Strategy | None:
    """The dot-product model's vectors ranked by cosine (None for a cosine model: its exact
    top-K already is)."""
    if context.model.normalized:
        return None
    items, max_k = context.model.item_vectors, context.max_k
    return Strategy("exact top-K by cosine", lambda users, exclusions: exact_top_k(
        threshold.unit_rows(users), threshold.unit_rows(items), max_k, exclusions,
        mesh=context.mesh),
        memory_mb=context.item_mb, note="the dot-product model's vectors ranked by cosine")


def approx_max_k(context: StrategyContext) -> Strategy | None:
    """`jax.lax.approx_max_k` at compare.approx_recall_target (dot-product models only)."""
    if context.model.normalized:
        return None
    compare_config = context.compare_config
    items, max_k = context.model.item_vectors, context.max_k
    target = compare_config.approx_recall_target
    return Strategy(f"approx_max_k (target {target})", lambda users, exclusions: approx_top_k(
        users, items, max_k, target, exclusions), memory_mb=context.item_mb)


def tuning_exact_top_items(context: StrategyContext):
    """int32 [tuning users, compare.tuning_k]: the tuning users' exact top items (no seen-item
    filter), what the ANN tunings (ScaNN, FAISS) measure ANN recall against; computed once."""
    k = context.compare_config.tuning_k
    model = context.model
    return context.cached("tuning_exact_top_items", lambda: exact_top_k(
        model.tuning_user_vectors, model.item_vectors, k).padded(k))
