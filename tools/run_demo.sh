#!/usr/bin/env bash
# The README's main command (`make demo`): train the tiny PromptHub on the
# embedded synthetic data with tools/train.py, then evaluate the last
# checkpoint with tools/test.py, which prints the metrics.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
PY="${PY:-$ROOT/.venv/bin/python}"
CONFIG="${CONFIG:-configs/prompthub_tiny_synthetic.py}"
WORK_DIR="${WORK_DIR:-work_dirs/demo}"

"$PY" tools/train.py "$CONFIG" --work-dir "$WORK_DIR" "$@"
CHECKPOINT="$(cat "$WORK_DIR/last_checkpoint")"
echo "[demo] evaluating $CHECKPOINT"
"$PY" tools/test.py "$CONFIG" "$CHECKPOINT" --work-dir "$WORK_DIR"
