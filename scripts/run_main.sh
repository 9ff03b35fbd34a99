#!/usr/bin/env bash
# The main job: set up .venv, train the default ML-1M experiment (SASRec, full softmax, chrono-all
# protocol), evaluate it by full ranking and print the results table.
# Extra arguments go to recall_jax.main, e.g. --config.train.num_epochs=5.
# Data: $RECALL_JAX_DATA if set, else the official GroupLens archives are downloaded (sha256-checked).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/scripts/setup_env.sh"
CONFIG="${CONFIG:-$ROOT/experiments/configs/ml1m_chrono_sasrec.py}"
WORKDIR="${WORKDIR:-$ROOT/runs/$(basename "$CONFIG" .py)}"
cd "$ROOT"
exec "$ROOT/.venv/bin/python" -m recall_jax.main --config "$CONFIG" --workdir "$WORKDIR" "$@"
