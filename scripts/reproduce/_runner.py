"""What every reproduction script shares: train the row's config with recall_jax, then print
ours (with its 95% bootstrap interval) beside the published figure and whether the published
figure lies inside our interval, and record it as <workdir>/reproduction.json.

    python scripts/reproduce/<name>.py [--workdir DIR] [--report-only] [--config.* overrides]

The config is experiments/configs/reproduce/<name>.py; the run folder (default
runs/reproduce/<name>) resumes when started again, and --report-only reads a finished run.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import pathlib
import subprocess
import sys

REPO = pathlib.Path(__file__).resolve().parents[2]
RECORD = "reproduction.json"


@dataclasses.dataclass(frozen=True)
class Published:
    source: str  # paper or repository, and where in it
    protocol: str  # the protocol it was measured under, in a few words
    metrics: dict  # e.g. {"HR@10": 0.3152, "NDCG@10": 0.1821}


def model_row(results: dict, model_name: str) -> dict:
    """The test row of the trained model (not a baseline)."""
    for row in results["rows"]:
        if row["split"] == "test" and row["model"].split(" ")[0] == model_name:
            return row
    raise SystemExit(f"no test row of {model_name!r} in results.json")


def comparison_rows(row: dict, published: Published) -> list[dict]:
    rows = []
    for metric, value in published.metrics.items():
        low, high = row["ci95"][metric]
        rows.append({"metric": metric, "ours": row[metric], "low": low, "high": high,
                     "published": value, "inside": low <= value <= high})
    return rows


def format_comparison(rows: list[dict]) -> str:
    lines = ["| metric | ours [95% interval] | published | published inside ours |",
             "|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['metric']} | {r['ours']:.4f} [{r['low']:.4f}, {r['high']:.4f}] | "
                     f"{r['published']:.4f} | {'yes' if r['inside'] else 'NO'} |")
    return "\n".join(lines)


def main(name: str, published: Published, argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=f"Reproduce {name}: {published.source}")
    parser.add_argument("--workdir", type=pathlib.Path, default=REPO / "runs" / "reproduce" / name)
    parser.add_argument("--report-only", action="store_true",
                        help="do not train: compare a finished run in --workdir")
    args, overrides = parser.parse_known_args(argv)
    config = REPO / "experiments" / "configs" / "reproduce" / f"{name}.py"
    if not args.report_only:
        subprocess.run([sys.executable, "-m", "recall_jax.main", "--config", str(config),
                        "--workdir", str(args.workdir), "--config.train.progress_bar=False",
                        *overrides], check=True, cwd=REPO)
    results = json.loads((args.workdir / "results.json").read_text())
    summary = json.loads((args.workdir / "run_summary.json").read_text())
    run_config = json.loads((args.workdir / "config.json").read_text())
    row = model_row(results, run_config["model"]["name"])
    rows = comparison_rows(row, published)
    record = {"name": name, "source": published.source, "published_protocol": published.protocol,
              "protocol": results["protocol"], "comparison": rows,
              "epochs_run": summary["epochs_run"], "best_epoch": summary["best_epoch"],
              "wall_seconds": summary["wall_seconds"], "truncated": summary["truncated"],
              "command": summary["command"],
              "script": f"python scripts/reproduce/{name}.py"}
    (args.workdir / RECORD).write_text(json.dumps(record, indent=1))
    print(f"{name}: {published.source}\nours: {results['protocol']}\n"
          f"published: {published.protocol}\n\n{format_comparison(rows)}")
    return record
