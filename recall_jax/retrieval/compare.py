"""All recall strategies on one trained model, the same users and the same metrics.

Given the test users' vectors and the item vectors of a trained two-tower model, runs exact
top-K (dot product and cosine), `jax.lax.approx_max_k`, ScaNN (configured and auto-tuned),
global / per-user cosine thresholds, the ScaNN-then-threshold hybrid, popularity and item-CF,
and writes one table (markdown, CSV, JSON) plus two plots:
* recall of the candidate set vs mean candidate count (threshold sweeps against top-K);
* ANN-recall@10 vs queries/s (ScaNN settings, approx_max_k, exact).
"""

from __future__ import annotations

import csv
import dataclasses
import json
import pathlib
import time
from collections.abc import Callable

import numpy as np

from recall_jax.data.dataset import offsets_from_owners, owner_of_entries
from recall_jax.evaluation.candidate_metrics import ann_recall_at_k, candidate_metrics
from recall_jax.evaluation.report import format_markdown_table
from recall_jax.retrieval import threshold
from recall_jax.retrieval.baselines import popularity_scores
from recall_jax.retrieval.candidates import Candidates
from recall_jax.retrieval.exact import approx_top_k, exact_top_k, top_k_of_scores
from recall_jax.retrieval.item_cf import item_cf_top_k, item_similarity
from recall_jax.retrieval.scann_index import ScannIndex, ScannSettings, autotune


@dataclasses.dataclass
class Inputs:
    """Everything a comparison needs; exclusions are each user's history minus its target."""

    user_vectors: np.ndarray  # [num_users, dim]
    item_vectors: np.ndarray  # [num_items + 1, dim], row 0 padding
    targets: np.ndarray  # [num_users]
    exclude_offsets: np.ndarray | None
    exclude_items: np.ndarray | None
    history_offsets: np.ndarray  # the users' histories (for item-CF)
    history_items: np.ndarray
    train_offsets: np.ndarray  # training sequences (popularity, item-CF)
    train_items: np.ndarray
    tuning_user_vectors: np.ndarray  # other users (validation) to tune ScaNN and tau on
    tuning_exclude_offsets: np.ndarray | None = None  # and their exclusions
    tuning_exclude_items: np.ndarray | None = None

    @property
    def num_items(self) -> int:
        return len(self.item_vectors) - 1


def exclusions_without_targets(offsets: np.ndarray, items: np.ndarray, targets: np.ndarray
                               ) -> tuple[np.ndarray, np.ndarray]:
    """Histories with each user's own target removed, so a repeated target stays rankable."""
    owner = owner_of_entries(offsets)
    keep = items != targets[owner]
    return offsets_from_owners(owner[keep], len(offsets) - 1), items[keep]


@dataclasses.dataclass
class Measured:
    name: str
    candidates: Candidates
    queries_per_second: float
    latency_ms_p50: float
    latency_ms_p99: float
    build_seconds: float
    memory_mb: float
    note: str = ""


def _time_strategy(query: Callable[[np.ndarray, slice | None], Candidates], num_users: int,
                   latency_users: np.ndarray) -> tuple[Candidates, float, float, float]:
    """Batched run over all users for QPS, single-user runs for latency; each after a warm-up
    pass (compilation for every shape met, caches, thread pools)."""
    query(None, None)
    started = time.perf_counter()
    candidates = query(None, None)
    qps = num_users / (time.perf_counter() - started)
    for passes in range(2):
        latencies = []
        for user in latency_users:
            single = slice(int(user), int(user) + 1)
            started = time.perf_counter()
            query(None, single)
            latencies.append(1000 * (time.perf_counter() - started))
    return candidates, qps, float(np.percentile(latencies, 50)), float(np.percentile(latencies, 99))


def _slice_rows(offsets, items, users: slice | None):
    """The CSR rows of `users` (all when None), re-based to start at 0."""
    if users is None:
        return offsets, items
    part = offsets[users.start:users.stop + 1]
    return part - part[0], items[part[0]:part[-1]]


def _slice_exclusions(inputs: Inputs, users: slice | None):
    """(exclusion offsets, exclusion items, user vectors) of `users` (all when None)."""
    vectors = inputs.user_vectors if users is None else inputs.user_vectors[users]
    if inputs.exclude_offsets is None:
        return None, None, vectors
    return (*_slice_rows(inputs.exclude_offsets, inputs.exclude_items, users), vectors)


