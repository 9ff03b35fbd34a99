#!/usr/bin/env bash
# Accelerator check (GPU or TPU), under 10 minutes: set-up, devices, train-step throughput in
# float32 and bfloat16, sharded full ranking against the CPU, and the scale benchmark at 10^5
# items. Every output goes under the folder given as $1 (default runs/accelerator_check); one
# summary table is printed at the end.
#
#   bash scripts/accelerator_check.sh [OUTPUT_FOLDER]
#
# Steps:
#   1. bash scripts/setup_env.sh (.venv), then `pip install -U "jax[cuda12]"` only when
#      nvidia-smi exists and jax sees no GPU;
#   2. jax.devices();
#   3. scripts/benchmark_compute_options.py --steps N: the SASRec train step on ML-1M under
#      each compute option, compute_dtype float32 (the default row) and bfloat16 among them
#      (needs ml-1m/ml-1m.txt under $RECALL_JAX_DATA, else shared/data or ../shared/data);
#   4. scripts/check_sharded_ranking.py: rank_all_items on the accelerator mesh against the CPU:
#      audit=True must give identical ranks and top-k ids; the default mode's max score gap;
#   5. scripts/benchmark_scale.py --sizes 100000: sampled and full softmax steps, the item
#      table's split, full-ranking evaluation time, peak host RSS and device memory.
#
# On a machine without an accelerator everything runs on the CPU: a smoke test of the script
# only, not a measurement. ACCELERATOR_CHECK_FAST=1 shrinks the sizes and steps (10^4 items)
# for that; ACCELERATOR_CHECK_PYTHON=/path/to/python uses that interpreter and skips step 1.
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="$(mkdir -p "${1:-$ROOT/runs/accelerator_check}" && cd "${1:-$ROOT/runs/accelerator_check}" && pwd)"
cd "$ROOT"
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
if [ -z "${RECALL_JAX_DATA:-}" ]; then
  for candidate in "$ROOT/shared/data" "$ROOT/../shared/data"; do
    if [ -f "$candidate/ml-1m/ml-1m.txt" ]; then export RECALL_JAX_DATA="$candidate"; break; fi
  done
fi

if [ "${ACCELERATOR_CHECK_FAST:-0}" = 1 ]; then
  COMPUTE_ARGS=(--steps 2 --warmup 1 --chunks 1)
  RANKING_ARGS=(--users 1000 --items 10000 --item-chunk 4096)
  SCALE_ARGS=(--sizes 10000 --model-parallelism 1 2 --steps 3 --warmup 1 --eval-users 1000)
else
  COMPUTE_ARGS=(--steps 30)
  RANKING_ARGS=(--users 6040 --items 100000)
  SCALE_ARGS=(--sizes 100000 --model-parallelism 1 2 4 8 --steps 20)
fi

declare -a NAMES STATUS SECONDS_TAKEN
run_step() {  # run_step NAME LOG COMMAND...: runs, logs stdout+stderr, records status and time
  local name="$1" log="$2" started rc
  shift 2
  echo "== $name: $*"
  started=$(date +%s)
  "$@" >"$log" 2>&1
  rc=$?
  NAMES+=("$name"); SECONDS_TAKEN+=("$(( $(date +%s) - started ))")
  if [ "$rc" = 0 ]; then STATUS+=("ok"); else STATUS+=("FAILED (exit $rc)"); fi
  tail -n 30 "$log"
}

# 1. Set-up.
if [ -n "${ACCELERATOR_CHECK_PYTHON:-}" ]; then
  PY="$ACCELERATOR_CHECK_PYTHON"
else
  run_step "setup" "$OUT/setup.log" bash scripts/setup_env.sh
  PY="$ROOT/.venv/bin/python"
  if command -v nvidia-smi >/dev/null 2>&1 && \
      ! "$PY" -c "import jax, sys; sys.exit(0 if jax.devices()[0].platform == 'gpu' else 1)" \
        >/dev/null 2>&1; then
    run_step "jax[cuda12]" "$OUT/jax_cuda.log" "$ROOT/.venv/bin/pip" install --quiet -U "jax[cuda12]"
  fi
fi

# 2. Devices.
run_step "devices" "$OUT/devices.txt" "$PY" -c \
  "import jax; print(jax.__version__, jax.default_backend()); print(jax.devices())"

# 3-5. Measurements.
run_step "compute options (f32, bf16)" "$OUT/compute_options.md" \
  "$PY" scripts/benchmark_compute_options.py "${COMPUTE_ARGS[@]}"
# 8 host devices: on a CPU-only machine the items are split over them too (smoke test).
run_step "sharded ranking vs CPU" "$OUT/sharded_ranking.md" \
  env XLA_FLAGS="${XLA_FLAGS:---xla_force_host_platform_device_count=8}" \
  "$PY" scripts/check_sharded_ranking.py "${RANKING_ARGS[@]}" --json "$OUT/sharded_ranking.json"
run_step "scale benchmark" "$OUT/scale.md" \
  "$PY" scripts/benchmark_scale.py "${SCALE_ARGS[@]}" --json "$OUT/scale.json"

# Summary: one row per step with its headline figure.
headline() {
  case "$1" in
    devices) tr '\n' ' ' <"$OUT/devices.txt" ;;
    "compute options (f32, bf16)")
      awk '$1 == "default" && $2 == "(all" {printf "float32 %s seq/s; ", $4}
           $1 == "compute" && $2 == "bfloat16" {printf "bfloat16 %s seq/s (x%s)", $4, $5}' \
        "$OUT/compute_options.md" ;;
    "sharded ranking vs CPU") grep '^RESULT:' "$OUT/sharded_ranking.md" | sed 's/^RESULT: //' ;;
    "scale benchmark")
      awk -F'|' '$3 ~ /^ *1 *$/ {printf "%s items mp=1: sampled %s seq/s, full %s seq/s, eval %s s warm",
                 $2, $7, $10, $13}' "$OUT/scale.md" | tr -s ' ' ;;
  esac
}
{
  echo "| step | status | s | headline |"
  echo "|---|---|---|---|"
  for i in "${!NAMES[@]}"; do
    echo "| ${NAMES[$i]} | ${STATUS[$i]} | ${SECONDS_TAKEN[$i]} | $(headline "${NAMES[$i]}") |"
  done
  echo
  echo "Outputs under $OUT"
} | tee "$OUT/summary.md"
for status in "${STATUS[@]}"; do [ "$status" = ok ] || exit 1; done
