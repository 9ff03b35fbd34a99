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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=pathlib.Path, help="finished run folders")
    parser.add_argument("--comparison", type=pathlib.Path, default=None,
                        help="a comparison/ folder written by python -m recall_jax.compare")
    parser.add_argument("--ann-scale", type=pathlib.Path, default=None,
                        help="JSON written by scripts/benchmark_ann_scale.py --json")
    parser.add_argument("--out", type=pathlib.Path, default=None, help="default: stdout")
    args = parser.parse_args()
    header = [
        "# Experiment results",
        "",
        "Produced by `scripts/make_results_readme.py` from the run folders named below; rerun the",
        "commands to regenerate them, then",
        "",
        "```",
        "python scripts/make_results_readme.py " + " ".join(str(r) for r in args.runs)
        + (f" --comparison {args.comparison}" if args.comparison else "")
        + (f" --ann-scale {args.ann_scale}" if args.ann_scale else "")
        + " --out experiments/README.md",
        "```",
        "",
        "Rows labelled with a source are published figures on the same protocol, for comparison.",
        "HR@K equals Recall@K here (one held-out item per user).",
        "",
        "",
    ]
    text = "\n".join(header) + "\n".join(run_section(folder) for folder in args.runs)
    if args.comparison is not None:
        figures = (args.out.parent if args.out else pathlib.Path("experiments")) / "figures"
        text += "\n" + comparison_section(args.comparison, figures)
    if args.ann_scale is not None:
        text += "\n" + ann_scale_section(args.ann_scale)
    if args.out is None:
        print(text)
    else:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
