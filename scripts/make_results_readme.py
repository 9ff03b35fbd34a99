"""Writes experiments/README.md (or the cold-start page) from finished run folders.

    python scripts/make_results_readme.py runs/ml1m_chrono_sasrec_seeds runs/ml1m_sasrec \
        --comparison runs/compare_ml1m/comparison --ann-scale runs/ann_scale_*.json \
        --out experiments/README.md
    python scripts/make_results_readme.py --cold-start runs/cold_start --out experiments/cold_start.md

A run folder is one `python -m recall_jax.main` run, or a folder of several seeds of one config
(`--seeds`, holding seeds.json and seed_<seed>/). Every figure in the output is read from the
run folders (results.json, per_user_ranks.npz, run_summary.json, history.json, seeds.json);
nothing is typed in by hand except the published reference rows, which are labelled with
their source. Intervals are 95% bootstrap intervals over users; differences are paired.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import re
import pathlib
import shutil
import sys

import numpy as np

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from recall_jax.evaluation.bootstrap import Bootstrap  # noqa: E402
from recall_jax.evaluation.estimates import paired_difference_row  # noqa: E402
from recall_jax.evaluation.metrics import per_user_metrics  # noqa: E402
from recall_jax.evaluation.report import (DIFFERENCE_NOTE, format_difference_table,  # noqa: E402
                                          format_markdown_table)
from recall_jax.models.objectives import implied_objective  # noqa: E402
from recall_jax.train.run_report import PER_USER_FILE  # noqa: E402
from recall_jax.train.seeds import (SEEDS_FILE, format_seed_table, seed_folder,  # noqa: E402
                                   single_seed_command)

COLUMNS = ("model", "split", "HR@10", "NDCG@10", "HR@50", "NDCG@50", "HR@200", "NDCG@200", "MRR",
           "Coverage@10")
DIFFERENCE_METRICS = ("HR@10", "NDCG@10", "HR@50", "NDCG@50", "HR@200", "NDCG@200")
# Published full-ranking figures on the same protocol, for comparison (not produced here).
REFERENCES = {
    "ml-1m-chrono-all": [
        {"model": "SASRec (generative-recommenders README)", "split": "test", "HR@10": 0.2853,
         "NDCG@10": 0.1603},
        {"model": "HSTU-large (generative-recommenders README)", "split": "test", "HR@10": 0.3294,
         "NDCG@10": 0.1893},
    ],
}


def _read_json(path: pathlib.Path) -> dict | list:
    if not path.is_file():
        raise SystemExit(f"{path} not found: is {path.parent} a finished run folder?")
    return json.loads(path.read_text())


def _load_run(folder: pathlib.Path) -> dict:
    return {"folder": folder, "results": _read_json(folder / "results.json"),
            "summary": _read_json(folder / "run_summary.json"),
            "history": _read_json(folder / "history.json"),
            "config": _read_json(folder / "config.json")}


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.1f} min"


def _published_check(rows: list[dict], references: list[dict]) -> str:
    """One line: our test row's lower interval ends against the first published row."""
    ours = next((r for r in rows if r["split"] == "test" and "ci95" in r
                 and r["model"] != "popularity"), None)
    if ours is None or not references:
        return ""
    reference = references[0]
    parts = []
    for metric in ("HR@10", "NDCG@10"):
        low = ours["ci95"][metric][0]
        verdict = "clears it" if low > reference[metric] else "does not clear it"
        parts.append(f"{metric} {ours[metric]:.4f}, lower end {low:.4f} vs {reference[metric]:.4f}"
                     f" ({verdict})")
    return f"- Against {reference['model']}: " + "; ".join(parts) + "."


