#!/usr/bin/env bash
# The test suite: set up .venv, then run pytest on all cores. Extra arguments go to pytest.
# Data: $RECALL_JAX_DATA, else ../shared/data next to the repository.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/scripts/setup_env.sh"
# torch (CPU) only for the parity tests against PyTorch reference implementations.
"$ROOT/.venv/bin/python" -c "import torch" 2>/dev/null \
  || "$ROOT/.venv/bin/pip" install --quiet "torch==${TORCH_VERSION:-2.13.0}"
cd "$ROOT"
exec "$ROOT/.venv/bin/python" -m pytest -n "${PYTEST_WORKERS:-auto}" --durations=15 "$@" tests
