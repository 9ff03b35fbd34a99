"""The `recall-jax` console script: subcommands train, compare, report and reproduce."""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys

import pytest

REPO = pathlib.Path(__file__).resolve().parents[1]
CONSOLE = pathlib.Path(sys.executable).parent / "recall-jax"


def recall_jax(*args: str, cwd: pathlib.Path = REPO) -> subprocess.CompletedProcess:
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=2")
    return subprocess.run([str(CONSOLE), *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=600)


def test_the_console_script_is_installed():
    assert CONSOLE.is_file(), f"{CONSOLE} missing: reinstall with bash scripts/setup_env.sh"


def test_without_a_subcommand_it_lists_them():
    result = recall_jax()
    assert result.returncode == 0
    for name in ("train", "compare", "report", "reproduce"):
        assert f"  {name} " in result.stdout


def test_an_unknown_subcommand_is_a_usage_error():
    result = recall_jax("fit")
    assert result.returncode == 2
    assert "recall_jax: UsageError: unknown subcommand 'fit'" in result.stderr


def test_train_then_report_from_the_run_folder(tmp_path):
    run = tmp_path / "tiny"
    trained = recall_jax("train", "--config", "experiments/configs/synthetic_tiny.py",
                         "--workdir", str(run), "--config.train.num_epochs=2",
                         "--config.train.progress_bar=False")
    assert trained.returncode == 0, trained.stderr[-2000:]
    results = json.loads((run / "results.json").read_text())
    assert {row["model"] for row in results["rows"]} >= {"sasrec", "popularity"}
    assert "| sasrec | test |" in trained.stdout  # the results table is printed
    page = tmp_path / "page.md"
    reported = recall_jax("report", str(run), "--out", str(page))
    assert reported.returncode == 0, reported.stderr[-2000:]
    text = page.read_text()
    assert "# Experiment results" in text and str(run.name) in text


def test_reproduce_lists_the_reproduction_scripts():
    result = recall_jax("reproduce")
    assert result.returncode == 0
    assert result.stdout.startswith("reproduction scripts")
    expected = sorted(p.stem for p in (REPO / "scripts" / "reproduce").glob("[!_]*.py"))
    listed = [line.split()[0] for line in result.stdout.splitlines()[1:]]
    assert listed == expected
    unknown = recall_jax("reproduce", "no_such_paper")
    assert unknown.returncode == 2 and "no reproduction script named" in unknown.stderr


@pytest.mark.parametrize("module", ["recall_jax.main", "recall_jax.compare"])
def test_python_dash_m_entry_points_still_work(module):
    result = subprocess.run([sys.executable, "-m", module, "--helpshort"], cwd=REPO,
                            capture_output=True, text=True, timeout=120)
    # absl prints the flags and exits with status 1 after --helpshort.
    assert "--workdir" in result.stdout and "--config" in result.stdout, result.stderr[-2000:]
