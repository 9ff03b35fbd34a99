"""Run a snippet in a fresh Python process with N CPU devices (XLA_FLAGS is read at start-up)."""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys

REPO = pathlib.Path(__file__).resolve().parents[1]


def run_on_cpu_devices(source: str, devices: int = 8, timeout: int = 600) -> dict:
    """Runs `source`, which prints one line "RESULT <json>"; returns that JSON."""
    env = {**os.environ, "PYTHONPATH": str(REPO),
           "XLA_FLAGS": f"--xla_force_host_platform_device_count={devices}"}
    result = subprocess.run([sys.executable, "-c", source], cwd=REPO, env=env,
                            capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, result.stderr[-3000:]
    line = next(line for line in result.stdout.splitlines() if line.startswith("RESULT "))
    return json.loads(line[len("RESULT "):])
