"""The `recall-jax` command: one console script, a subcommand per job.

    recall-jax train --config experiments/configs/ml1m_chrono_sasrec.py --workdir runs/sasrec
    recall-jax compare --config experiments/configs/compare_recall_ml1m.py --workdir runs/compare
    recall-jax report experiments/runs/ml1m_chrono_sasrec_seeds --out experiments/README.md
    recall-jax reproduce <name> [args]     (scripts/reproduce/<name>.py; no name: the list)

`train` and `compare` are `python -m recall_jax.main` and `python -m recall_jax.compare`, which
keep working; `report` and `reproduce` run the scripts of a source checkout. Arguments after the
subcommand go to it unchanged (`recall-jax train --helpshort` lists the flags). Without a
subcommand, `recall-jax --config ...` trains, as before subcommands existed.
"""

from __future__ import annotations

import importlib
import pathlib
import runpy
import sys

from recall_jax.errors import UsageError, one_line

REPOSITORY = pathlib.Path(__file__).resolve().parents[1]
# subcommand -> (module with run(), what it does)
ENTRY_MODULES = {"train": ("recall_jax.main", "train a config, evaluate, write results.md"),
                 "compare": ("recall_jax.compare", "compare recall strategies on trained models")}
# subcommand -> (script under the repository, what it does)
SCRIPTS = {"report": ("scripts/make_results_readme.py",
                      "regenerate a results page from run folders"),
           "reproduce": ("scripts/reproduce", "rerun a published row: reproduce <name> [args]")}


def usage() -> str:
    lines = ["usage: recall-jax <subcommand> [args]", "", "subcommands:"]
    for name, (_, what) in {**ENTRY_MODULES, **SCRIPTS}.items():
        lines.append(f"  {name:<10} {what}")
    return "\n".join(lines)


def reproduction_scripts() -> dict[str, pathlib.Path]:
    folder = REPOSITORY / SCRIPTS["reproduce"][0]
    return {path.stem: path for path in sorted(folder.glob("*.py"))
            if not path.name.startswith("_")}


def _script(relative: str) -> pathlib.Path:
    path = REPOSITORY / relative
    if not path.exists():
        raise UsageError(f"{path} not found: `recall-jax report` and `reproduce` run the "
                         "scripts of a source checkout ; install recall_jax with "
                         "`pip install -e <checkout>`")
    return path


def _run_script(path: pathlib.Path, program: str, argv: list[str]) -> None:
    sys.argv = [program, *argv]
    # As `python <script>` would: its own folder first (for its helpers), then the checkout.
    sys.path[:0] = [str(path.parent), str(REPOSITORY)]
    runpy.run_path(str(path), run_name="__main__")


def _reproduce(argv: list[str]) -> None:
    _script(SCRIPTS["reproduce"][0])
    scripts = reproduction_scripts()
    if not argv or argv[0] in ("-h", "--help", "--list"):
        print("reproduction scripts (recall-jax reproduce <name> [args]):")
        for name, path in scripts.items():
            doc = (path.read_text().split('"""')[1].strip().splitlines() or [""])[0]
            print(f"  {name:<28} {doc}")
        return
    if argv[0] not in scripts:
        raise UsageError(f"no reproduction script named {argv[0]!r} ; known: {list(scripts)}")
    _run_script(scripts[argv[0]], f"recall-jax reproduce {argv[0]}", argv[1:])


def main(argv: list[str]) -> None:
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(usage())
        return
    name, rest = argv[0], argv[1:]
    if name.startswith("-"):  # no subcommand: train
        name, rest = "train", argv
    if name in ENTRY_MODULES:
        sys.argv = [f"recall-jax {name}", *rest]
        importlib.import_module(ENTRY_MODULES[name][0]).run()
    elif name == "report":
        _run_script(_script(SCRIPTS["report"][0]), "recall-jax report", rest)
    elif name == "reproduce":
        _reproduce(rest)
    else:
        raise UsageError(f"unknown subcommand {name!r}\n{usage()}")


def run() -> None:
    """Console-script entry point."""
    try:
        main(sys.argv[1:])
    except UsageError as error:
        print(one_line(error), file=sys.stderr)
        raise SystemExit(error.exit_status) from None
