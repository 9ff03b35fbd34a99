"""The same config trained under several seeds, and the spread of the results across them.

Each seed runs in <workdir>/seed_<seed> (resumable like any run). A seed folder that holds
a finished run's record without checkpoints (config.json, results.json, run_summary.json, as
scripts/archive_runs.py keeps them) is read, not trained again, so archived seeds and new ones
combine into one summary. <workdir>/seeds.json and seeds.md then hold, for every row of the results tables
(model, split), the mean and sample standard deviation of each metric across the seeds, beside
each seed's own value with its bootstrap interval.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Sequence

import jax
import ml_collections
from etils import epath

from recall_jax import paths
from recall_jax.errors import UsageError
from recall_jax.evaluation.estimates import seed_summary
from recall_jax.evaluation.report import format_markdown_table, headline_columns
from recall_jax.train import trainer
from recall_jax.train.checkpoints import config_differences, flat_config

SEEDS_FILE = "seeds.json"
RECORD_FILES = ("config.json", "results.json", "run_summary.json")
# Fields that do not change what a run computes.
NON_RESULT_FIELDS = ("command", "train.progress_bar")


def seed_folder(workdir: epath.PathLike, seed: int) -> epath.Path:
    return paths.as_path(workdir) / f"seed_{seed}"


def parse_seeds(text: str) -> list[int]:
    """"0,1,2" -> [0, 1, 2]; every seed once."""
    try:
        seeds = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise UsageError(f"--seeds={text!r}: expected comma-separated integers such as 0,1,2"
                         ) from None
    if not seeds or len(set(seeds)) != len(seeds):
        raise UsageError(f"--seeds={text!r}: expected at least one seed, each once")
    return seeds


def summarize_seeds(reports: Sequence[dict], seeds: Sequence[int], ks: Sequence[int]) -> dict:
    """{"seeds", "rows": [{model, split, metric: [mean, std], "per_seed": {metric: [...]}}]}."""
    keys = [(row["model"], row["split"]) for row in reports[0]["rows"]]
    rows = []
    for model, split in keys:
        per_seed = [next(r for r in report["rows"] if (r["model"], r["split"]) == (model, split))
                    for report in reports]
        metrics = {name: value for name, value in seed_summary(per_seed).items()
                   if name in headline_columns(ks)}
        rows.append({"model": model, "split": split,
                     **{name: list(value) for name, value in metrics.items()},
                     "per_seed": {name: [run[name] for run in per_seed] for name in metrics}})
    return {"seeds": list(seeds), "rows": rows}


def format_seed_table(summary: dict, metrics: Sequence[str]) -> str:
    """Markdown: mean ± std across seeds for each metric."""
    rows = [{"model": row["model"], "split": row["split"],
             **{name: f"{row[name][0]:.4f} ± {row[name][1]:.4f}" for name in metrics
                if name in row}} for row in summary["rows"]]
    return format_markdown_table(rows, ["model", "split", *metrics])


def single_seed_command(seeds_command: str, seed: int) -> str:
    """The command that trains one seed of a --seeds run on its own (into seed_<seed>)."""
    tokens = shlex.split(seeds_command)
    out = []
    skip = False
    for index, token in enumerate(tokens):
        if skip:
            skip = False
            continue
        if token == "--seeds":
            skip = True
            continue
        if token.startswith("--seeds="):
            continue
        if token == "--workdir" and index + 1 < len(tokens):
            out += [token, str(seed_folder(tokens[index + 1], seed))]
            skip = True
            continue
        if token.startswith("--workdir="):
            token = "--workdir=" + str(seed_folder(token.split("=", 1)[1], seed))
        out.append(token)
    return shlex.join(out + [f"--config.seed={seed}"])


def recorded_report(folder: epath.PathLike, config: ml_collections.ConfigDict) -> dict | None:
    """The report of a finished run archived in `folder` (rows from results.json, epochs and
    times from run_summary.json), or None when the folder holds checkpoints (the trainer resumes
    or re-reports those) or no finished record. Raises UsageError, naming the fields, when the
    record was made with another config."""
    folder = paths.as_path(folder)
    if (folder / "checkpoints").exists() or not all((folder / name).exists()
                                                    for name in RECORD_FILES):
        return None
    # As the run saw it: fields added since take the value that reproduces its behaviour.
    saved = flat_config(trainer.load_run_config(folder))
    differences = [line for line in config_differences(saved, flat_config(config))
                   if line.split(":")[0] not in NON_RESULT_FIELDS]
    if differences:
        raise UsageError(f"{folder} holds a finished run of another config "
                         f"({'; '.join(differences[:6])}); use another --workdir or move it")
    summary = json.loads((folder / "run_summary.json").read_text())
    results = json.loads((folder / "results.json").read_text())
    return {"rows": results["rows"], "differences": results.get("differences", []),
            "protocol": results.get("protocol", ""),
            **{key: summary[key] for key in ("best_epoch", "wall_seconds", "epochs_run",
                                             "truncated")},
            "train_seconds": summary.get("train_seconds")}


def train_seeds(config: ml_collections.ConfigDict, workdir: epath.PathLike,
                seeds: Sequence[int]) -> dict:
    """Trains `config` once per seed, then writes seeds.json and seeds.md into workdir."""
    workdir = paths.as_path(workdir)
    reports = []
    for seed in seeds:
        seed_config = config.copy_and_resolve_references()
        with seed_config.unlocked():
            seed_config.seed = seed
            if config.command:  # set by the entry point: record the seed's own command
                seed_config.command = single_seed_command(config.command, seed)
        folder = seed_folder(workdir, seed)
        report = recorded_report(folder, seed_config)
        reports.append(report if report is not None
                       else trainer.train_and_evaluate(seed_config, folder))
    ks = tuple(config.eval.ks)
    summary = summarize_seeds(reports, seeds, ks)
    summary.update(command=config.command,
                   wall_seconds=[report["wall_seconds"] for report in reports],
                   epochs_run=[report["epochs_run"] for report in reports],
                   best_epochs=[report["best_epoch"] for report in reports],
                   truncated=any(report["truncated"] for report in reports))
    if jax.process_index() == 0:
        workdir.mkdir(parents=True, exist_ok=True)
        paths.write_text_atomically(workdir / SEEDS_FILE, json.dumps(summary, indent=1))
        metrics = [f"{m}@{k}" for k in ks for m in ("HR", "NDCG")]
        paths.write_text_atomically(
            workdir / "seeds.md",
            f"# {config.model.name} on {config.data.name}: {len(seeds)} seeds\n\n"
            f"Mean ± sample standard deviation across seeds {', '.join(map(str, seeds))}; each "
            f"seed's run (with bootstrap intervals) is in seed_<seed>/results.md.\n\n"
            f"Regenerate with:\n\n```\n{config.command}\n```\n\n"
            + format_seed_table(summary, metrics))
    return summary
