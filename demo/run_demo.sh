#!/usr/bin/env bash
# The README's main command (`make demo`): the embedded CPU demo. It
# evaluates the committed tiny VICL backbone, trains PromptHub's fusion neck
# on synthetic look-alike data with the Runner, evaluates on held-out
# classes and prints the comparison table (see demo/cpu_demo.py).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
PY="${PY:-$ROOT/.venv/bin/python}"
"$PY" demo/cpu_demo.py "$@"