def run_section(folder: pathlib.Path) -> str:
    """The tables of one run, or of a multi-seed folder (its first seed's run, then the spread
    across seeds)."""
    seeds = None
    if (folder / SEEDS_FILE).is_file():
        seeds = _read_json(folder / SEEDS_FILE)
        run = _load_run(seed_folder(folder, seeds["seeds"][0]))
    else:
        run = _load_run(folder)
    results, summary, config = run["results"], run["summary"], run["config"]
    dataset = config["data"]["name"]
    references = REFERENCES.get(dataset, [])
    rows = list(results["rows"]) + references
    curve = ", ".join(f"{h['epoch']}: {h['validation/NDCG@10']:.4f}" for h in run["history"]
                      if "validation/NDCG@10" in h and (h["epoch"] % 5 == 4 or
                                                        h["epoch"] == summary["best_epoch"]))
    invocation = summary.get("invocation_seconds")
    commands = [portable(summary["command"])]
    title = results["title"]
    if config["model"]["normalize"]:
        title += ", cosine scores"
    if config["model"].get("item_tower", "id") != "id":
        title += f", {config['model']['item_tower']} item tower"
    if seeds is not None:
        commands = [portable(seeds["command"]), "# or one seed: " + portable(
            single_seed_command(seeds["command"], seeds["seeds"][0]))]
        title += f" ({len(seeds['seeds'])} seeds)"
    lines = [
        f"## {title}", "",
        f"Protocol: {results['protocol']}", "",
        "Command:", "", "```\n" + "\n".join(commands) + "\n```", "",
        f"Seed {summary['seed']}; each metric with its 95% bootstrap interval over users "
        "(rows with a source are published figures, without intervals):", "",
        format_markdown_table(rows, [c for c in COLUMNS if any(c in r for r in rows)]),
        DIFFERENCE_NOTE, "",
        format_difference_table(results["differences"], ["model", "split"], DIFFERENCE_METRICS),
    ]
    check = _published_check(results["rows"], references)
    if seeds is not None:
        lines += [f"Across seeds {', '.join(map(str, seeds['seeds']))} (mean ± sample standard "
                  "deviation of each seed's value; every seed's own table is in "
                  f"`{folder}/seed_<seed>/results.md`):", "",
                  format_seed_table(seeds, ["HR@10", "NDCG@10", "HR@200", "NDCG@200", "MRR"]),
                  f"- Wall time per seed: "
                  f"{', '.join(_minutes(s) for s in seeds['wall_seconds'])} of training and "
                  f"validation; best validation epochs {seeds['best_epochs']} of "
                  f"{seeds['epochs_run']} run.", ""]
    lines += [
        *([check] if check else []),
        f"- Wall time: {_minutes(summary['wall_seconds'])} of training and validation over "
        f"{summary['epochs_run']} of {summary['scheduled_epochs']} scheduled epochs"
        # A finished run that is only re-reported (e.g. by --seeds) times just the report.
        + (f"; {_minutes(invocation)} for the whole command (data, compilation, final "
           f"evaluation)" if invocation and invocation >= summary["wall_seconds"] else "")
        + f", on {len(summary['devices'])} device(s) ({summary['devices'][0]}), "
          f"JAX {summary['jax_version']}. The schedule, not the wall time, fixes the model"
        + (" (this run was TRUNCATED by the wall-clock safety limit)." if summary["truncated"]
           else "."),
        f"- Best validation epoch: {summary['best_epoch']}. Validation NDCG@10 by epoch "
        f"(every 5th and the best): {curve}.",
        f"- Model: {config['model']['name']}, d={config['model']['embed_dim']}, "
        f"{config['model']['num_blocks']} blocks, {config['model']['num_heads']} head(s), "
        f"max_len {config['model']['max_len']}, "
        f"{'cosine' if config['model']['normalize'] else 'dot-product'} scores; loss "
        f"{config['loss']['name']}; lr {config['optimizer']['learning_rate']}, batch "
        f"{config['train']['batch_size']}.",
        "",
    ]
    return "\n".join(lines)


def portable(command: str) -> str:
    """A recorded command made relative to the repository: this checkout's absolute path
    removed, and an absolute run folder under some runs/ shown as runs/<...>, where the
    repository's commands put it."""
    return re.sub(r"(^|[\s=])/[^\s=]*/runs/", r"\1runs/", command.replace(f"{REPO}/", ""))


def _cold_start_commands(folder: pathlib.Path) -> str:
    """The study's commands; an archived study is rerun into runs/ and archived again."""
    page = "--out experiments/cold_start.md"
    if folder.parent.parts[-2:] != ("experiments", "runs"):
        return (f"bash scripts/run_cold_start.sh {folder}\n"
                f"python scripts/make_results_readme.py --cold-start {folder} {page}")
    return (f"bash scripts/run_cold_start.sh runs/{folder.name}\n"
            f"python scripts/archive_runs.py runs/{folder.name} --to experiments/runs\n"
            f"python scripts/make_results_readme.py --cold-start {folder} {page}")


def comparison_section(folder: pathlib.Path, figures: pathlib.Path) -> str:
    """The recall-strategy tables and their two plots (copied next to the README)."""
    saved = _read_json(folder / "comparison.json")
    markdown = (folder / "comparison.md").read_text()
    tables = markdown.split("\n### ", 1)[1]
    figures.mkdir(parents=True, exist_ok=True)
    images = []
    for name in ("recall_vs_candidates.png", "ann_recall_vs_qps.png"):
        shutil.copyfile(folder / name, figures / name)
        images.append(f"![{name}](figures/{name})")
    return "\n".join([
        f"## {saved['title']}", "", f"Protocol: {saved['protocol']}", "", "Command:", "",
        f"```\n{portable(saved['command'])}\n```", "", "### " + tables.rstrip("\n"), "", *images, ""])


def _ann_scale_methods(result: dict) -> dict:
    """The result's ANN methods; a row of the earlier ScaNN-only benchmark as one method."""
    if "methods" in result:
        return result["methods"]
    best = result.get("best")
    target = str(result["target_recall"])
    return {"ScaNN": {"build_seconds": result["scann_build_seconds"],
                      "index_mib": result["scann_index_mib"], "settings": "",
                      "targets": {target: best and {
                          **best, "setting": f"leaves {best['leaves_to_search']}, reorder "
                                             f"{best['reorder']}",
                          "speedup": result.get("speedup")}}}}


