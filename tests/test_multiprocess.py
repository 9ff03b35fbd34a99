"""Multi-process training with jax.distributed, on this machine's CPU.

The tiny config runs as 2 processes x 2 CPU devices through scripts/run_local_multiprocess.sh
and as 1 process x 4 devices: the same mesh (4 x 1), so the same validation and test metrics
and per-user ranks. Then a 2-process run loses one process to kill -9 after its second
checkpoint; restarting both resumes to the uninterrupted run's result.
"""

from __future__ import annotations

import json
import os
import pathlib
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

REPO = pathlib.Path(__file__).resolve().parents[1]
LAUNCHER = REPO / "scripts" / "run_local_multiprocess.sh"
EPOCHS = 4
ARGUMENTS = ["--config", str(REPO / "experiments" / "configs" / "synthetic_tiny.py"),
             f"--config.train.num_epochs={EPOCHS}"]


def environment(**extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key != "XLA_FLAGS"}
    return {**env, "PYTHON": sys.executable, "PYTHONPATH": str(REPO), **extra}


def launch(workdir: pathlib.Path, logs: pathlib.Path) -> subprocess.Popen:
    return subprocess.Popen(["bash", str(LAUNCHER), "2", *ARGUMENTS, "--workdir", str(workdir)],
                            env=environment(DEVICES_PER_PROCESS="2", LOG_DIR=str(logs)),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def finished(process: subprocess.Popen, logs: pathlib.Path) -> str:
    output, _ = process.communicate(timeout=900)
    assert process.returncode == 0, output[-3000:] + "".join(
        path.read_text()[-2000:] for path in sorted(logs.glob("process_*.log")))
    return output


def metrics(workdir: pathlib.Path) -> dict[tuple[str, str], dict[str, float]]:
    rows = json.loads((workdir / "results.json").read_text())["rows"]
    return {(row["model"], row["split"]): {name: value for name, value in row.items()
                                           if isinstance(value, float)} for row in rows}


def ranks(workdir: pathlib.Path) -> dict[str, np.ndarray]:
    with np.load(workdir / "per_user_ranks.npz") as saved:
        return {name: saved[name] for name in saved.files}


def assert_same_results(left: pathlib.Path, right: pathlib.Path) -> None:
    left_metrics, right_metrics = metrics(left), metrics(right)
    assert left_metrics.keys() == right_metrics.keys()
    for key, values in left_metrics.items():
        assert values.keys() == right_metrics[key].keys()
        for name, value in values.items():
            assert abs(value - right_metrics[key][name]) <= 1e-6, (key, name)
    left_ranks, right_ranks = ranks(left), ranks(right)
    assert left_ranks.keys() == right_ranks.keys()
    for name in left_ranks:
        np.testing.assert_array_equal(left_ranks[name], right_ranks[name], err_msg=name)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("multiprocess")
    single = subprocess.run([sys.executable, "-m", "recall_jax.main", *ARGUMENTS,
                             "--workdir", str(root / "one_process")], cwd=REPO,
                            env=environment(XLA_FLAGS="--xla_force_host_platform_device_count=4"),
                            capture_output=True, text=True, timeout=900)
    assert single.returncode == 0, single.stderr[-3000:]
    output = finished(launch(root / "two_processes", root / "logs"), root / "logs")
    return root, output


def test_two_processes_match_one_process_with_the_same_mesh(runs):
    root, output = runs
    assert "sasrec" in output  # process 0 prints the results table
    log = (root / "logs" / "process_1.log").read_text()
    assert "process 1 of 2, 2 local devices of 4" in log
    assert_same_results(root / "one_process", root / "two_processes")


def test_only_process_zero_writes_the_run_record(runs):
    root, _ = runs
    config = json.loads((root / "two_processes" / "config.json").read_text())
    assert config["train"]["num_epochs"] == EPOCHS
    # One writer: a second writer's temporary files would be left behind or clash.
    assert not list((root / "two_processes").glob("*.tmp"))
    assert len(list((root / "two_processes" / "tensorboard").iterdir())) == 1


def test_kill_9_of_one_process_then_restart_resumes_to_the_same_result(runs, tmp_path):
    root, _ = runs
    workdir, logs = tmp_path / "killed", tmp_path / "logs"
    process = launch(workdir, logs)
    manifests = workdir / "checkpoints" / "latest"
    deadline = time.monotonic() + 600
    while not (manifests / "1" / "recall_jax_manifest.json").is_file():
        assert process.poll() is None, process.communicate()[0][-3000:]
        assert time.monotonic() < deadline, "no second checkpoint within 10 minutes"
        time.sleep(0.2)
    os.kill(int((logs / "process_1.pid").read_text()), signal.SIGKILL)
    output, _ = process.communicate(timeout=300)
    assert process.returncode != 0, output[-2000:]
    assert not (workdir / "results.json").exists()

    finished(launch(workdir, tmp_path / "logs_resumed"), tmp_path / "logs_resumed")
    assert "resumed from epoch" in (tmp_path / "logs_resumed" / "process_0.log").read_text()
    assert_same_results(root / "two_processes", workdir)
