"""ScaNN strategies: as configured (compare.scann), auto-tuned on the tuning users, and the
hybrid ScaNN top-K then cosine > tau.

The index is built once per model, saved to <out_dir>/scann_index_<model> and reloaded; the
tuning (every trial, and brute force's speed in the same setting) is run once per model and
shown in the report's ANN-recall vs queries/s plot.
"""

from __future__ import annotations

import dataclasses
import time

from recall_jax import paths
from recall_jax.retrieval import threshold
from recall_jax.retrieval.exact import exact_top_k
from recall_jax.retrieval.exact_strategies import tuning_exact_top_items
from recall_jax.retrieval.scann_index import ScannIndex, ScannSettings, TuningTrial, autotune
from recall_jax.retrieval.strategy_context import Strategy, StrategyContext
from recall_jax.retrieval.threshold_strategies import calibrated_tau

_INDEX, _TUNING = "scann_index", "scann_tuning"  # keys of StrategyContext.shared


@dataclasses.dataclass(frozen=True)
class ScannTuning:
    best: TuningTrial | None  # the fastest setting reaching the target; None: none did
    trials: list[TuningTrial]
    exact_queries_per_second: float  # brute force on the tuning users, top tuning_k, no filter


def scann_index(context: StrategyContext) -> tuple[ScannIndex, float]:
    """(the model's index built with compare.scann, its saved size in MB)."""
    return context.cached(_INDEX, lambda: _build_index(context))


def _build_index(context: StrategyContext) -> tuple[ScannIndex, float]:
    compare_config = context.compare_config
    index = ScannIndex.build(context.model.item_vectors,
                             ScannSettings.from_config(compare_config.scann), k=context.max_k)
    # ScaNN writes local folders only: a remote out_dir gets a copy of the saved index.
    with paths.local_folder(context.out_dir / f"scann_index_{context.model.name}") as folder:
        index.save(folder)
        index_mb = index.memory_bytes(folder) / 2**20
        return ScannIndex.load(folder), index_mb


def scann_tuning(context: StrategyContext) -> ScannTuning:
    """The search settings tuned on the tuning users for ANN-recall@compare.tuning_k >=
    compare.tuning_target_recall against exact top-K."""
    return context.cached(_TUNING, lambda: _tune(context))


def tuning_if_run(context: StrategyContext) -> ScannTuning | None:
    """The model's tuning when a configured strategy ran it, else None."""
    return context.shared.get(_TUNING)


def _tune(context: StrategyContext) -> ScannTuning:
    compare_config = context.compare_config
    index, _ = scann_index(context)
    users, items = context.model.tuning_user_vectors, context.model.item_vectors
    k = compare_config.tuning_k
    exact = tuning_exact_top_items(context)
    # Brute force in the tuning setting (k = tuning_k, no seen-item filter): the speed
    # reference for the ScaNN trials in the ANN-recall vs queries/s plot.
    exact_top_k(users, items, k, mesh=context.mesh)
    started = time.perf_counter()
    exact_top_k(users, items, k, mesh=context.mesh)
    exact_qps = len(users) / (time.perf_counter() - started)
    best, trials = autotune(index, users, exact, k, compare_config.tuning_target_recall)
    return ScannTuning(best, trials, exact_qps)


def _search(index: ScannIndex, k: int, leaves: int | None = None, reorder: int | None = None):
    """Batched queries search in parallel, single users (latency) on one thread."""
    return lambda users, exclusions: index.search(users, k, leaves, reorder, exclusions,
                                                  parallel=len(users) > 1)


def scann(context: StrategyContext) -> Strategy:
    index, index_mb = scann_index(context)
    settings = index.settings
    return Strategy("ScaNN (configured)", _search(index, context.max_k), index.build_seconds,
                    index_mb, f"leaves {settings.num_leaves_to_search}/{settings.num_leaves}, "
                              f"reorder {settings.reorder}")


def scann_tuned(context: StrategyContext) -> Strategy | None:
    """ScaNN with the tuned settings; None when no setting reached the target."""
    compare_config = context.compare_config
    index, index_mb = scann_index(context)
    best = scann_tuning(context).best
    if best is None:
        return None
    reorder = max(best.reorder, context.max_k)
    num_leaves = min(index.settings.num_leaves, index.num_items // 2)
    return Strategy("ScaNN (tuned)", _search(index, context.max_k, best.leaves_to_search, reorder),
                    index.build_seconds, index_mb,
                    f"leaves {best.leaves_to_search}/{num_leaves}, reorder {reorder}; tuned for "
                    f"ANN-recall@{compare_config.tuning_k} >= "
                    f"{compare_config.tuning_target_recall}")


def scann_then_threshold(context: StrategyContext) -> Strategy:
    """ScaNN top-compare.hybrid_k_max (tuned leaves if tuning succeeded), then cosine > tau."""
    compare_config = context.compare_config
    index, index_mb = scann_index(context)
    best = scann_tuning(context).best
    leaves = best.leaves_to_search if best is not None else None
    hybrid_k = compare_config.hybrid_k_max
    search = _search(index, hybrid_k, leaves, max(hybrid_k, index.settings.reorder))
    items, tau = context.model.item_vectors, calibrated_tau(context)
    return Strategy(f"ScaNN top-{hybrid_k} then cosine > tau",
                    lambda users, exclusions: threshold.filter_by_cosine(
                        search(users, exclusions), users, items, tau),
                    index.build_seconds, index_mb, f"tau = {tau:.4f}")
