#!/usr/bin/env bash
# The ML-1M cold-start study: 10% of the items held out of training, every item tower
# (id, text, id+text) under both behaviour encoders (causal SASRec, bidirectional BERT4Rec), then
# the warm/cold table in experiments/README.md's format printed from the run folders.
# Extra arguments go to every run, e.g. --config.train.num_epochs=20.
# Usage: bash scripts/run_cold_start.sh [OUT_DIR] [overrides...]   (OUT_DIR defaults to runs/cold_start)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/scripts/setup_env.sh"
OUT="${1:-$ROOT/runs/cold_start}"
shift || true
cd "$ROOT"
# The text vectors depend only on the checkpoint and the item texts: encode them once for all runs.
mkdir -p "$OUT/text_cache"
for model in sasrec bert4rec; do
  for tower in id id+text text; do
    workdir="$OUT/${model}_${tower/+/_}"
    mkdir -p "$workdir"
    ln -sfn ../text_cache "$workdir/text_cache"
    echo "=== $model, item tower $tower -> $workdir"
    "$ROOT/.venv/bin/python" -m recall_jax.main --config experiments/configs/ml1m_cold_start.py \
      --workdir "$workdir" --config.model.name="$model" --config.model.item_tower="$tower" \
      --config.train.progress_bar=False "$@"
  done
done