def ann_scale_tables(result: dict) -> list[str]:
    """One size's markdown: top-k per method (targets, seen items), then cosine thresholds."""
    k = result["k"]
    methods = _ann_scale_methods(result)
    targets = [str(t) for t in result.get("targets", [result.get("target_recall")])]
    brute_columns = {"exact numpy": (result["numpy_qps"], result.get("numpy_excluded_qps")),
                     "exact JAX": (result["jax_qps"], result.get("jax_excluded_qps"))}
    rounded = lambda value: None if value is None else int(round(value))  # noqa: E731
    rows = []
    for name, (qps, excluded_qps) in brute_columns.items():
        row = {"method": name, "q/s, seen items filtered": rounded(excluded_qps),
               f"ANN-recall@{k}, seen items filtered": 1.0 if excluded_qps else None}
        for target in targets:
            row.update({f">= {target}: q/s": rounded(qps), f">= {target}: ANN-recall@{k}": 1.0})
        rows.append(row)
    for name, method in methods.items():
        row = {"method": name, "index": method["settings"],
               "build s": round(method["build_seconds"], 1),
               "index MiB": round(method["index_mib"], 1), "ci95": {}}
        for target in targets:
            chosen = method["targets"].get(target)
            if chosen is None:
                row[f">= {target}: setting"] = "not reached"
                continue
            recall = f">= {target}: ANN-recall@{k}"
            row.update({f">= {target}: setting": chosen["setting"], recall: chosen["ann_recall"],
                        f">= {target}: q/s": rounded(chosen["queries_per_second"])})
            if chosen.get("ann_recall_ci95"):
                row["ci95"][recall] = chosen["ann_recall_ci95"]
        excluded = method.get("exclusions") or {}
        row.update({"q/s, seen items filtered": rounded(excluded.get("queries_per_second_with")),
                    f"ANN-recall@{k}, seen items filtered": excluded.get("ann_recall_with")})
        rows.append(row)
    columns = ["method", "index", "build s", "index MiB"]
    for target in targets:
        columns += [f">= {target}: setting", f">= {target}: ANN-recall@{k}", f">= {target}: q/s"]
    columns += ["q/s, seen items filtered", f"ANN-recall@{k}, seen items filtered"]
    columns = [c for c in columns if any(r.get(c) is not None for r in rows)]
    history = result.get("history_lengths")
    lines = [f"### {result['items']:,} items, {result['queries']:,} queries", "",
             format_markdown_table(rows, columns, float_format="{:.4g}")]
    if history:
        lines[2:2] = [f"Seen items per query: median {history['median']:.0f}, 90th percentile "
                      f"{history['p90']:.0f}, max {history['max']}; the seen-item columns use "
                      f"each method's setting of the lowest target.", ""]
    if "threshold" in result:
        threshold = result["threshold"]
        sizes = threshold["exact_sizes"]
        lines += [f"Cosine > tau = {threshold['tau']:.4f} (a mean of "
                  f"{threshold['mean_size_target']} items on the tuning queries; exact sets on "
                  f"the measured queries: mean {sizes['mean']:.0f}, p95 {sizes['p95']:.0f}, max "
                  f"{sizes['max']}). FAISS range index (HNSW over the normalised items): built "
                  f"in {threshold['range_build_seconds']:.3g} s, "
                  f"{threshold['range_index_mib']:.3g} MiB.", "",
                  format_markdown_table(
                      [{**row, "setting": row["note"],
                        "queries_per_second": rounded(row["queries_per_second"]),
                        "mean_size": round(row["mean_size"], 1)} for row in threshold["rows"]],
                      ["method", "setting", "set_recall", "queries_per_second", "mean_size"],
                      float_format="{:.4g}").replace(
                      "| set_recall | queries_per_second | mean_size |",
                      "| set recall | q/s | mean set size |")]
    return lines


def ann_scale_section(paths: list[pathlib.Path]) -> str:
    """Brute force vs tuned ScaNN and FAISS at each catalogue size, from
    benchmark_ann_scale.py --json: one table of top-k methods and one of cosine thresholds per
    size."""
    results = [result for path in paths for result in _read_json(path)]
    commands = "\n".join(portable(result["command"]) for result in results)
    tables = [line for result in results for line in ann_scale_tables(result)]
    return "\n".join([
        "## Exact brute force vs tuned ScaNN and FAISS at scale", "",
        "Clustered synthetic item vectors of dimension 64 (2,000 Gaussian centres with per-cluster "
        "scales and log-normal norms), queries from the same mixture. For each ANN-recall@10 "
        "target, the fastest search setting of each index reaching it against exact top-10 "
        "(tuned on other queries), measured in the same run as brute force: ANN-recall@10 on the "
        "measured queries with its 95% bootstrap interval over queries, and queries/s. Seen "
        "items: history lengths from a log-normal fitted to MovieLens-1M's, each history drawn "
        "from the query's top-2L items; ANN indexes filter them by batched over-fetch. Cosine "
        "thresholds: set recall against the exact threshold sets. Speeds are this machine's. "
        f"Rows from {', '.join(map(str, paths))}; each size's command:", "",
        f"```\n{commands}\n```", "", *tables, ""])


