"""scripts/reproduce/: one script per published row, each with a valid config."""

from __future__ import annotations

import importlib.util
import json
import os
import pathlib
import subprocess
import sys

import pytest

from recall_jax.train.config_validation import validate_config

REPO = pathlib.Path(__file__).resolve().parents[1]
SCRIPTS = sorted(p for p in (REPO / "scripts" / "reproduce").glob("[!_]*.py"))
sys.path.insert(0, str(REPO / "scripts" / "reproduce"))
import _runner  # noqa: E402


def load(path: pathlib.Path):
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.stem)
def test_every_script_has_a_valid_config_and_a_sourced_figure(script):
    config = load(REPO / "experiments" / "configs" / "reproduce" / script.name).get_config()
    validate_config(config, 2)
    published = load(script).PUBLISHED
    assert {"HR@10", "NDCG@10"} <= set(published.metrics)
    assert all(0 < value < 1 for value in published.metrics.values())
    assert published.source and published.protocol
    assert (config.eval.protocol == "sampled") == ("sampled" in published.protocol)


def test_inside_means_the_published_figure_lies_in_our_interval():
    row = {"HR@10": 0.30, "NDCG@10": 0.17, "ci95": {"HR@10": [0.29, 0.31],
                                                    "NDCG@10": [0.165, 0.175]}}
    rows = _runner.comparison_rows(row, _runner.Published("s", "p", {"HR@10": 0.3152,
                                                                     "NDCG@10": 0.1700}))
    assert [r["inside"] for r in rows] == [False, True]
    assert "| HR@10 | 0.3000 [0.2900, 0.3100] | 0.3152 | NO |" in _runner.format_comparison(rows)


def test_a_script_trains_its_config_and_records_the_comparison(tmp_path):
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=2")
    workdir = tmp_path / "run"
    # The row's config on the tiny synthetic data, so the whole path runs in seconds.
    result = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "reproduce" / "klenitskiy_sasrec_ce.py"),
         "--workdir", str(workdir), "--config.data.name=synthetic", "--config.model.max_len=20",
         "--config.train.num_epochs=2", "--config.train.bucket_lengths=()",
         "--config.data.synthetic.num_users=300"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    record = json.loads((workdir / "reproduction.json").read_text())
    assert record["name"] == "klenitskiy_sasrec_ce"
    assert [r["metric"] for r in record["comparison"]] == ["HR@10", "NDCG@10"]
    assert record["comparison"][0]["published"] == 0.3152
    results = json.loads((workdir / "results.json").read_text())
    test_row = next(r for r in results["rows"] if r["split"] == "test" and r["model"] == "sasrec")
    assert record["comparison"][1]["ours"] == test_row["NDCG@10"]
    assert "| NDCG@10 |" in result.stdout and "published inside ours" in result.stdout
    again = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "reproduce" / "klenitskiy_sasrec_ce.py"),
         "--workdir", str(workdir), "--report-only"], cwd=tmp_path, env=env,
        capture_output=True, text=True, timeout=120)
    assert again.returncode == 0 and json.loads((workdir / "reproduction.json").read_text()) \
        == record