def run_comparison(inputs: Inputs, settings, out_dir: str | pathlib.Path, title: str,
                   protocol: str, command: str, mesh=None) -> list[dict]:
    """Measures every strategy; writes comparison.{md,csv,json} and two PNGs into out_dir.
    With a mesh, exact top-K splits each chunk of users over its devices."""
    out_dir = pathlib.Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    ks = tuple(settings.ks)
    max_k = max(ks)
    num_users = len(inputs.user_vectors)
    rng = np.random.default_rng(settings.seed)
    latency_users = rng.choice(num_users, min(settings.latency_queries, num_users), replace=False)
    item_bytes = inputs.item_vectors.nbytes / 2**20
    measured: list[Measured] = []

    def add(name, query, build_seconds, memory_mb, note=""):
        candidates, qps, p50, p99 = _time_strategy(query, num_users, latency_users)
        measured.append(Measured(name, candidates, qps, p50, p99, build_seconds, memory_mb, note))
        return candidates

    # Exact top-K by dot product: the ground truth.
    def exact_query(_, users, k=max_k):
        offsets, items, vectors = _slice_exclusions(inputs, users)
        return exact_top_k(vectors, inputs.item_vectors, k, offsets, items, mesh=mesh)
    exact = add("exact top-K (dot)", exact_query, 0.0, item_bytes)
    exact_top = exact.padded(max_k)

    def approx_query(_, users):
        offsets, items, vectors = _slice_exclusions(inputs, users)
        return approx_top_k(vectors, inputs.item_vectors, max_k, settings.approx_recall_target,
                            offsets, items)
    add(f"approx_max_k (target {settings.approx_recall_target})", approx_query, 0.0, item_bytes)

    # ScaNN: as configured, then tuned on other users to reach the target ANN recall@10.
    configured = ScannSettings.from_config(settings.scann)
    index = ScannIndex.build(inputs.item_vectors, configured, k=max_k)
    index.save(out_dir / "scann_index")
    index_mb = index.memory_bytes(out_dir / "scann_index") / 2**20
    index = ScannIndex.load(out_dir / "scann_index")

    def scann_query(leaves=None, reorder=None):
        def query(_, users):
            offsets, items, vectors = _slice_exclusions(inputs, users)
            return index.search(vectors, max_k, leaves, reorder, offsets, items,
                                parallel=users is None)
        return query
    add("ScaNN (configured)", scann_query(), index.build_seconds, index_mb,
        f"leaves {configured.num_leaves_to_search}/{configured.num_leaves}, "
        f"reorder {configured.reorder}")
    tuning_exact = exact_top_k(inputs.tuning_user_vectors, inputs.item_vectors,
                               settings.tuning_k).padded(settings.tuning_k)
    # Brute force in the tuning setting (k = tuning_k, no history filter): the speed reference
    # for the ScaNN trials in the ANN-recall vs queries/s plot.
    exact_top_k(inputs.tuning_user_vectors, inputs.item_vectors, settings.tuning_k, mesh=mesh)
    started = time.perf_counter()
    exact_top_k(inputs.tuning_user_vectors, inputs.item_vectors, settings.tuning_k, mesh=mesh)
    tuning_exact_qps = len(inputs.tuning_user_vectors) / (time.perf_counter() - started)
    best, trials = autotune(index, inputs.tuning_user_vectors, tuning_exact, settings.tuning_k,
                            settings.tuning_target_recall)
    if best is not None:
        add("ScaNN (tuned)", scann_query(best.leaves_to_search, max(best.reorder, max_k)),
            index.build_seconds, index_mb,
            f"leaves {best.leaves_to_search}/{min(configured.num_leaves, index.num_items // 2)}, "
            f"reorder {max(best.reorder, max_k)}; tuned for ANN-recall@{settings.tuning_k} >= "
            f"{settings.tuning_target_recall}")

    # Cosine: exact top-K by cosine, then thresholds sized to a target mean count.
    def cosine_top_query(_, users):
        offsets, items, vectors = _slice_exclusions(inputs, users)
        return exact_top_k(threshold.unit_rows(vectors), threshold.unit_rows(inputs.item_vectors),
                           max_k, offsets, items)
    add("exact top-K (cosine)", cosine_top_query, 0.0, item_bytes)

    tuning_cosines = _tuning_cosines(inputs)
    size = settings.threshold_mean_size
    tau = threshold.tau_for_mean_size(tuning_cosines, size)
    z = threshold.z_for_mean_size(tuning_cosines, size)
    oversized = settings.oversized_factor * size

    def global_tau_query(_, users):
        offsets, items, vectors = _slice_exclusions(inputs, users)
        return threshold.cosine_threshold(vectors, inputs.item_vectors, tau, offsets, items)
    add(f"cosine > tau (global, mean {size})", global_tau_query, 0.0, item_bytes,
        f"tau = {tau:.4f}")

    def per_user_query(_, users):
        offsets, items, vectors = _slice_exclusions(inputs, users)
        taus = threshold.per_user_taus(vectors, inputs.item_vectors, z, offsets, items)
        return threshold.cosine_threshold(vectors, inputs.item_vectors, taus, offsets, items)
    add(f"cosine > tau_u (per-user z, mean {size})", per_user_query, 0.0, item_bytes,
        f"tau_u = mean_u + {z:.3f} std_u")

    hybrid_k = settings.hybrid_k_max
    leaves = best.leaves_to_search if best is not None else None

    def hybrid_query(_, users):
        offsets, items, vectors = _slice_exclusions(inputs, users)
        found = index.search(vectors, hybrid_k, leaves, max(hybrid_k, configured.reorder),
                             offsets, items, parallel=users is None)
        return threshold.filter_by_cosine(found, vectors, inputs.item_vectors, tau)
    add(f"ScaNN top-{hybrid_k} then cosine > tau", hybrid_query, index.build_seconds, index_mb,
        f"tau = {tau:.4f}")

    # Baselines without a model.
    popularity = popularity_scores(inputs.train_items, inputs.num_items)

    def popularity_query(_, users):
        offsets, items, vectors = _slice_exclusions(inputs, users)
        count = len(vectors)
        return top_k_of_scores(np.broadcast_to(popularity, (count, len(popularity))), max_k,
                               offsets, items)
    add("popularity", popularity_query, 0.0, popularity.nbytes / 2**20)

    started = time.perf_counter()
    similarity = item_similarity(inputs.train_offsets, inputs.train_items, inputs.num_items,
                                 settings.item_cf_neighbours or None)
    item_cf_build = time.perf_counter() - started

    def item_cf_query(users, recent=None):
        offsets, items, _vectors = _slice_exclusions(inputs, users)
        history_offsets, history_items = _slice_rows(inputs.history_offsets,
                                                     inputs.history_items, users)
        return item_cf_top_k(similarity, history_offsets, history_items, max_k, offsets, items,
                             recent=recent)
    add("item-CF (co-occurrence cosine)", lambda _, users: item_cf_query(users), item_cf_build,
        similarity.nbytes / 2**20)
    recent = settings.get("item_cf_recent", 0)
    if recent:
        add(f"item-CF (last {recent} items)", lambda _, users: item_cf_query(users, recent),
            item_cf_build, similarity.nbytes / 2**20)

    rows = []
    for entry in measured:
        metrics = candidate_metrics(entry.candidates, inputs.targets, ks,
                                    num_items=inputs.num_items, exact_top_items=exact_top,
                                    max_set_size=oversized)
        rows.append({"strategy": entry.name, **metrics, "QPS": entry.queries_per_second,
                     "p50_ms": entry.latency_ms_p50, "p99_ms": entry.latency_ms_p99,
                     "build_s": entry.build_seconds, "memory_MB": entry.memory_mb,
                     "note": entry.note})

    sweep = threshold_sweep(inputs, settings.sweep_sizes, tuning_cosines)
    _write_outputs(rows, sweep, trials, measured, exact_top, settings, out_dir, title, protocol,
                   command, oversized, tuning_exact_qps)
    return rows