def scale_section(paths: list[pathlib.Path]) -> str:
    """Training and evaluation at 10^5 and 10^6 items, from benchmark_scale.py --json files."""
    spec = importlib.util.spec_from_file_location("benchmark_scale",
                                                  REPO / "scripts" / "benchmark_scale.py")
    benchmark = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(benchmark)
    saved = [_read_json(path) for path in paths]
    cells = [cell for one in saved for cell in one["cells"]]
    commands = "\n".join(portable(one["command"]) for one in saved)
    machines = "; ".join(sorted({one["machine"] for one in saved}))
    return "\n".join([
        "## Training and full-ranking evaluation at 10^5 and 10^6 items", "",
        "Synthetic catalogues of experiments/configs/synthetic_large.py, SASRec with its item "
        "table split by rows over the mesh's model axis (checked on the live array), XLA CPU "
        "host devices standing in for accelerators (model parallelism > 1 on one CPU measures "
        "the cost of the split, not a speed-up). Each cell ran in its own process; peak RSS is "
        "that process's (training and evaluation together; evaluation alone in the cells "
        "marked \"evaluation only\"). With model parallelism 1 each of the 8 host devices holds "
        "a whole copy of the item table and its optimizer moments. Speeds are this machine's "
        f"({machines}). Rows from {', '.join(map(str, paths))}; commands:", "",
        f"```\n{commands}\n```", "",
        *benchmark.table_rows(cells), ""])


# ----------------------------------------------------------------------------------------------
# The cold-start page.
# ----------------------------------------------------------------------------------------------
COLD_START_KS = (10, 50, 200)
GROUPS = {"warm": "test (warm targets)", "cold": "test (cold targets)"}


def _cold_start_runs(folder: pathlib.Path) -> list[dict]:
    """The finished runs under a run_cold_start.sh output folder, SASRec first, towers in order."""
    order = {"id": 0, "id+text": 1, "text": 3}
    runs = [dict(_load_run(path.parent), per_user=np.load(path.parent / PER_USER_FILE))
            for path in sorted(folder.glob("*/results.json"))]
    if not runs:
        raise SystemExit(f"{folder}: no finished runs (*/results.json) found")
    runs.sort(key=lambda r: (r["config"]["model"]["name"] != "sasrec",
                             order.get(r["config"]["model"]["item_tower"], 9)
                             + (r["config"]["model"]["item_id_dropout"] > 0)))
    return runs


def _tower_label(model: dict) -> str:
    """The item tower as the tables name it, e.g. "id+text, id dropout 0.5"."""
    rate = model["item_id_dropout"]
    return f"{model['item_tower']}, id dropout {rate:g}" if rate else model["item_tower"]


def _row(results: dict, model_prefix: str, split: str) -> dict:
    for row in results["rows"]:
        if row["split"] == split and row["model"].startswith(model_prefix):
            return row
    raise SystemExit(f"{results['title']}: no {model_prefix!r} row for split {split!r}")


def _per_user(run: dict, split: str, model_label: str) -> tuple[np.ndarray, dict]:
    """(the users' dataset rows, per-user metrics) of one row of a run."""
    ranks = run["per_user"][f"{split}|{model_label}"]
    return (run["per_user"][f"{split}|users"],
            per_user_metrics(ranks, COLD_START_KS, full_ranking=True))


def _run_line(run: dict, label: str) -> str:
    """One run of a study: epochs, best epoch, time and the one-run command."""
    summary = run["summary"]
    line = (f"- {label}: {summary['epochs_run']} of {summary['scheduled_epochs']} epochs, best "
            f"{summary['best_epoch']}")
    if summary["best_epoch"] == summary["epochs_run"] - 1:
        line += " (the last: still improving)"
    if summary["truncated"]:
        line += " TRUNCATED by the wall-clock limit"
    line += f", {_minutes(summary['wall_seconds'])} training and validation"
    if summary.get("invocation_seconds"):
        line += f", {_minutes(summary['invocation_seconds'])} in all"
    return line + f"; `{portable(summary['command'])}`"


