#!/usr/bin/env bash
# The encoder x item-tower table on ML-1M chrono-all: SASRec, BERT4Rec, GRU4Rec and HSTU, each
# with the id and the id+text item tower, one seed, the budget of ml1m_encoder_table.py. Runs
# whose results.json exists are skipped, so an interrupted table resumes. Then:
#   python scripts/archive_runs.py OUT_DIR --to experiments/runs
#   python scripts/make_results_readme.py --encoders experiments/runs/<name of OUT_DIR>
# Usage: bash scripts/run_encoder_table.sh [OUT_DIR] [overrides for every run...]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/scripts/setup_env.sh"
OUT="${1:-$ROOT/runs/encoder_table}"
shift || true
cd "$ROOT"
# encoder objective item_tower
RUNS=(
  "sasrec next_item id" "sasrec next_item id+text"
  "hstu next_item id" "hstu next_item id+text"
  "gru4rec next_item id" "gru4rec next_item id+text"
  "bert4rec cloze id" "bert4rec cloze id+text"
)
# The text vectors depend only on the checkpoint and the item texts: encode them once.
mkdir -p "$OUT/text_cache"
for run in "${RUNS[@]}"; do
  read -r model objective tower <<< "$run"
  workdir="$OUT/${model}_${tower/+/_}"
  if [ -f "$workdir/results.json" ]; then
    echo "=== $workdir: finished before, skipped"
    continue
  fi
  mkdir -p "$workdir"
  ln -sfn ../text_cache "$workdir/text_cache"
  echo "=== $model ($objective), item tower $tower -> $workdir"
  "$ROOT/.venv/bin/python" -m recall_jax.main --config experiments/configs/ml1m_encoder_table.py \
    --workdir "$workdir" --config.model.name="$model" --config.model.objective="$objective" \
    --config.model.item_tower="$tower" --config.train.progress_bar=False "$@"
done
