"""The recall strategies on trained models, the same users and the same metrics.

Given the test users' vectors and the item vectors of one or more trained two-tower models (a
dot-product model and a cosine model, so that "threshold vs top-K" and "cosine vs dot" can be
told apart), runs on each model the strategies compare.strategies names (by default: exact
top-K, the model's own ground truth; exact top-K by cosine for a dot-product model;
`jax.lax.approx_max_k`; ScaNN as configured and auto-tuned; FAISS HNSW and IVF-PQ auto-tuned;
global / per-user cosine thresholds, the ScaNN-then-threshold hybrid and the FAISS range-search
threshold; see `strategies.STRATEGIES`), then the
model-free baselines compare.baselines names (popularity, item-CF). Writes one report
(markdown, CSV, JSON) and two plots:
* recall of the candidate set vs mean candidate count (threshold sweeps against top-K);
* ANN-recall@10 vs queries/s (ScaNN and FAISS settings tried by the tunings, approx_max_k,
  exact).

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
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from etils import epath

from recall_jax import paths
from recall_jax.core.candidates import Candidates
from recall_jax.errors import ConfigError
from recall_jax.evaluation import metrics as metric_functions
from recall_jax.evaluation.bootstrap import Bootstrap
from recall_jax.evaluation.estimates import paired_difference_row, with_intervals
from recall_jax.evaluation.protocol import Exclusions
from recall_jax.evaluation.report import (DIFFERENCE_NOTE, format_difference_table,
                                          format_markdown_table)
from recall_jax.retrieval import threshold
from recall_jax.retrieval.exact import exact_top_k
from recall_jax.retrieval.exact_strategies import EXACT
from recall_jax.retrieval.faiss_strategies import LABELS as FAISS_LABELS, tunings_run
from recall_jax.retrieval.scann_strategies import tuning_if_run
from recall_jax.retrieval.strategies import (BASELINES, REFERENCE, STRATEGIES, BaselineFactory,
                                             StrategyFactory)
from recall_jax.retrieval.strategy_context import (BaselineContext, EvaluatedUsers, ModelVectors,
                                                   StrategyContext)
from recall_jax.retrieval.threshold_strategies import tuning_cosines

BASELINE_MODEL = "none (baseline)"  # the model column of the model-free rows


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
    """Builds strategies, times them and keeps what was measured."""

    def __init__(self, users: EvaluatedUsers, compare_config):
        rng = np.random.default_rng(compare_config.seed)
        self.latency_users = rng.choice(
            users.num_users, min(compare_config.latency_queries, users.num_users), replace=False)
        self.num_users = users.num_users
        self.exclusions = users.exclusions
        self.repeats = compare_config.timing_repeats
        self.measured: list[Measured] = []

    def run(self, model: str, factories: Sequence[StrategyFactory] | Sequence[BaselineFactory],
            context: StrategyContext | BaselineContext,
            users_of: Callable[[slice | None], Any]) -> None:
        """Builds each factory's strategy from `context` and times those that apply; the query
        of a strategy gets users_of(users) and those users' exclusions."""
        for factory in factories:
            strategy = factory(context)
            if strategy is None:
                continue

            def query(part, strategy=strategy):
                return strategy.query(users_of(part), _rows(self.exclusions, part))
            candidates, rates, p50, p99 = _time_strategy(query, self.num_users,
                                                         self.latency_users, self.repeats)
            self.measured.append(Measured(model, strategy.name, candidates, rates, p50, p99,
                                          strategy.build_seconds, strategy.memory_mb,
                                          strategy.note))

    def candidates(self, model: str, name: str) -> Candidates:
        return next(m.candidates for m in self.measured if (m.model, m.name) == (model, name))


def configured_factories(compare_config
                         ) -> tuple[list[StrategyFactory], list[BaselineFactory]]:
    """The factories compare.strategies and compare.baselines name; a ConfigError for an
    unknown name, or when the reference "exact" is missing."""
    if REFERENCE not in compare_config.strategies:
        raise ConfigError(f"config.compare.strategies={tuple(compare_config.strategies)!r}: "
                          f"must include {REFERENCE!r}, every other strategy's reference")
    return ([STRATEGIES.get(name) for name in compare_config.strategies],
            [BASELINES.get(name) for name in compare_config.baselines])


