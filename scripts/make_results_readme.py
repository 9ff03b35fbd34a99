"""Writes experiments/README.md from finished run folders (results.json, run_summary.json, history.json).

    python scripts/make_results_readme.py runs/ml1m_chrono_sasrec runs/ml1m_sasrec \
        --out experiments/README.md

Every figure in the output is read from the run folders; nothing is typed in by hand except the
published reference rows, which are labelled with their source.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import shutil
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

from recall_jax.evaluation.report import format_markdown_table  # noqa: E402

COLUMNS = ("model", "split", "HR@10", "NDCG@10", "HR@50", "NDCG@50", "HR@200", "NDCG@200", "MRR",
           "Coverage@10")
# Published full-ranking figures on the same protocol, for comparison (not produced here).
REFERENCES = {
    "ml-1m-chrono-all": [
        {"model": "SASRec (generative-recommenders README)", "split": "test", "HR@10": 0.2853,
         "NDCG@10": 0.1603},
        {"model": "HSTU-large (generative-recommenders README)", "split": "test", "HR@10": 0.3294,
         "NDCG@10": 0.1893},
    ],
}


def run_section(folder: pathlib.Path) -> str:
    results = json.loads((folder / "results.json").read_text())
    summary = json.loads((folder / "run_summary.json").read_text())
    history = json.loads((folder / "history.json").read_text())
    config = json.loads((folder / "config.json").read_text())
    dataset = config["data"]["name"]
    rows = list(results["rows"]) + REFERENCES.get(dataset, [])
    curve = ", ".join(f"{h['epoch']}: {h['validation/NDCG@10']:.4f}" for h in history
                      if "validation/NDCG@10" in h and (h["epoch"] % 5 == 4 or
                                                        h["epoch"] == summary["best_epoch"]))
    invocation = summary.get("invocation_seconds")
    lines = [
        f"## {results['title']}",
        "",
        f"Protocol: {results['protocol']}",
        "",
        "Command:",
        "",
        f"```\n{summary['command'] or results['command']}\n```",
        "",
        format_markdown_table(rows, [c for c in COLUMNS if any(c in r for r in rows)]),
        f"- Wall time: {summary['wall_seconds'] / 60:.1f} min of training and validation over "
        f"{summary['epochs_run']} epochs"
        + (f"; {invocation / 60:.1f} min for the whole command (data, compilation, final "
           f"evaluation)" if invocation else "")
        + f", on {len(summary['devices'])} device(s) ({summary['devices'][0]}), "
          f"JAX {summary['jax_version']}.",
        f"- Best validation epoch: {summary['best_epoch']}. Validation NDCG@10 by epoch "
        f"(every 5th and the best): {curve}.",
        f"- Model: {config['model']['name']}, d={config['model']['embed_dim']}, "
        f"{config['model']['num_blocks']} blocks, {config['model']['num_heads']} head(s), "
        f"max_len {config['model']['max_len']}; loss {config['loss']['name']}; "
        f"lr {config['optimizer']['learning_rate']}, batch {config['train']['batch_size']}.",
        "",
    ]
    return "\n".join(lines)


def comparison_section(folder: pathlib.Path, figures: pathlib.Path) -> str:
    """The recall-strategy table and its two plots (copied next to the README)."""
    saved = json.loads((folder / "comparison.json").read_text())
    table = (folder / "comparison.md").read_text().split("\n| ", 1)[1]
    figures.mkdir(parents=True, exist_ok=True)
    images = []
    for name in ("recall_vs_candidates.png", "ann_recall_vs_qps.png"):
        shutil.copyfile(folder / name, figures / name)
        images.append(f"![{name}](figures/{name})")
    return "\n".join([
        f"## {saved['title']}", "", f"Protocol: {saved['protocol']}", "", "Command:", "",
        f"```\n{saved['command']}\n```", "", "| " + table, "", *images, ""])


def ann_scale_section(path: pathlib.Path) -> str:
    """Brute force vs tuned ScaNN at each catalogue size, from benchmark_ann_scale.py --json."""
    results = json.loads(path.read_text())
    rows = []
    for result in results:
        best = result.get("best") or {}
        rows.append({"items": f"{result['items']:,}", "queries": result.get("queries"),
                     "exact numpy q/s": result["numpy_qps"],
                     "exact JAX q/s": result["jax_qps"],
                     "ScaNN build s": result["scann_build_seconds"],
                     "ScaNN index MiB": result["scann_index_mib"],
                     "tuned leaves / reorder": (f"{best['leaves_to_search']} / {best['reorder']}"
                                                if best else "target not reached"),
                     "ANN-recall@10": best.get("ann_recall"),
                     "ScaNN q/s": best.get("queries_per_second"),
                     "speed-up vs brute force": result.get("speedup")})
    columns = list(rows[0])
    commands = "\n".join(
        f"python scripts/benchmark_ann_scale.py --sizes {r['items']} --queries "
        f"{r.get('queries', 1000)} --json <file>" for r in results)
    return "\n".join([
        "## Exact brute force vs tuned ScaNN at scale", "",
        "Clustered synthetic item vectors of dimension 64 (2,000 Gaussian centres with per-cluster "
        "scales and log-normal norms), queries from the same mixture; the fastest ScaNN search "
        "setting reaching ANN-recall@10 >= 0.95 against exact top-10, measured in the same run as "
        f"brute force. Rows from {path}; each size's command:", "",
        f"```\n{commands}\n```", "",
        format_markdown_table(rows, columns, float_format="{:.4g}"), ""])


COLD_START_KS = (10, 50, 200)


def _cold_start_runs(folder: pathlib.Path) -> list[dict]:
    """The finished runs under a run_cold_start.sh output folder, SASRec first, towers in order."""
    order = {"id": 0, "id+text": 1, "text": 3}
    runs = []
    for results_path in sorted(folder.glob("*/results.json")):
        run = results_path.parent
        config = json.loads((run / "config.json").read_text())
        runs.append({"folder": run, "config": config,
                     "results": json.loads(results_path.read_text()),
                     "summary": json.loads((run / "run_summary.json").read_text())})
    if not runs:
        raise SystemExit(f"{folder}: no finished runs (*/results.json) found")
    runs.sort(key=lambda r: (r["config"]["model"]["name"] != "sasrec",
                             order.get(r["config"]["model"].get("item_tower", "id"), 9)
                             + (r["config"]["model"].get("item_id_dropout", 0.0) > 0)))
    return runs


def _tower_label(model: dict) -> str:
    """The item tower as the tables name it, e.g. "id+text, id dropout 0.5"."""
    tower = model.get("item_tower", "id")
    rate = model.get("item_id_dropout", 0.0)
    return f"{tower}, id dropout {rate:g}" if rate else tower


def _row(results: dict, model_prefix: str, split: str) -> dict:
    for row in results["rows"]:
        if row["split"] == split and row["model"].startswith(model_prefix):
            return row
    raise SystemExit(f"{results['title']}: no {model_prefix!r} row for split {split!r}")


def cold_start_section(folder: pathlib.Path) -> str:
    """Warm- and cold-target tables for every item tower and behaviour encoder, with popularity."""
    runs = _cold_start_runs(folder)
    groups = {"warm": "test (warm targets)", "cold": "test (cold targets)"}
    metrics = [f"{m}@{k}" for k in COLD_START_KS for m in ("HR", "NDCG")]
    # Each encoder's id-only run is the reference for the relative warm NDCG@10.
    id_only = {run["config"]["model"]["name"]:
               _row(run["results"], run["config"]["model"]["name"], groups["warm"])["NDCG@10"]
               for run in runs if _tower_label(run["config"]["model"]) == "id"}
    tables, lines = {}, []
    for kind, split in groups.items():
        rows = []
        for run in runs:
            model = run["config"]["model"]
            row = _row(run["results"], model["name"], split)
            entry = {"encoder": model["name"], "item tower": _tower_label(model),
                     **{m: row[m] for m in metrics}}
            if kind == "warm":
                reference = id_only.get(model["name"])
                entry["NDCG@10 vs id"] = (f"{(entry['NDCG@10'] / reference - 1) * 100:+.1f}%"
                                          if reference else "")
            rows.append(entry)
        popularity = _row(runs[0]["results"], "popularity", split)
        baselines = [("popularity", popularity)]
        # The training-free text baseline is the same in every run that encoded item text.
        text_baseline = next((row for run in runs for row in run["results"]["rows"]
                              if row["split"] == split
                              and row["model"].startswith("text similarity")), None)
        if text_baseline is not None:
            baselines.append((text_baseline["model"], text_baseline))
        for name, row in baselines:
            rows.append({"encoder": name, "item tower": "", **{m: row[m] for m in metrics},
                         **({"NDCG@10 vs id": ""} if kind == "warm" else {})})
        tables[kind] = (rows, int(popularity["num_users"]))
    cold_rows = tables["cold"][0]
    references = [(r["encoder"], r["NDCG@10"]) for r in cold_rows if r["item tower"] == ""]
    for row in cold_rows:
        if row["item tower"] not in ("id", ""):
            against = "; ".join(
                f"{name} {value:.4f}" + (f" ({row['NDCG@10'] / value:.1f}x)" if value > 0 else "")
                for name, value in references)
            lines.append(f"- {row['encoder']} ({row['item tower']}): cold NDCG@10 "
                         f"{row['NDCG@10']:.4f}; {against}.")
    first = runs[0]
    data = first["config"]["data"]
    encodings = []
    for stats_path in sorted((folder / "text_cache").glob("*.json")):
        stats = json.loads(stats_path.read_text())
        encodings.append(f"{stats['items']:,} item texts in {stats['seconds']:.1f} s "
                         f"({stats['items_per_second']:,.0f} items/s, {stats['pooling']} pooling, "
                         f"max {stats['max_length']} tokens, "
                         f"{'/'.join(pathlib.Path(stats['checkpoint']).parts[-2:])})")
    per_run = [f"- {r['config']['model']['name']} / {_tower_label(r['config']['model'])}: "
               f"{r['summary']['epochs_run']} epochs, best {r['summary']['best_epoch']}"
               + (" (the last: still improving)"
                  if r['summary']['best_epoch'] == r['summary']['epochs_run'] - 1 else "")
               + ", "
               f"{r['summary']['wall_seconds'] / 60:.1f} min training and validation, "
               f"{(r['summary'].get('invocation_seconds') or 0) / 60:.1f} min in all; "
               f"`{r['summary']['command']}`" for r in runs]
    return "\n".join([
        f"## Cold start on {data['name']}", "",
        # The protocol shared by every run, without the first run's own epoch figures.
        f"Protocol: {first['results']['protocol'].split(' Model at its best')[0]} A random "
        f"{data['cold_start_share']:.0%} of the items (seed {data['cold_start_seed']}) is held out of training: their interactions are "
        "removed from every training sequence and they are masked out of the training softmax, "
        "so a model first meets them at test time. Test users are split by whether their "
        "held-out target is warm or cold. Each row is the model at its best validation epoch.",
        "", "Command (every run below, then this page):", "",
        f"```\nbash scripts/run_cold_start.sh {folder} "
        f"--config.train.num_epochs={first['config']['train']['num_epochs']} "
        f"--config.train.max_train_minutes={first['config']['train']['max_train_minutes']:g}\n"
        f"python scripts/make_results_readme.py --cold-start {folder} --out "
        "experiments/cold_start.md\n```", "",
        f"### Warm targets ({tables['warm'][1]:,} test users)", "",
        format_markdown_table(tables["warm"][0], list(tables["warm"][0][0])),
        f"### Cold targets ({tables['cold'][1]:,} test users)", "",
        format_markdown_table(tables["cold"][0], list(tables["cold"][0][0])),
        "Text towers on cold targets against the baselines (ratio in brackets):", "", *lines, "",
        "Item text: title (with year) and genres"
        + (f"; encoded once and shared by all runs: {'; '.join(encodings)}." if encodings
           else "."), "",
        "Runs:", "", *per_run, ""])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="*", type=pathlib.Path, help="finished run folders")
    parser.add_argument("--comparison", type=pathlib.Path, default=None,
                        help="a comparison/ folder written by python -m recall_jax.compare")
    parser.add_argument("--ann-scale", type=pathlib.Path, default=None,
                        help="JSON written by scripts/benchmark_ann_scale.py --json")
    parser.add_argument("--cold-start", type=pathlib.Path, default=None,
                        help="an output folder of scripts/run_cold_start.sh")
    parser.add_argument("--out", type=pathlib.Path, default=None, help="default: stdout")
    args = parser.parse_args()
    command = " ".join(["python scripts/make_results_readme.py", *map(str, args.runs)]
                       + ([f"--comparison {args.comparison}"] if args.comparison else [])
                       + ([f"--ann-scale {args.ann_scale}"] if args.ann_scale else [])
                       + ([f"--cold-start {args.cold_start}"] if args.cold_start else [])
                       + [f"--out {args.out or 'experiments/README.md'}"])
    header = [
        "# Experiment results" if args.runs or args.comparison else "# Cold-start results",
        "",
        "Produced by `scripts/make_results_readme.py` from the run folders named below; rerun the",
        "commands to regenerate them, then",
        "",
        f"```\n{command}\n```",
        "",
    ]
    if args.runs:
        header += [
            "Rows labelled with a source are published figures on the same protocol, for "
            "comparison.",
            "HR@K equals Recall@K here (one held-out item per user).",
            "",
        ]
    out_folder = args.out.parent if args.out else pathlib.Path("experiments")
    if args.cold_start is None and (out_folder / "cold_start.md").is_file():
        header += ["The cold-start study (warm and cold targets for every item tower and both "
                   "behaviour encoders) has its own page: [cold_start.md](cold_start.md).", ""]
    header.append("")
    text = "\n".join(header) + "\n".join(run_section(folder) for folder in args.runs)
    if args.comparison is not None:
        figures = out_folder / "figures"
        text += "\n" + comparison_section(args.comparison, figures)
    if args.ann_scale is not None:
        text += "\n" + ann_scale_section(args.ann_scale)
    if args.cold_start is not None:
        text += "\n" + cold_start_section(args.cold_start)
    if args.out is None:
        print(text)
    else:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
