#!/usr/bin/env bash
# The ML-1M cold-start study: 10% of the items held out of training; the item towers id, id+text
# (without and with id dropout) and text under the causal SASRec encoder, and id, id+text and
# text under the bidirectional BERT4Rec encoder. Runs whose results.json exists
# are skipped, so an interrupted study resumes. Then:
#   python scripts/make_results_readme.py --cold-start OUT_DIR --out experiments/cold_start.md
# Usage: bash scripts/run_cold_start.sh [OUT_DIR] [overrides for every run...]
#   OUT_DIR defaults to runs/cold_start; the schedule (20 epochs) is in ml1m_cold_start.py.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/scripts/setup_env.sh"
OUT="${1:-$ROOT/runs/cold_start}"
shift || true
cd "$ROOT"
ID_DROPOUT=0.5
# encoder item_tower item_id_dropout
RUNS=(
  "sasrec id 0" "sasrec id+text 0" "sasrec id+text $ID_DROPOUT" "sasrec text 0"
  "bert4rec id 0" "bert4rec id+text 0" "bert4rec text 0"
)
# The text vectors depend only on the checkpoint and the item texts: encode them once for all runs.
mkdir -p "$OUT/text_cache"
for run in "${RUNS[@]}"; do
  read -r model tower dropout <<< "$run"
  name="${model}_${tower/+/_}"
  objective=next_item
  if [ "$model" = "bert4rec" ]; then objective=cloze; fi
  overrides=(--config.model.objective="$objective")
  if [ "$dropout" != "0" ]; then
    name="${name}_id_dropout_${dropout}"
    overrides+=(--config.model.item_id_dropout="$dropout")
  fi
  workdir="$OUT/$name"
  if [ -f "$workdir/results.json" ]; then
    echo "=== $name: finished before, skipped"
    continue
  fi
  mkdir -p "$workdir"
  ln -sfn ../text_cache "$workdir/text_cache"
  echo "=== $model, item tower $tower, id dropout $dropout -> $workdir"
  "$ROOT/.venv/bin/python" -m recall_jax.main --config experiments/configs/ml1m_cold_start.py \
    --workdir "$workdir" --config.model.name="$model" --config.model.item_tower="$tower" \
    "${overrides[@]}" --config.train.progress_bar=False "$@"
done