def run_comparison(models: list[ModelVectors], users: EvaluatedUsers, compare_config,
                   bootstrap: Bootstrap, out_dir: epath.PathLike, title: str, protocol: str,
                   command: str, mesh=None) -> list[dict]:
    """Measures the configured strategies on every model, then the baselines; writes
    comparison.{md,csv,json} and two PNGs into out_dir. With a mesh, exact top-K splits users
    over its devices."""
    strategies, baselines = configured_factories(compare_config)
    out_dir = paths.as_path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if bootstrap.num_users != users.num_users:
        raise ValueError(f"bootstrap over {bootstrap.num_users} users, comparison of "
                         f"{users.num_users}")
    runner = _Runner(users, compare_config)
    trials, tuning_qps, sweeps, faiss_trials = {}, {}, [], {}
    for model in models:
        context = StrategyContext(model, users, compare_config, out_dir, mesh)
        runner.run(model.name, strategies, context,
                   lambda part, vectors=model.user_vectors: _vectors(vectors, part))
        sweeps += threshold_sweep(model, users, compare_config.sweep_sizes,
                                  tuning_cosines(context))
        tuning = tuning_if_run(context)
        if tuning is not None:
            trials[model.name], tuning_qps[model.name] = (tuning.trials,
                                                          tuning.exact_queries_per_second)
        if tunings_run(context):
            faiss_trials[model.name] = tunings_run(context)
    runner.run(BASELINE_MODEL, baselines,
               BaselineContext(users, models[0].num_items, compare_config), lambda part: part)
    max_k = max(compare_config.ks)
    exact_tops = {m.name: runner.candidates(m.name, EXACT).padded(max_k) for m in models}
    oversized = compare_config.oversized_factor * compare_config.threshold_mean_size
    rows, differences = _tables(runner.measured, exact_tops, models[0], users.targets,
                                compare_config.ks, oversized, bootstrap)
    _write_outputs(rows, differences, sweeps, trials, runner.measured, exact_tops, compare_config,
                   out_dir, title, protocol, command, oversized, tuning_qps, bootstrap,
                   faiss_trials)
    return rows


def _tables(measured: list[Measured], exact_tops: dict[str, np.ndarray], first: ModelVectors,
            targets: np.ndarray, ks, oversized: float, bootstrap: Bootstrap
            ) -> tuple[list[dict], list[dict]]:
    """(one row of metrics per measured strategy, the paired differences of each strategy
    against its model's exact top-K; baselines against the first model's)."""
    rows, differences, per_user = [], [], {}
    for entry in measured:
        reference_model = entry.model if entry.model in exact_tops else first.name
        values, extra = _strategy_values(entry.candidates, targets, ks, first.num_items,
                                         exact_tops[reference_model], oversized, bootstrap)
        per_user[(entry.model, entry.name)] = values
        rates = entry.queries_per_second
        rows.append(with_intervals({"model": entry.model, "strategy": entry.name}, values,
                                   bootstrap, extra)
                    | {"QPS": float(np.median(rates)), "QPS_min": float(min(rates)),
                       "QPS_max": float(max(rates)), "p50_ms": entry.latency_ms_p50,
                       "p99_ms": entry.latency_ms_p99, "build_s": entry.build_seconds,
                       "memory_MB": entry.memory_mb, "note": entry.note,
                       "ann_reference": f"{reference_model} model's {EXACT}"})
    for entry in measured:
        reference_model = entry.model if entry.model in exact_tops else first.name
        if (entry.model, entry.name) == (reference_model, EXACT):
            continue
        differences.append(paired_difference_row(
            {"model": entry.model, "strategy": entry.name}, f"{reference_model}: {EXACT}",
            per_user[(entry.model, entry.name)], per_user[(reference_model, EXACT)], bootstrap,
            quality_columns(ks)))
    return rows, differences


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
                   title, protocol, command, oversized, tuning_qps, bootstrap, faiss_trials):
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
                          for name, model_trials in trials.items()},
         # {model: {"hnsw" | "ivf_pq" | "range": {"best": trial or None, "trials": [...]}}};
         # "range": set recall of the range search against the exact threshold sets.
         "faiss_trials": {name: {kind: dataclasses.asdict(tuning) for kind, tuning in
                                 tunings.items()} for name, tunings in faiss_trials.items()}},
        indent=1))
    _plot(sweep, trials, measured, exact_tops, out_dir, compare_config, tuning_qps, faiss_trials)


def _save_figure(figure, path: epath.Path) -> None:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=150)
    path.write_bytes(buffer.getvalue())


def _plot(sweep, trials, measured, exact_tops, out_dir, compare_config, tuning_qps,
          faiss_trials):
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
    for marker, (name, tunings) in zip("o^sv", faiss_trials.items()):
        for kind, color in (("hnsw", "tab:green"), ("ivf_pq", "tab:purple")):
            if kind in tunings:
                axis.scatter([t.queries_per_second for t in tunings[kind].trials],
                             [t.ann_recall for t in tunings[kind].trials], marker=marker,
                             alpha=0.4, color=color,
                             label=f"{name} model: {FAISS_LABELS[kind]} settings (validation "
                                   f"users, top-{k})")
    tuned = tuple(f"{label} (tuned)" for label in FAISS_LABELS.values())
    for entry in measured:
        if entry.model in exact_tops and entry.name.startswith(
                (EXACT, "approx_max_k", "ScaNN (") + tuned) \
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