def cold_start_section(folder: pathlib.Path) -> str:
    """Warm- and cold-target tables for every item tower and behaviour encoder, with popularity
    and the text baseline, and paired differences against each encoder's id tower."""
    runs = _cold_start_runs(folder)
    metrics = [f"{m}@{k}" for k in COLD_START_KS for m in ("HR", "NDCG")]
    first = runs[0]
    eval_config = first["config"]["eval"]
    id_runs = {run["config"]["model"]["name"]: run for run in runs
               if _tower_label(run["config"]["model"]) == "id"}
    sections = {}
    for kind, split in GROUPS.items():
        rows, differences, cache = [], [], {}
        for run in runs:
            model = run["config"]["model"]
            labels = {"encoder": model["name"], "item tower": _tower_label(model)}
            row = _row(run["results"], model["name"], split)
            rows.append({**labels, **{m: row[m] for m in metrics},
                         "ci95": {m: row["ci95"][m] for m in metrics}})
            reference = id_runs.get(model["name"])
            if reference is not None and reference is not run:
                differences.append(_paired(run, reference, split, metrics, eval_config, labels,
                                           f"{model['name']} / id", cache))
        popularity = _row(first["results"], "popularity", split)
        # The training-free text baseline is the same in every run that encoded item text.
        text_rows = [row for run in runs for row in run["results"]["rows"]
                     if row["split"] == split and row["model"].startswith("text similarity")]
        for row in [popularity, *text_rows[:1]]:
            rows.append({"encoder": row["model"], "item tower": "", **{m: row[m] for m in metrics},
                         "ci95": {m: row["ci95"][m] for m in metrics}})
        sections[kind] = (rows, differences, int(popularity["num_users"]))

    encodings = []
    for stats_path in sorted((folder / "text_cache").glob("*.json")):
        stats = json.loads(stats_path.read_text())
        encodings.append(f"{stats['items']:,} item texts in {stats['seconds']:.1f} s "
                         f"({stats['items_per_second']:,.0f} items/s, {stats['pooling']} pooling, "
                         f"max {stats['max_length']} tokens, "
                         f"{'/'.join(pathlib.Path(stats['checkpoint']).parts[-2:])})")
    per_run = [_run_line(r, f"{r['config']['model']['name']} / "
                               f"{_tower_label(r['config']['model'])}") for r in runs]
    data = first["config"]["data"]
    protocol = first["results"]["protocol"].split(" Model at its best")[0]
    out = [
        f"## Cold start on {data['name']}", "",
        # The protocol shared by every run, without the first run's own epoch figures.
        f"Protocol: {protocol} A random {data['cold_start_share']:.0%} of the items (seed "
        f"{data['cold_start_seed']}) is held out of training: their interactions are removed "
        "from every training sequence and they are masked out of the training softmax, so a "
        "model first meets them at test time. Test users are split by whether their held-out "
        "target is warm or cold. Each row is the model at its best validation epoch.", "",
        "Command (every run below, then this page):", "",
        f"```\n{_cold_start_commands(folder)}\n```", ""]
    for kind, heading in (("warm", "Warm targets"), ("cold", "Cold targets")):
        rows, differences, users = sections[kind]
        out += [f"### {heading} ({users:,} test users)", "",
                "Each metric with its 95% bootstrap interval over these users:", "",
                format_markdown_table(rows, ["encoder", "item tower", *metrics]),
                f"Against the same encoder's id tower. {DIFFERENCE_NOTE}", "",
                format_difference_table(differences, ["encoder", "item tower"], metrics), ""]
    out += ["Item text: title (with year) and genres"
            + (f"; encoded once and shared by all runs: {'; '.join(encodings)}." if encodings
               else "."), "", "Runs:", "", *per_run, ""]
    return "\n".join(out)


# ----------------------------------------------------------------------------------------------
# Paired differences between whole runs (e.g. a tower against another on the same schedule).
# ----------------------------------------------------------------------------------------------
def pairs_section(pairs: list[str]) -> str:
    """For each "RUN:REFERENCE", the test difference of RUN's model against REFERENCE's, paired
    over the same users (refused when they evaluated different users)."""
    metrics = [f"{m}@{k}" for k in COLD_START_KS for m in ("HR", "NDCG")]
    rows, cache = [], {}
    for pair in pairs:
        if ":" not in pair:
            raise SystemExit(f"--pairs {pair!r}: expected RUN:REFERENCE (two run folders)")
        run, reference = (dict(_load_run(pathlib.Path(f)),
                               per_user=np.load(pathlib.Path(f) / PER_USER_FILE))
                          for f in pair.split(":", 1))
        label = _row(run["results"], run["config"]["model"]["name"], "test")["model"]
        reference_label = _row(reference["results"], reference["config"]["model"]["name"],
                               "test")["model"]
        rows.append(_paired(run, reference, "test", metrics, run["config"]["eval"],
                            {"run": f"{label} ({run['folder'].name})"},
                            f"{reference_label} ({reference['folder'].name})", cache))
    return "\n".join([
        "## Runs against runs", "",
        f"Test users; {DIFFERENCE_NOTE}", "",
        format_difference_table(rows, ["run"], metrics), ""])


# ----------------------------------------------------------------------------------------------
# Published rows reproduced (scripts/reproduce/).
# ----------------------------------------------------------------------------------------------
def published_rows() -> dict:
    """name -> Published of every script in scripts/reproduce (the figures they compare with)."""
    folder = REPO / "scripts" / "reproduce"
    sys.path.insert(0, str(folder))  # the scripts import their shared _runner
    try:
        rows = {}
        for path in sorted(folder.glob("[!_]*.py")):
            spec = importlib.util.spec_from_file_location(f"reproduce_{path.stem}", path)
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            rows[path.stem] = module.PUBLISHED
        return rows
    finally:
        sys.path.remove(str(folder))


