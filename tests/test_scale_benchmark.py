"""scripts/benchmark_scale.py end to end at a tiny catalogue: one row per (size, mp) cell, the item
table split for mp=2, every user ranked, full softmax skipped above its limit."""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys

REPO = pathlib.Path(__file__).resolve().parents[1]
ITEMS = 5000
EVAL_USERS = 600


def test_benchmark_scale_table(tmp_path):
    report = tmp_path / "scale.json"
    command = [sys.executable, "scripts/benchmark_scale.py", "--sizes", str(ITEMS),
               "--model-parallelism", "1", "2", "--steps", "2", "--warmup", "1",
               "--batch-size", "64", "--eval-users", str(EVAL_USERS), "--eval-repeats", "1",
               "--full-softmax-max-items", str(ITEMS - 1), "--json", str(report)]
    env = {**os.environ, "PYTHONPATH": str(REPO),
           "XLA_FLAGS": "--xla_force_host_platform_device_count=4"}
    finished = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True,
                              timeout=300)
    assert finished.returncode == 0, finished.stderr[-3000:]

    rows = [line for line in finished.stdout.splitlines() if line.startswith(f"| {ITEMS:,} |")]
    assert [row.split("|")[2].strip() for row in rows] == ["1", "2"]
    columns = [[cell.strip() for cell in row.split("|")[1:-1]] for row in rows]
    assert columns[0][2:4] == ["4 x 1", f"{ITEMS + 2:,} of {ITEMS + 2:,} (whole)"]
    assert columns[1][2:4] == ["2 x 2", f"{(ITEMS + 2) // 2:,} of {ITEMS + 2:,} (split in 2)"]
    for row in columns:
        assert row[7:9] == ["skipped", "skipped"]  # full softmax above its limit
        assert row[12] == f"{EVAL_USERS:,} / {EVAL_USERS:,}"
        assert float(row[4]) > 0 and float(row[14]) > 0  # step time, peak RSS

    cells = json.loads(report.read_text())["cells"]
    assert [cell["sampled"]["row_ranges"] for cell in cells] == [1, 2]
    for cell in cells:
        assert cell["ranked_users"] == cell["eval_users"] == EVAL_USERS
        assert 0 < cell["targets_ranked"] <= EVAL_USERS
        assert "full" not in cell