def _tuning_cosines(inputs: Inputs) -> np.ndarray:
    """Cosines of the tuning users, with their own exclusions applied (as at query time)."""
    return np.concatenate([c for _, _, c in threshold.cosine_chunks(
        inputs.tuning_user_vectors, inputs.item_vectors, inputs.tuning_exclude_offsets,
        inputs.tuning_exclude_items)])


def threshold_sweep(inputs: Inputs, exact_top_k_sizes, tuning_cosines: np.ndarray | None = None
                    ) -> list[dict]:
    """Set recall vs mean set size for global tau, per-user tau and top-K at the same sizes."""
    if tuning_cosines is None:
        tuning_cosines = _tuning_cosines(inputs)
    largest = max(exact_top_k_sizes)
    dot_top = exact_top_k(inputs.user_vectors, inputs.item_vectors, largest,
                          inputs.exclude_offsets, inputs.exclude_items)
    cosine_top = exact_top_k(threshold.unit_rows(inputs.user_vectors),
                             threshold.unit_rows(inputs.item_vectors), largest,
                             inputs.exclude_offsets, inputs.exclude_items)
    points = []
    for size in exact_top_k_sizes:
        tau = threshold.tau_for_mean_size(tuning_cosines, size)
        z = threshold.z_for_mean_size(tuning_cosines, size)
        global_sets = threshold.cosine_threshold(inputs.user_vectors, inputs.item_vectors, tau,
                                                 inputs.exclude_offsets, inputs.exclude_items)
        taus = threshold.per_user_taus(inputs.user_vectors, inputs.item_vectors, z,
                                       inputs.exclude_offsets, inputs.exclude_items)
        user_sets = threshold.cosine_threshold(inputs.user_vectors, inputs.item_vectors, taus,
                                               inputs.exclude_offsets, inputs.exclude_items)
        for name, candidates in (("cosine > tau (global)", global_sets),
                                 ("cosine > tau_u (per user)", user_sets)):
            metrics = candidate_metrics(candidates, inputs.targets, (size,),
                                        num_items=inputs.num_items)
            points.append({"strategy": name, "target_size": size,
                           "mean_size": metrics["SetSizeMean"], "recall": metrics["SetRecall"],
                           "empty_share": metrics["EmptyShare"]})
        for name, top in (("top-K (dot)", dot_top), ("top-K (cosine)", cosine_top)):
            hits = np.mean(np.any(top.padded(size) == inputs.targets[:, None], axis=1))
            points.append({"strategy": name, "target_size": size, "mean_size": float(size),
                           "recall": float(hits), "empty_share": 0.0})
    return points