def reproduction_section(folder: pathlib.Path) -> str:
    """One row per metric of every reproduction.json under `folder`: ours with its interval,
    the published figure, whether it lies inside our interval, and the script's wall time;
    then the published figures of the scripts not run yet, marked so."""
    records = [json.loads(path.read_text()) for path in sorted(folder.glob("*/reproduction.json"))]
    if not records:
        raise SystemExit(f"{folder}: no reproduction.json found (run scripts/reproduce/*.py)")
    lines = ["| script | source | metric | ours [95% interval] | published | inside | epochs "
             "(best) | time |", "|---|---|---|---|---|---|---|---|"]
    for record in records:
        head = [f"`{record['script']}`", record["source"]]
        tail = [f"{record['epochs_run']} ({record['best_epoch']})",
                _minutes(record["wall_seconds"])]
        for index, row in enumerate(record["comparison"]):
            cells = [*(head if index == 0 else ["", ""]), row["metric"],
                     f"{row['ours']:.4f} [{row['low']:.4f}, {row['high']:.4f}]",
                     f"{row['published']:.4f}", "yes" if row["inside"] else "NO",
                     *(tail if index == 0 else ["", ""])]
            lines.append("| " + " | ".join(cells) + " |")
    done = {record["name"] for record in records}
    for name, published in published_rows().items():
        if name in done:
            continue
        for index, (metric, value) in enumerate(published.metrics.items()):
            cells = [f"`python scripts/reproduce/{name}.py`" if index == 0 else "",
                     published.source if index == 0 else "", metric, "not run here yet",
                     f"{value:.4f}", "", "", ""]
            lines.append("| " + " | ".join(cells) + " |")
    protocols = [f"- `{r['name']}`: ours: {r['protocol']} Published: {r['published_protocol']}."
                 + (" TRUNCATED by the wall-clock limit." if r["truncated"] else "")
                 for r in records]
    return "\n".join([
        "## Published rows reproduced", "",
        "Each script trains its config (`experiments/configs/reproduce/<name>.py`, the paper's "
        "settings as far as recall_jax expresses them; each file says where it differs) and "
        "compares the test figures with the published ones. \"inside\" says whether the "
        "published figure lies inside our 95% bootstrap interval. Time: training and "
        "validation on the machine named in each run's run_summary.json.", "",
        *lines, "", "Protocols:", "", *protocols, ""])


# ----------------------------------------------------------------------------------------------
# Training throughput against PyTorch.
# ----------------------------------------------------------------------------------------------
def _rate(entry: dict) -> str:
    rate = entry["sequences_per_second"]
    return f"{rate['median']:.1f} ({rate['min']:.1f}-{rate['max']:.1f})"


def throughput_section(path: pathlib.Path) -> str:
    """The table of scripts/benchmark_train_throughput.py --json: per case, both
    implementations' sequences/s (median, min-max over the timed epochs), their ratio, and the
    GFLOP/s of each as a share of the matrix-product peak measured in the same run."""
    report = json.loads(path.read_text())
    peak = report["peak_gflops_per_second"]
    lines = ["| case | batches (widths; padding) | recall_jax seq/s | PyTorch seq/s | "
             "ratio (per epoch) | GFLOP/s recall_jax / PyTorch (of peak) |",
             "|---|---|---|---|---|---|"]
    for case in report["cases"]:
        ratio = case["ratio_jax_over_torch"]
        widths = ", ".join(map(str, case["bucket_lengths"]))
        gflops = " / ".join(f"{case[name]['gflops_per_second']['median']:.1f} "
                            f"({100 * case[name]['share_of_peak']:.0f}%)"
                            for name in ("jax", "torch"))
        lines.append(f"| ({case['letter']}) {case['title']} | [{widths}]; "
                     f"{100 * case['padding_share']:.0f}% | {_rate(case['jax'])} | "
                     f"{_rate(case['torch'])} | {ratio['of_medians']:.2f} "
                     f"({ratio['per_epoch']['min']:.2f}-{ratio['per_epoch']['max']:.2f}) | "
                     f"{gflops} |")
    notes = [f"Both implementations train the same model on the same batches, alternating "
             f"epoch by epoch after {report['warmup_epochs']} warm-up epoch(s); "
             f"{report['epochs']} timed epochs each. recall_jax: JAX {report['jax_version']} on "
             f"{report['jax_devices']} CPU devices (data-parallel); PyTorch "
             f"{report['torch_version']} with {report['threads']} threads. Matrix-product "
             f"peak of this run: {peak['max']:.0f} GFLOP/s."]
    if "default_batching_over_torch_fixed" in report:
        notes.append(f"recall_jax with its default batching (b) over PyTorch with fixed "
                     f"[128, 200] batches (a), the way the widely used PyTorch SASRec trains: "
                     f"{report['default_batching_over_torch_fixed']:.2f}.")
    return "\n".join(["## Training throughput against PyTorch", "", *lines, "", *notes, "",
                      "Regenerate with:", "", f"```\n{report['command']}\n```", ""])


