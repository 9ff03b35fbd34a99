"""All recall strategies on trained models, the same users and the same metrics.

Given the test users' vectors and the item vectors of one or more trained two-tower models (a
dot-product model and a cosine model, so that "threshold vs top-K" and "cosine vs dot" can be
told apart), runs on each model: exact top-K (the model's own ground truth), exact top-K by
cosine (for a dot-product model), `jax.lax.approx_max_k`, ScaNN as configured and auto-tuned,
global / per-user cosine thresholds and the ScaNN-then-threshold hybrid; then the model-free
baselines popularity and item-CF. Writes one report (markdown, CSV, JSON) and two plots:
* recall of the candidate set vs mean candidate count (threshold sweeps against top-K);
* ANN-recall@10 vs queries/s (ScaNN compare_config, approx_max_k, exact).

Every quality figure carries a 95% bootstrap interval over users, and each strategy is compared
with its model's exact top-K by a paired bootstrap. Speed figures (queries/s, latency) depend on
the machine and are reported as measured, with the spread over repeated timings.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import time
from collections.abc import Callable

import numpy as np
from etils import epath

from recall_jax import paths
from recall_jax.evaluation import metrics as metric_functions
from recall_jax.evaluation.bootstrap import Bootstrap
from recall_jax.evaluation.estimates import paired_difference_row, with_intervals
from recall_jax.evaluation.protocol import Exclusions
from recall_jax.evaluation.report import (DIFFERENCE_NOTE, format_difference_table,
                                          format_markdown_table)
from recall_jax.retrieval import threshold
from recall_jax.retrieval.baselines import popularity_ranking
from recall_jax.core.candidates import Candidates
from recall_jax.retrieval.exact import approx_top_k, exact_top_k
from recall_jax.retrieval.item_cf import item_cf_top_k, item_similarity
from recall_jax.retrieval.scann_index import ScannIndex, ScannSettings, autotune

BASELINES = "none (baseline)"  # the model column of the model-free rows
EXACT = "exact top-K"


@dataclasses.dataclass
class ModelVectors:
    """One trained model's vectors for the comparison's users."""

    name: str  # e.g. "dot" or "cosine", the model column of the tables
    user_vectors: np.ndarray  # [num_users, dim], the evaluated (test) users
    item_vectors: np.ndarray  # [num_items + 1, dim], row 0 padding
    tuning_user_vectors: np.ndarray  # other users (validation) to tune ScaNN and tau on
    normalized: bool  # vectors of a cosine model: dot products are cosines / temperature

    @property
    def num_items(self) -> int:
        return len(self.item_vectors) - 1


@dataclasses.dataclass
class EvaluatedUsers:
    """What the comparison knows of its users besides any model."""

    targets: np.ndarray  # [num_users]
    exclusions: Exclusions | None  # removed from every strategy's candidates (seen-item policy)
    history_offsets: np.ndarray  # the users' histories (item-CF)
    history_items: np.ndarray
    train_offsets: np.ndarray  # training sequences (popularity, item-CF)
    train_items: np.ndarray
    tuning_exclusions: Exclusions | None  # the tuning users' exclusions

    @property
    def num_users(self) -> int:
        return len(self.targets)


@dataclasses.dataclass
class Measured:
    model: str
    name: str
    candidates: Candidates
    queries_per_second: list[float]  # one per timed batched pass
    latency_ms_p50: float
    latency_ms_p99: float
    build_seconds: float
    memory_mb: float
    note: str = ""


Query = Callable[[slice | None], Candidates]  # users (None: all) -> their candidates


def _rows(exclusions: Exclusions | None, users: slice | None) -> Exclusions | None:
    return exclusions if exclusions is None or users is None else exclusions.rows(users)


def _vectors(vectors: np.ndarray, users: slice | None) -> np.ndarray:
    return vectors if users is None else vectors[users]


def _time_strategy(query: Query, num_users: int, latency_users: np.ndarray, repeats: int
                   ) -> tuple[Candidates, list[float], float, float]:
    """`repeats` batched passes over all users for queries/s, then single-user calls for
    latency; each after a warm-up pass (compilation for every shape met, caches, threads)."""
    candidates = query(None)
    rates = []
    for _ in range(repeats):
        started = time.perf_counter()
        candidates = query(None)
        rates.append(num_users / (time.perf_counter() - started))
    for _ in range(2):
        latencies = []
        for user in latency_users:
            single = slice(int(user), int(user) + 1)
            started = time.perf_counter()
            query(single)
            latencies.append(1000 * (time.perf_counter() - started))
    return (candidates, rates, float(np.percentile(latencies, 50)),
            float(np.percentile(latencies, 99)))


class _Runner:
    """Times strategies and keeps what was measured."""

    def __init__(self, num_users: int, compare_config):
        rng = np.random.default_rng(compare_config.seed)
        self.latency_users = rng.choice(num_users, min(compare_config.latency_queries, num_users),
                                        replace=False)
        self.num_users = num_users
        self.repeats = compare_config.timing_repeats
        self.measured: list[Measured] = []

    def add(self, model: str, name: str, query: Query, build_seconds: float, memory_mb: float,
            note: str = "") -> Candidates:
        candidates, rates, p50, p99 = _time_strategy(query, self.num_users, self.latency_users,
                                                     self.repeats)
        self.measured.append(Measured(model, name, candidates, rates, p50, p99, build_seconds,
                                      memory_mb, note))
        return candidates


def _model_strategies(runner: _Runner, model: ModelVectors, users: EvaluatedUsers, compare_config,
                      out_dir: epath.Path, mesh) -> tuple[np.ndarray, list, float, np.ndarray]:
    """Runs every model-based strategy on one model. Returns (its exact top lists
    [num_users, max_k], the ScaNN tuning trials, the exact queries/s in the tuning setting, the
    tuning users' cosines)."""
    max_k = max(compare_config.ks)
    item_mb = model.item_vectors.nbytes / 2**20
    items = model.item_vectors
    label = model.name

    def exact_query(part):
        return exact_top_k(_vectors(model.user_vectors, part), items, max_k,
                           _rows(users.exclusions, part), mesh=mesh)
    exact_top = runner.add(label, EXACT, exact_query, 0.0, item_mb).padded(max_k)

    if not model.normalized:
        def cosine_top_query(part):
            return exact_top_k(threshold.unit_rows(_vectors(model.user_vectors, part)),
                               threshold.unit_rows(items), max_k, _rows(users.exclusions, part),
                               mesh=mesh)
        runner.add(label, "exact top-K by cosine", cosine_top_query, 0.0, item_mb,
                   "the dot-product model's vectors ranked by cosine")

        def approx_query(part):
            return approx_top_k(_vectors(model.user_vectors, part), items, max_k,
                                compare_config.approx_recall_target, _rows(users.exclusions, part))
        runner.add(label, f"approx_max_k (target {compare_config.approx_recall_target})",
                   approx_query, 0.0, item_mb)

    # ScaNN: as configured, then tuned on other users to reach the target ANN recall@k.
    configured = ScannSettings.from_config(compare_config.scann)
    index = ScannIndex.build(items, configured, k=max_k)
    # ScaNN writes local folders only: a remote out_dir gets a copy of the saved index.
    with paths.local_folder(out_dir / f"scann_index_{label}") as index_folder:
        index.save(index_folder)
        index_mb = index.memory_bytes(index_folder) / 2**20
        index = ScannIndex.load(index_folder)

    def scann_query(leaves=None, reorder=None):
        def query(part):
            return index.search(_vectors(model.user_vectors, part), max_k, leaves, reorder,
                                _rows(users.exclusions, part), parallel=part is None)
        return query
    runner.add(label, "ScaNN (configured)", scann_query(), index.build_seconds, index_mb,
               f"leaves {configured.num_leaves_to_search}/{configured.num_leaves}, "
               f"reorder {configured.reorder}")
    tuning_k = compare_config.tuning_k
    tuning_exact = exact_top_k(model.tuning_user_vectors, items, tuning_k).padded(tuning_k)
    # Brute force in the tuning setting (k = tuning_k, no seen-item filter): the speed
    # reference for the ScaNN trials in the ANN-recall vs queries/s plot.
    exact_top_k(model.tuning_user_vectors, items, tuning_k, mesh=mesh)
    started = time.perf_counter()
    exact_top_k(model.tuning_user_vectors, items, tuning_k, mesh=mesh)
    tuning_exact_qps = len(model.tuning_user_vectors) / (time.perf_counter() - started)
    best, trials = autotune(index, model.tuning_user_vectors, tuning_exact, tuning_k,
                            compare_config.tuning_target_recall)
    if best is not None:
        runner.add(label, "ScaNN (tuned)",
                   scann_query(best.leaves_to_search, max(best.reorder, max_k)),
                   index.build_seconds, index_mb,
                   f"leaves {best.leaves_to_search}/"
                   f"{min(configured.num_leaves, index.num_items // 2)}, reorder "
                   f"{max(best.reorder, max_k)}; tuned for ANN-recall@{tuning_k} >= "
                   f"{compare_config.tuning_target_recall}")

    # Cosine thresholds sized to a target mean candidate count on the tuning users.
    tuning_cosines = _tuning_cosines(model, users)
    size = compare_config.threshold_mean_size
    tau = threshold.tau_for_mean_size(tuning_cosines, size)
    z = threshold.z_for_mean_size(tuning_cosines, size)

    def global_tau_query(part):
        return threshold.cosine_threshold(_vectors(model.user_vectors, part), items, tau,
                                          _rows(users.exclusions, part))
    runner.add(label, f"cosine > tau (global, mean {size})", global_tau_query, 0.0, item_mb,
               f"tau = {tau:.4f}")

    def per_user_query(part):
        vectors, exclusions = _vectors(model.user_vectors, part), _rows(users.exclusions, part)
        taus = threshold.per_user_taus(vectors, items, z, exclusions)
        return threshold.cosine_threshold(vectors, items, taus, exclusions)
    runner.add(label, f"cosine > tau_u (per-user z, mean {size})", per_user_query, 0.0, item_mb,
               f"tau_u = mean_u + {z:.3f} std_u")

    hybrid_k = compare_config.hybrid_k_max
    leaves = best.leaves_to_search if best is not None else None

    def hybrid_query(part):
        vectors = _vectors(model.user_vectors, part)
        found = index.search(vectors, hybrid_k, leaves, max(hybrid_k, configured.reorder),
                             _rows(users.exclusions, part), parallel=part is None)
        return threshold.filter_by_cosine(found, vectors, items, tau)
    runner.add(label, f"ScaNN top-{hybrid_k} then cosine > tau", hybrid_query,
               index.build_seconds, index_mb, f"tau = {tau:.4f}")
    return exact_top, trials, tuning_exact_qps, tuning_cosines


def _baseline_strategies(runner: _Runner, users: EvaluatedUsers, num_items: int, compare_config
                         ) -> None:
    max_k = max(compare_config.ks)

    def popularity_query(part):
        count = users.num_users if part is None else part.stop - part.start
        result = popularity_ranking(users.train_items, num_items, None,
                                    _rows(users.exclusions, part), num_users=count, max_k=max_k)
        return Candidates.from_dense(result.top_items, result.top_scores)
    runner.add(BASELINES, "popularity", popularity_query, 0.0, (num_items + 1) * 4 / 2**20)

    started = time.perf_counter()
    similarity = item_similarity(users.train_offsets, users.train_items, num_items,
                                 compare_config.item_cf_neighbours or None)
    item_cf_build = time.perf_counter() - started

    def item_cf_query(part, recent=None):
        offsets, items = users.history_offsets, users.history_items
        if part is not None:
            rows = Exclusions(offsets, items).rows(part)
            offsets, items = rows.offsets, rows.items
        return item_cf_top_k(similarity, offsets, items, max_k, _rows(users.exclusions, part),
                             recent=recent)
    runner.add(BASELINES, "item-CF (co-occurrence cosine)", item_cf_query, item_cf_build,
               similarity.nbytes / 2**20)
    if compare_config.item_cf_recent:
        runner.add(BASELINES, f"item-CF (last {compare_config.item_cf_recent} items)",
                   lambda part: item_cf_query(part, compare_config.item_cf_recent), item_cf_build,
                   similarity.nbytes / 2**20)


def run_comparison(models: list[ModelVectors], users: EvaluatedUsers, compare_config,
                   bootstrap: Bootstrap, out_dir: epath.PathLike, title: str, protocol: str,
                   command: str, mesh=None) -> list[dict]:
    """Measures every strategy on every model, then the baselines; writes comparison.{md,csv,
    json} and two PNGs into out_dir. With a mesh, exact top-K splits users over its devices."""
    out_dir = paths.as_path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if bootstrap.num_users != users.num_users:
        raise ValueError(f"bootstrap over {bootstrap.num_users} users, comparison of "
                         f"{users.num_users}")
    runner = _Runner(users.num_users, compare_config)
    exact_tops, trials, tuning_qps, sweeps = {}, {}, {}, []
    for model in models:
        exact_tops[model.name], trials[model.name], tuning_qps[model.name], cosines = \
            _model_strategies(runner, model, users, compare_config, out_dir, mesh)
        sweeps += threshold_sweep(model, users, compare_config.sweep_sizes, cosines)
    _baseline_strategies(runner, users, models[0].num_items, compare_config)

    oversized = compare_config.oversized_factor * compare_config.threshold_mean_size
    rows, differences, per_user = [], [], {}
    for entry in runner.measured:
        reference_model = entry.model if entry.model in exact_tops else models[0].name
        values, extra = _strategy_values(entry.candidates, users.targets, compare_config.ks,
                                         models[0].num_items, exact_tops[reference_model],
                                         oversized, bootstrap)
        per_user[(entry.model, entry.name)] = values
        rates = entry.queries_per_second
        rows.append(with_intervals({"model": entry.model, "strategy": entry.name}, values,
                                   bootstrap, extra)
                    | {"QPS": float(np.median(rates)), "QPS_min": float(min(rates)),
                       "QPS_max": float(max(rates)), "p50_ms": entry.latency_ms_p50,
                       "p99_ms": entry.latency_ms_p99, "build_s": entry.build_seconds,
                       "memory_MB": entry.memory_mb, "note": entry.note,
                       "ann_reference": f"{reference_model} model's {EXACT}"})
    for entry in runner.measured:
        reference_model = entry.model if entry.model in exact_tops else models[0].name
        if (entry.model, entry.name) == (reference_model, EXACT):
            continue
        differences.append(paired_difference_row(
            {"model": entry.model, "strategy": entry.name}, f"{reference_model}: {EXACT}",
            per_user[(entry.model, entry.name)], per_user[(reference_model, EXACT)], bootstrap,
            quality_columns(compare_config.ks)))
    _write_outputs(rows, differences, sweeps, trials, runner.measured, exact_tops, compare_config,
                   out_dir, title, protocol, command, oversized, tuning_qps, bootstrap)
    return rows


def _strategy_values(candidates: Candidates, targets: np.ndarray, ks, num_items: int,
                     exact_top: np.ndarray, oversized: float, bootstrap: Bootstrap):
    """(per-user metrics, {set-level metric: (value, interval)}) of one strategy's candidates."""
    positions = candidates.positions_of(targets)
    values = metric_functions.per_user_metrics(positions, ks, full_ranking=False)
    sizes = candidates.sizes().astype(np.float64)
    values["SetRecall"] = (positions >= 0).astype(np.float64)
    values["SetSizeMean"] = sizes
    values["EmptyShare"] = (sizes == 0).astype(np.float64)
    values["OversizedShare"] = (sizes > oversized).astype(np.float64)
    extra = {}
    for k in ks:
        top = candidates.padded(k)
        values[f"ANNRecall@{k}"] = metric_functions.per_user_ann_recall(top, exact_top, k)
        extra[f"Coverage@{k}"] = (metric_functions.catalogue_coverage_at_k(top, k, num_items),
                                  bootstrap.coverage_interval(top, k, num_items))
        extra[f"Gini@{k}"] = (metric_functions.exposure_gini(top, num_items),
                              bootstrap.gini_interval(top, k, num_items))
    for name, quantile in (("SetSizeP50", 0.5), ("SetSizeP95", 0.95)):
        extra[name] = (float(np.percentile(sizes, 100 * quantile, method="inverted_cdf")),
                       bootstrap.quantile_interval(sizes, quantile))
    return values, extra


def _tuning_cosines(model: ModelVectors, users: EvaluatedUsers) -> np.ndarray:
    """Cosines of the tuning users, with their own exclusions applied (as at query time)."""
    return np.concatenate([c for _, _, c in threshold.cosine_chunks(
        model.tuning_user_vectors, model.item_vectors, users.tuning_exclusions)])


def threshold_sweep(model: ModelVectors, users: EvaluatedUsers, sizes,
                    tuning_cosines: np.ndarray) -> list[dict]:
    """Set recall vs mean set size for global tau, per-user tau and top-K at the same sizes."""
    largest = max(sizes)
    tops = {"top-K (dot)": exact_top_k(model.user_vectors, model.item_vectors, largest,
                                       users.exclusions)}
    if not model.normalized:
        tops["top-K (cosine)"] = exact_top_k(threshold.unit_rows(model.user_vectors),
                                             threshold.unit_rows(model.item_vectors), largest,
                                             users.exclusions)
    points = []
    for size in sizes:
        tau = threshold.tau_for_mean_size(tuning_cosines, size)
        z = threshold.z_for_mean_size(tuning_cosines, size)
        global_sets = threshold.cosine_threshold(model.user_vectors, model.item_vectors, tau,
                                                 users.exclusions)
        taus = threshold.per_user_taus(model.user_vectors, model.item_vectors, z,
                                       users.exclusions)
        user_sets = threshold.cosine_threshold(model.user_vectors, model.item_vectors, taus,
                                               users.exclusions)
        for name, candidates in (("cosine > tau (global)", global_sets),
                                 ("cosine > tau_u (per user)", user_sets)):
            sizes_found = candidates.sizes()
            points.append({"model": model.name, "strategy": name, "target_size": size,
                           "mean_size": float(sizes_found.mean()),
                           "recall": float(np.mean(candidates.positions_of(users.targets) >= 0)),
                           "empty_share": float(np.mean(sizes_found == 0))})
        for name, top in tops.items():
            hits = np.mean(np.any(top.padded(size) == users.targets[:, None], axis=1))
            points.append({"model": model.name, "strategy": name, "target_size": size,
                           "mean_size": float(size), "recall": float(hits),
                           "empty_share": 0.0})
    return points


def quality_columns(ks) -> list[str]:
    return [f"{metric}@{k}" for k in ks for metric in ("HR", "NDCG")]


def candidate_set_columns(ks) -> list[str]:
    return (["SetRecall", "SetSizeMean", "SetSizeP50", "SetSizeP95", "EmptyShare",
             "OversizedShare"] + [f"ANNRecall@{k}" for k in ks])


def _write_outputs(rows, differences, sweep, trials, measured, exact_tops, compare_config, out_dir,
                   title, protocol, command, oversized, tuning_qps, bootstrap):
    ks = compare_config.ks
    first = min(ks)
    labels = ["model", "strategy"]
    quality = labels + quality_columns(ks) + [f"MRR@{first}", f"Coverage@{first}",
                                              f"Gini@{first}"]
    sets = labels + candidate_set_columns(ks)
    cost_rows = [{"model": r["model"], "strategy": r["strategy"],
                  "queries/s (median)": r["QPS"],
                  "queries/s (min-max)": f"{r['QPS_min']:.4g}-{r['QPS_max']:.4g}",
                  "p50 ms": r["p50_ms"], "p99 ms": r["p99_ms"], "build s": r["build_s"],
                  "memory MB": r["memory_MB"], "note": r["note"]} for r in rows]
    cost = list(cost_rows[0])
    markdown = "\n\n".join([
        f"# {title}",
        f"Protocol: {protocol} Set sizes above {oversized:g} count as oversized.",
        f"Regenerate with:\n\n```\n{command}\n```",
        f"### Quality (95% bootstrap intervals over the {bootstrap.num_users:,} users, "
        f"{bootstrap.num_resamples} resamples)",
        format_markdown_table(rows, quality).rstrip("\n"),
        f"### Each strategy against its model's {EXACT}",
        DIFFERENCE_NOTE + " The baselines are compared with the first model's "
        f"{EXACT}.",
        format_difference_table(differences, labels, quality_columns(ks)).rstrip("\n"),
        "### Candidate sets (ANN recall against the model's own exact top-K)",
        format_markdown_table(rows, sets, float_format="{:.4g}").rstrip("\n"),
        f"### Cost (measured on this machine: {compare_config.timing_repeats} batched passes over "
        f"all users for queries/s, {min(compare_config.latency_queries, bootstrap.num_users)} "
        "single-user calls, twice, for latency)",
        format_markdown_table(cost_rows, cost, float_format="{:.4g}").rstrip("\n"),
    ]) + "\n"
    (out_dir / "comparison.md").write_text(markdown)
    columns = labels + [c for c in dict.fromkeys(
        quality[2:] + sets[2:] + ["QPS", "QPS_min", "QPS_max", "p50_ms", "p99_ms", "build_s",
                                  "memory_MB", "note"]) if any(c in r for r in rows)]
    table = io.StringIO(newline="")
    writer = csv.DictWriter(table, fieldnames=columns, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    (out_dir / "comparison.csv").write_text(table.getvalue())
    (out_dir / "comparison.json").write_text(json.dumps(
        {"title": title, "protocol": protocol, "command": command, "rows": rows,
         "differences": differences, "threshold_sweep": sweep,
         "tuning_exact_qps": tuning_qps,
         "scann_trials": {name: [dataclasses.asdict(t) for t in model_trials]
                          for name, model_trials in trials.items()}}, indent=1))
    _plot(sweep, trials, measured, exact_tops, out_dir, compare_config, tuning_qps)


def _save_figure(figure, path: epath.Path) -> None:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=150)
    path.write_bytes(buffer.getvalue())


def _plot(sweep, trials, measured, exact_tops, out_dir, compare_config, tuning_qps):
    import matplotlib  # noqa: PLC0415
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    figure, axis = plt.subplots(figsize=(6, 4.2))
    for key in dict.fromkeys((p["model"], p["strategy"]) for p in sweep):
        points = [p for p in sweep if (p["model"], p["strategy"]) == key]
        axis.plot([p["mean_size"] for p in points], [p["recall"] for p in points], marker="o",
                  label=f"{key[0]} model: {key[1]}",
                  linestyle="-" if key[0] == next(iter(exact_tops)) else "--")
    axis.set_xscale("log")
    axis.set_xlabel("mean candidate-set size")
    axis.set_ylabel("recall of the candidate set")
    axis.grid(alpha=0.3)
    axis.legend(fontsize=7)
    figure.tight_layout()
    _save_figure(figure, out_dir / "recall_vs_candidates.png")
    plt.close(figure)

    figure, axis = plt.subplots(figsize=(6, 4.2))
    k = compare_config.tuning_k
    max_k = max(compare_config.ks)
    for marker, (name, model_trials) in zip("o^sv", trials.items()):
        axis.scatter([t.queries_per_second for t in model_trials],
                     [t.ann_recall for t in model_trials], marker=marker, alpha=0.5,
                     label=f"{name} model: ScaNN settings (validation users, top-{k})")
        axis.scatter([tuning_qps[name]], [1.0], marker=marker, s=70, color="black",
                     label=f"{name} model: exact (validation users, top-{k})")
    for entry in measured:
        if entry.model in exact_tops and entry.name.startswith((EXACT, "approx_max_k", "ScaNN (")) \
                and entry.name != "exact top-K by cosine":
            recall = metric_functions.ann_recall_at_k(entry.candidates.padded(k),
                                                      exact_tops[entry.model], k)
            axis.scatter([float(np.median(entry.queries_per_second))], [recall], marker="*",
                         s=110, label=f"{entry.model} model: {entry.name} (test users, "
                                      f"top-{max_k}, seen items filtered)")
    axis.set_xscale("log")
    axis.set_xlabel("queries / s (batched)")
    axis.set_ylabel(f"ANN recall@{k} vs exact")
    axis.grid(alpha=0.3)
    axis.legend(fontsize=5)
    figure.tight_layout()
    _save_figure(figure, out_dir / "ann_recall_vs_qps.png")
    plt.close(figure)