def table_columns(ks) -> list[str]:
    first = min(ks)
    return (["strategy"] + [f"{m}@{k}" for k in ks for m in ("HR", "NDCG")]
            + [f"Precision@{first}", "MRR", f"Coverage@{first}", f"Gini@{first}", "SetRecall",
               "SetSizeMean", "SetSizeP50", "SetSizeP95", "EmptyShare", "OversizedShare"]
            + [f"ANNRecall@{k}" for k in ks]
            + ["QPS", "p50_ms", "p99_ms", "build_s", "memory_MB", "note"])


def _write_outputs(rows, sweep, trials, measured, exact_top, settings, out_dir, title, protocol,
                   command, oversized, tuning_exact_qps):
    columns = [c for c in table_columns(settings.ks) if any(c in r for r in rows)]
    table = format_markdown_table(rows, columns, float_format="{:.4g}")
    (out_dir / "comparison.md").write_text(
        f"# {title}\n\nProtocol: {protocol} Set sizes above {oversized:g} count as oversized. "
        f"QPS: all users in one batched call; latency: single-user calls.\n\n"
        f"Regenerate with:\n\n```\n{command}\n```\n\n{table}")
    with open(out_dir / "comparison.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    (out_dir / "comparison.json").write_text(json.dumps(
        {"title": title, "protocol": protocol, "command": command, "rows": rows,
         "threshold_sweep": sweep, "tuning_exact_qps": tuning_exact_qps,
         "scann_trials": [dataclasses.asdict(t) for t in trials]}, indent=1))
    _plot(sweep, trials, measured, exact_top, out_dir, settings, tuning_exact_qps)


def _plot(sweep, trials, measured, exact_top, out_dir, settings, tuning_exact_qps):
    import matplotlib  # noqa: PLC0415
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    figure, axis = plt.subplots(figsize=(5.5, 4))
    for name in dict.fromkeys(p["strategy"] for p in sweep):
        points = [p for p in sweep if p["strategy"] == name]
        axis.plot([p["mean_size"] for p in points], [p["recall"] for p in points], marker="o",
                  label=name)
    axis.set_xscale("log")
    axis.set_xlabel("mean candidate-set size")
    axis.set_ylabel("recall of the candidate set")
    axis.grid(alpha=0.3)
    axis.legend()
    figure.tight_layout()
    figure.savefig(out_dir / "recall_vs_candidates.png", dpi=150)
    plt.close(figure)

    figure, axis = plt.subplots(figsize=(5.5, 4))
    k = settings.tuning_k
    axis.scatter([t.queries_per_second for t in trials], [t.ann_recall for t in trials],
                 label=f"ScaNN settings (validation users, top-{k}, no history filter)",
                 alpha=0.6)
    axis.scatter([tuning_exact_qps], [1.0], marker="s", s=60, color="black",
                 label=f"exact (validation users, top-{k}, no history filter)")
    max_k = max(settings.ks)
    for entry in measured:
        if entry.name.startswith(("exact top-K (dot)", "approx_max_k", "ScaNN (")):
            recall = ann_recall_at_k(entry.candidates, exact_top, k)
            axis.scatter([entry.queries_per_second], [recall], marker="*", s=120,
                         label=f"{entry.name} (test users, top-{max_k}, history filtered)")
    axis.set_xscale("log")
    axis.set_xlabel("queries / s (batched)")
    axis.set_ylabel(f"ANN recall@{k} vs exact")
    axis.grid(alpha=0.3)
    axis.legend(fontsize=6)
    figure.tight_layout()
    figure.savefig(out_dir / "ann_recall_vs_qps.png", dpi=150)
    plt.close(figure)
