"""FAISS strategies: HNSW and IVF-PQ (fast scan, exact re-ranking), each auto-tuned on the
tuning users like ScaNN (tuned), and a cosine-threshold route by FAISS range search.

Each index is built once per model with config.compare.faiss, saved to
<out_dir>/faiss_<kind>_index_<model> and reloaded; its tuning (the fastest search-time setting
reaching ANN-recall@compare.tuning_k >= compare.tuning_target_recall against exact top-K on the
tuning users) runs once per model and its trials go to comparison.json.

faiss_range_threshold: an HNSW index over the L2-normalised item vectors, searched with the
normalised user vectors for every item of inner product (= cosine) above the calibrated global
tau (`threshold_strategies.calibrated_tau`, shared with cosine > tau); a dot-product model's
vectors are normalised on both sides, as the exact cosine threshold does. Its efSearch is the
smallest of a grid whose sets hold >= compare.tuning_target_recall of the exact threshold sets'
items on the tuning users.
"""

from __future__ import annotations

import dataclasses
import time

import numpy as np

from recall_jax import paths
from recall_jax.core.csr import owner_of_entries
from recall_jax.retrieval import threshold
from recall_jax.retrieval.exact_strategies import tuning_exact_top_items
from recall_jax.retrieval.faiss_index import (FaissIndex, FaissSettings, SearchSetting,
                                              TuningTrial, autotune)
from recall_jax.retrieval.strategy_context import Strategy, StrategyContext
from recall_jax.retrieval.threshold_strategies import calibrated_tau, tuning_cosines

RANGE_EF_GRID = (64, 128, 256, 512, 1024, 2048, 4096)
LABELS = {"hnsw": "FAISS HNSW", "ivf_pq": "FAISS IVF-PQ fast scan + re-rank"}


@dataclasses.dataclass(frozen=True)
class FaissTuning:
    best: TuningTrial | None  # the fastest setting reaching the target; None: none did
    trials: list[TuningTrial]


def faiss_index(context: StrategyContext, kind: str) -> tuple[FaissIndex, float]:
    """(the model's `kind` index built with compare.faiss, its serialised size in MB)."""
    return context.cached(f"faiss_index_{kind}", lambda: _build_index(
        context, kind, context.model.item_vectors, f"faiss_{kind}_index_{context.model.name}"))


def _build_index(context: StrategyContext, kind: str, item_vectors: np.ndarray,
                 folder_name: str) -> tuple[FaissIndex, float]:
    index = FaissIndex.build(item_vectors, kind,
                             FaissSettings.from_config(context.compare_config.faiss))
    # faiss.write_index writes local files: a remote out_dir gets a copy of the saved index.
    with paths.local_folder(context.out_dir / folder_name) as folder:
        index.save(folder)
        return FaissIndex.load(folder), index.memory_bytes() / 2**20


def faiss_tuning(context: StrategyContext, kind: str) -> FaissTuning:
    """The `kind` index's search setting tuned on the tuning users (module doc)."""
    def tune() -> FaissTuning:
        compare_config = context.compare_config
        index, _ = faiss_index(context, kind)
        k = compare_config.tuning_k
        best, trials = autotune(index, context.model.tuning_user_vectors,
                                tuning_exact_top_items(context), k,
                                compare_config.tuning_target_recall)
        return FaissTuning(best, trials)
    return context.cached(f"faiss_tuning_{kind}", tune)


def tunings_run(context: StrategyContext) -> dict[str, FaissTuning]:
    """{kind: tuning} of the tunings a configured strategy ran ("range" for the threshold)."""
    return {key.removeprefix("faiss_tuning_"): value for key, value in context.shared.items()
            if key.startswith("faiss_tuning_")}


def _tuned(context: StrategyContext, kind: str) -> Strategy | None:
    compare_config = context.compare_config
    index, index_mb = faiss_index(context, kind)
    best = faiss_tuning(context, kind).best
    if best is None:
        return None
    setting, max_k = best.setting, context.max_k
    return Strategy(f"{LABELS[kind]} (tuned)",
                    lambda users, exclusions: index.search(users, max_k, setting, exclusions,
                                                           parallel=len(users) > 1),
                    index.build_seconds, index_mb,
                    f"{index.describe(setting)}; tuned for ANN-recall@{compare_config.tuning_k} "
                    f">= {compare_config.tuning_target_recall}")


def faiss_hnsw(context: StrategyContext) -> Strategy | None:
    """FAISS HNSW with the tuned efSearch; None when no setting reached the target."""
    return _tuned(context, "hnsw")


def faiss_ivf_pq(context: StrategyContext) -> Strategy | None:
    """FAISS IVF-PQ fast scan + exact re-ranking with the tuned nprobe and k_factor; None when
    no setting reached the target."""
    return _tuned(context, "ivf_pq")


def range_index(context: StrategyContext) -> tuple[FaissIndex, float]:
    """(HNSW over the L2-normalised item vectors, its size in MB)."""
    return context.cached("faiss_index_range", lambda: _build_index(
        context, "hnsw", threshold.unit_rows(context.model.item_vectors),
        f"faiss_range_index_{context.model.name}"))


def set_recall(found, exact_mask: np.ndarray) -> float:
    """Share of the exact threshold sets' items (exact_mask [users, N + 1]) that `found` holds."""
    owner = owner_of_entries(found.offsets)
    total = int(exact_mask.sum())
    return float(exact_mask[owner, found.items].sum() / total) if total else 1.0


def range_tuning(context: StrategyContext) -> FaissTuning:
    """efSearch of the range search: the fastest of RANGE_EF_GRID whose sets recall >=
    compare.tuning_target_recall of the exact cosine > tau sets on the tuning users."""
    def tune() -> FaissTuning:
        index, _ = range_index(context)
        tau = calibrated_tau(context)
        with np.errstate(invalid="ignore"):
            exact = tuning_cosines(context) > tau  # NaN (excluded, padding) compares False
        users = threshold.unit_rows(context.model.tuning_user_vectors)
        exclusions = context.users.tuning_exclusions
        trials = []
        for ef_search in RANGE_EF_GRID:
            setting = SearchSetting(ef_search=ef_search)
            index.range_search(users, tau, setting, exclusions)  # warm-up
            started = time.perf_counter()
            found = index.range_search(users, tau, setting, exclusions)
            trials.append(TuningTrial(ef_search, None, None, set_recall(found, exact),
                                      len(users) / (time.perf_counter() - started)))
        reaching = [t for t in trials if t.ann_recall >= context.compare_config.tuning_target_recall]
        best = max(reaching, key=lambda t: t.queries_per_second) if reaching else None
        return FaissTuning(best, trials)
    return context.cached("faiss_tuning_range", tune)


def faiss_range_threshold(context: StrategyContext) -> Strategy | None:
    """cosine > tau (global tau) by FAISS HNSW range search; None when no efSearch of the grid
    reached the target set recall on the tuning users."""
    compare_config = context.compare_config
    index, index_mb = range_index(context)
    tau = calibrated_tau(context)
    best = range_tuning(context).best
    if best is None:
        return None
    setting = best.setting
    return Strategy(
        f"FAISS HNSW range search, cosine > tau (global, mean "
        f"{compare_config.threshold_mean_size})",
        lambda users, exclusions: index.range_search(threshold.unit_rows(users), tau, setting,
                                                     exclusions, parallel=len(users) > 1),
        index.build_seconds, index_mb,
        f"tau = {tau:.4f}, {index.describe(setting)}; tuned for set recall >= "
        f"{compare_config.tuning_target_recall} of the exact threshold sets")
