"""Copies the record of finished runs (tables, per-user ranks, histories, configs, summaries)
into the repository, without checkpoints, TensorBoard logs, cached text vectors or search indexes, so
that the results pages can be regenerated from committed files:

    python scripts/archive_runs.py runs/ml1m_chrono_sasrec_seeds runs/compare_ml1m \
        --to experiments/runs
    python scripts/make_results_readme.py experiments/runs/ml1m_chrono_sasrec_seeds ...

Files over --max-mb are left out and listed.
"""

from __future__ import annotations

import argparse
import pathlib
import shutil

SKIPPED_FOLDERS = {"checkpoints", "tensorboard", "invalid"}
# Text caches keep only their small .json records (how the vectors were made), not the vectors.
TEXT_CACHE = "text_cache"
SKIPPED_PREFIXES = ("scann_index",)  # saved search indexes (scann_index_dot, ...)
SKIPPED_SUFFIXES = {".tmp", ".lock"}


def archive(source: pathlib.Path, destination: pathlib.Path, max_bytes: int) -> list[str]:
    """Copies `source` into `destination`/<source name>; returns the files left out."""
    left_out = []
    target_root = destination / source.name
    for path in sorted(source.rglob("*")):
        relative = path.relative_to(source)
        folders = relative.parts[:-1]
        if not path.is_file() or SKIPPED_FOLDERS & set(folders) \
                or any(part.startswith(SKIPPED_PREFIXES) for part in folders) \
                or path.suffix in SKIPPED_SUFFIXES or path.name.startswith("."):
            continue
        if TEXT_CACHE in folders and (path.suffix != ".json" or any(
                (source / pathlib.Path(*folders[:depth + 1])).is_symlink()
                for depth in range(len(folders)))):
            continue  # the vectors, or a link to a shared cache archived once where it lies
        if path.stat().st_size > max_bytes:
            left_out.append(f"{path} ({path.stat().st_size / 2**20:.1f} MB)")
            continue
        target = target_root / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target)
    return left_out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", type=pathlib.Path)
    parser.add_argument("--to", type=pathlib.Path, default=pathlib.Path("experiments/runs"))
    parser.add_argument("--max-mb", type=float, default=5.0)
    args = parser.parse_args()
    for run in args.runs:
        if not run.is_dir():
            raise SystemExit(f"archive_runs: {run} is not a run folder")
        for line in archive(run, args.to, int(args.max_mb * 2**20)):
            print(f"left out: {line}")
        print(f"archived {run} -> {args.to / run.name}")


if __name__ == "__main__":
    main()
