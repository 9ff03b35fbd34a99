"""Cosine-threshold strategies: cosine > tau (one global tau) and cosine > tau_u (per-user z).

Both are calibrated on the model's tuning users to compare.threshold_mean_size candidates on
average; tau, z and the tuning users' cosines are computed once per model and shared (the
threshold sweep and the ScaNN-then-threshold hybrid use them too).
"""

from __future__ import annotations

import numpy as np

from recall_jax.retrieval import threshold
from recall_jax.retrieval.strategy_context import Strategy, StrategyContext


def tuning_cosines(context: StrategyContext) -> np.ndarray:
    """[tuning users, N + 1] cosines, with the tuning users' exclusions NaN (as at query time)."""
    model = context.model
    return context.cached("tuning_cosines", lambda: np.concatenate([
        cosines for _, _, cosines in threshold.cosine_chunks(
            model.tuning_user_vectors, model.item_vectors, context.users.tuning_exclusions)]))


def calibrated_tau(context: StrategyContext) -> float:
    """The global tau giving compare.threshold_mean_size candidates on the tuning users."""
    compare_config = context.compare_config
    return context.cached("tau", lambda: threshold.tau_for_mean_size(
        tuning_cosines(context), compare_config.threshold_mean_size))


def calibrated_z(context: StrategyContext) -> float:
    """The z of tau_u = mean_u + z std_u giving compare.threshold_mean_size on average."""
    compare_config = context.compare_config
    return context.cached("z", lambda: threshold.z_for_mean_size(
        tuning_cosines(context), compare_config.threshold_mean_size))


def cosine_threshold(context: StrategyContext) -> Strategy:
    compare_config = context.compare_config
    items, tau = context.model.item_vectors, calibrated_tau(context)
    return Strategy(f"cosine > tau (global, mean {compare_config.threshold_mean_size})",
                    lambda users, exclusions: threshold.cosine_threshold(
                        users, items, tau, exclusions),
                    memory_mb=context.item_mb, note=f"tau = {tau:.4f}")


def cosine_threshold_per_user(context: StrategyContext) -> Strategy:
    compare_config = context.compare_config
    items, z = context.model.item_vectors, calibrated_z(context)

    def search(users, exclusions):
        taus = threshold.per_user_taus(users, items, z, exclusions)
        return threshold.cosine_threshold(users, items, taus, exclusions)
    return Strategy(f"cosine > tau_u (per-user z, mean {compare_config.threshold_mean_size})",
                    search, memory_mb=context.item_mb, note=f"tau_u = mean_u + {z:.3f} std_u")
