#!/usr/bin/env bash
# Run recall_jax.main as N processes on this machine, joined by jax.distributed: a multi-process
# (multi-host) run without a cluster. Each process gets its own DEVICES_PER_PROCESS CPU devices
# (default 2) and collectives go over CPU (gloo); process 0 coordinates on a free localhost port.
# If any process fails, the others are stopped and the script exits with its status.
#
# Usage: bash scripts/run_local_multiprocess.sh N --config experiments/configs/synthetic_tiny.py \
#          --workdir runs/tiny_2proc [more recall_jax.main flags]
#   DEVICES_PER_PROCESS=2  CPU devices per process (the mesh spans N * DEVICES_PER_PROCESS)
#   PYTHON=.venv/bin/python  the interpreter (default: the repository's .venv, else python3)
#   LOG_DIR=...  where process_<i>.log and .pid go (default: a temporary folder, printed)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ $# -lt 1 ] || ! [[ "$1" =~ ^[1-9][0-9]*$ ]]; then
  echo "usage: $0 NUM_PROCESSES <recall_jax.main arguments>" >&2
  exit 2
fi
NUM_PROCESSES="$1"
shift
DEVICES="${DEVICES_PER_PROCESS:-2}"
if [ -z "${PYTHON:-}" ]; then
  if [ -x "$ROOT/.venv/bin/python" ]; then PYTHON="$ROOT/.venv/bin/python"; else PYTHON=python3; fi
fi
LOG_DIR="${LOG_DIR:-$(mktemp -d -t recall_jax_processes.XXXXXX)}"
mkdir -p "$LOG_DIR"
PORT="$("$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
echo "$NUM_PROCESSES processes x $DEVICES CPU devices, coordinator 127.0.0.1:$PORT, logs in $LOG_DIR"

pids=()
stop_all() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
}
trap 'stop_all; exit 130' INT TERM

for ((index = 0; index < NUM_PROCESSES; index++)); do
  RECALL_JAX_COORDINATOR="127.0.0.1:$PORT" RECALL_JAX_NUM_PROCESSES="$NUM_PROCESSES" \
  RECALL_JAX_PROCESS_ID="$index" JAX_PLATFORMS=cpu \
  XLA_FLAGS="${XLA_FLAGS:-} --xla_force_host_platform_device_count=$DEVICES" \
  PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}" \
    "$PYTHON" -m recall_jax.main "$@" > "$LOG_DIR/process_$index.log" 2>&1 &
  pids+=("$!")
  echo "$!" > "$LOG_DIR/process_$index.pid"
done

status=0
remaining=("${pids[@]}")
while [ "${#remaining[@]}" -gt 0 ]; do
  # wait -n: the first process to end; a failure stops the rest (they would wait forever).
  set +e
  wait -n "${remaining[@]}"
  code=$?
  set -e
  still=()
  for pid in "${remaining[@]}"; do
    if kill -0 "$pid" 2>/dev/null; then still+=("$pid"); fi
  done
  remaining=("${still[@]+"${still[@]}"}")
  if [ "$code" -ne 0 ] && [ "$status" -eq 0 ]; then
    status="$code"
    echo "a process exited with status $code; stopping the others" >&2
    stop_all
  fi
done
cat "$LOG_DIR/process_0.log" | grep -v "^[IWE][0-9]\{4\} " || true
if [ "$status" -ne 0 ]; then
  for ((index = 0; index < NUM_PROCESSES; index++)); do
    echo "--- process $index (last lines of $LOG_DIR/process_$index.log)" >&2
    tail -n 15 "$LOG_DIR/process_$index.log" >&2
  done
fi
exit "$status"