# ----------------------------------------------------------------------------------------------
# The encoder x item-tower table.
# ----------------------------------------------------------------------------------------------
ENCODER_ORDER = ("sasrec", "hstu", "gru4rec", "bert4rec")
TOWER_ORDER = ("id", "id+text", "text")


def _objective(model: dict) -> str:
    """model.objective; runs saved before the field existed: the one their encoder implied."""
    return model.get("objective", implied_objective(model["name"]))


def _encoder_runs(folder: pathlib.Path) -> list[dict]:
    """The finished runs under a run_encoder_table.sh output folder, in table order."""
    runs = [dict(_load_run(path.parent), per_user=np.load(path.parent / PER_USER_FILE))
            for path in sorted(folder.glob("*/results.json"))]
    if not runs:
        raise SystemExit(f"{folder}: no finished runs (*/results.json) found")

    def order(run):
        model = run["config"]["model"]
        encoder = model["name"]
        return (ENCODER_ORDER.index(encoder) if encoder in ENCODER_ORDER else len(ENCODER_ORDER),
                encoder, TOWER_ORDER.index(model["item_tower"])
                if model["item_tower"] in TOWER_ORDER else len(TOWER_ORDER))
    return sorted(runs, key=order)


def _paired(run: dict, reference: dict, split: str, metrics, bootstrap_config: dict, labels: dict,
            reference_label: str, bootstrap_cache: dict) -> dict:
    """Paired bootstrap difference of `run` against `reference` on the same users."""
    name = run["config"]["model"]["name"]
    users, values = _per_user(run, split, _row(run["results"], name, split)["model"])
    reference_name = reference["config"]["model"]["name"]
    reference_users, reference_values = _per_user(
        reference, split, _row(reference["results"], reference_name, split)["model"])
    if not np.array_equal(users, reference_users):
        raise SystemExit(f"{run['folder']} and {reference['folder']} evaluated different users "
                         f"for {split!r}: not comparable")
    if "bootstrap" not in bootstrap_cache:
        bootstrap_cache["bootstrap"] = Bootstrap.draw(
            len(users), bootstrap_config["bootstrap_resamples"],
            bootstrap_config["bootstrap_seed"])
    return paired_difference_row(labels, reference_label, values, reference_values,
                                 bootstrap_cache["bootstrap"], metrics)


