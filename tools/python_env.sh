# Sourced by the launch scripts (dist_*.sh, slurm_*.sh): sets PY to the
# interpreter the tools use, the repository's .venv/bin/python when it
# exists (what `make install` builds), else ${PYTHON:-python}; never a
# `python` that merely comes first on PATH while the venv exists.
_REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ -x "$_REPO_ROOT/.venv/bin/python" ]; then
    PY="$_REPO_ROOT/.venv/bin/python"
else
    PY="${PYTHON:-python}"
fi
if ! command -v "$PY" >/dev/null 2>&1; then
    echo "$(basename "$0"): no Python interpreter: $_REPO_ROOT/.venv/bin/python" \
        "does not exist and '$PY' is not a command. Run 'make install'" \
        "or set PYTHON=/path/to/python." >&2
    exit 1
fi