def encoder_table_section(folder: pathlib.Path, commands: str | None = None) -> str:
    """Test metrics of every encoder x item tower with intervals, paired differences of each
    text tower against its encoder's id tower and of every row against SASRec's id tower."""
    runs = _encoder_runs(folder)
    metrics = [f"{m}@{k}" for k in COLD_START_KS for m in ("HR", "NDCG")]
    split = "test"
    first = runs[0]
    eval_config = first["config"]["eval"]
    id_runs = {r["config"]["model"]["name"]: r for r in runs
               if _tower_label(r["config"]["model"]) == "id"}
    rows, tower_differences, encoder_differences, cache = [], [], [], {}
    for run in runs:
        model = run["config"]["model"]
        labels = {"encoder": model["name"], "item tower": _tower_label(model)}
        row = _row(run["results"], model["name"], split)
        rows.append({**labels, **{m: row[m] for m in metrics},
                     "ci95": {m: row["ci95"][m] for m in metrics}})
        reference = id_runs.get(model["name"])
        if reference is not None and reference is not run:
            tower_differences.append(_paired(run, reference, split, metrics, eval_config, labels,
                                             f"{model['name']} / id", cache))
        baseline = id_runs.get("sasrec")
        if baseline is not None and baseline is not run:
            encoder_differences.append(_paired(run, baseline, split, metrics, eval_config,
                                               labels, "sasrec / id", cache))
    popularity = _row(first["results"], "popularity", split)
    rows.append({"encoder": "popularity", "item tower": "", **{m: popularity[m] for m in metrics},
                 "ci95": {m: popularity["ci95"][m] for m in metrics}})
    per_run = [_run_line(r, f"{r['config']['model']['name']} "
                               f"({_objective(r['config']['model'])}) / "
                               f"{_tower_label(r['config']['model'])}") for r in runs]
    data = first["config"]["data"]
    protocol = first["results"]["protocol"].split(" Model at its best")[0]
    commands = commands or (f"bash scripts/run_encoder_table.sh runs/{folder.name}\n"
                            f"python scripts/archive_runs.py runs/{folder.name} --to "
                            "experiments/runs")
    return "\n".join([
        f"## Behaviour encoders x item towers on {data['name']}", "",
        f"Protocol: {protocol} One seed per row, the same budget for every row "
        f"({first['summary']['scheduled_epochs']} scheduled epochs, early stopping on validation "
        "NDCG@10); each row is the model at its best validation epoch.", "",
        f"```\n{commands}\n```", "",
        f"Test users ({int(popularity['num_users']):,}), each metric with its 95% bootstrap "
        "interval:", "",
        format_markdown_table(rows, ["encoder", "item tower", *metrics]),
        f"Item text against the same encoder's id tower. {DIFFERENCE_NOTE}", "",
        format_difference_table(tower_differences, ["encoder", "item tower"], metrics),
        "Every row against SASRec with the id tower:", "",
        format_difference_table(encoder_differences, ["encoder", "item tower"], metrics),
        "Runs:", "", *per_run, ""])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="*", type=pathlib.Path,
                        help="finished run folders (or multi-seed folders)")
    parser.add_argument("--comparison", type=pathlib.Path, default=None,
                        help="a comparison/ folder written by python -m recall_jax.compare")
    parser.add_argument("--ann-scale", type=pathlib.Path, nargs="+", default=None,
                        help="JSON files written by scripts/benchmark_ann_scale.py --json")
    parser.add_argument("--scale", type=pathlib.Path, nargs="+", default=None,
                        help="JSON files written by scripts/benchmark_scale.py --json")
    parser.add_argument("--cold-start", type=pathlib.Path, default=None,
                        help="an output folder of scripts/run_cold_start.sh")
    parser.add_argument("--pairs", nargs="+", default=None,
                        help="RUN:REFERENCE pairs of run folders, compared on the same users")
    parser.add_argument("--reproductions", type=pathlib.Path, default=None,
                        help="a folder of scripts/reproduce/*.py run folders")
    parser.add_argument("--throughput", type=pathlib.Path, default=None,
                        help="the --json of scripts/benchmark_train_throughput.py")
    parser.add_argument("--encoders", type=pathlib.Path, default=None,
                        help="an output folder of scripts/run_encoder_table.sh")
    parser.add_argument("--out", type=pathlib.Path, default=None, help="default: stdout")
    args = parser.parse_args()
    command = " ".join(["python scripts/make_results_readme.py", *map(str, args.runs)]
                       + ([f"--comparison {args.comparison}"] if args.comparison else [])
                       + ([f"--ann-scale {' '.join(map(str, args.ann_scale))}"]
                          if args.ann_scale else [])
                       + ([f"--scale {' '.join(map(str, args.scale))}"] if args.scale else [])
                       + ([f"--cold-start {args.cold_start}"] if args.cold_start else [])
                       + ([f"--encoders {args.encoders}"] if args.encoders else [])
                       + ([f"--pairs {' '.join(args.pairs)}"] if args.pairs else [])
                       + ([f"--reproductions {args.reproductions}"] if args.reproductions
                          else [])
                       + ([f"--throughput {args.throughput}"] if args.throughput else [])
                       + [f"--out {args.out or 'experiments/README.md'}"])
    header = [
        "# Experiment results" if args.runs or args.comparison else "# Cold-start results",
        "",
        "Produced by `scripts/make_results_readme.py` from the run folders named below; rerun the",
        "commands to regenerate them, then",
        "",
        f"```\n{command}\n```",
        "",
        "Every quality figure carries its 95% bootstrap interval over users (1,000 resamples); "
        "differences between rows evaluated on the same users are paired bootstrap intervals, "
        "and ≈ marks those whose interval contains 0. Each protocol line names the seen-item "
        "policy and the share of test targets that repeat a history item.",
        "",
    ]
    if args.runs:
        header += [
            "Rows labelled with a source are published figures on the same protocol, for "
            "comparison. HR@K equals Recall@K here (one held-out item per user).",
            "",
        ]
    out_folder = args.out.parent if args.out else pathlib.Path("experiments")
    cold_start_page = out_folder / "cold_start.md"
    if args.cold_start is None and cold_start_page.is_file():
        header += ["The cold-start study (warm and cold targets for every item tower and both "
                   "behaviour encoders) has its own page: [cold_start.md](cold_start.md)."
                   + ("" if "bootstrap" in cold_start_page.read_text() else
                      " That page predates bootstrap intervals and the named seen-item policy "
                      "(ML-1M has no test target that repeats a history item, so its figures "
                      "are the same under every policy); `bash scripts/run_cold_start.sh` and "
                      "`--cold-start` regenerate it with intervals."), ""]
    header.append("")
    text = "\n".join(header) + "\n".join(run_section(folder) for folder in args.runs)
    if args.comparison is not None:
        text += "\n" + comparison_section(args.comparison, out_folder / "figures")
    if args.ann_scale is not None:
        text += "\n" + ann_scale_section(args.ann_scale)
    if args.scale is not None:
        text += "\n" + scale_section(args.scale)
    if args.encoders is not None:
        text += "\n" + encoder_table_section(args.encoders)
    if args.pairs is not None:
        text += "\n" + pairs_section(args.pairs)
    if args.reproductions is not None:
        text += "\n" + reproduction_section(args.reproductions)
    if args.throughput is not None:
        text += "\n" + throughput_section(args.throughput)
    if args.cold_start is not None:
        text += "\n" + cold_start_section(args.cold_start)
    if args.out is None:
        print(text)
    else:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
