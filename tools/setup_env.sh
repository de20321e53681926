#!/usr/bin/env bash
# Create (or update) the project's virtual environment in .venv.
#
# Idempotent: a second run only checks what is already there. The one slow
# step, building mmcv 2.1.0 with its C++ ops from source, is cached as a
# wheel under ${PROMPTHUB_CACHE:-~/.cache/prompthub}/wheels, keyed by the
# torch version, so later installs (and CI on the same machine) take minutes.
#
# Usage: bash tools/setup_env.sh            (PYTHON=python3.11 by default)
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
VENV="${VENV:-$ROOT/.venv}"
PYTHON="${PYTHON:-python3.11}"
TORCH_VERSION=2.14.1
TORCHVISION_VERSION=0.29.1
MMCV_VERSION=2.1.0
CACHE="${PROMPTHUB_CACHE:-$HOME/.cache/prompthub}"
WHEELS="$CACHE/wheels/torch-$TORCH_VERSION"
# FORCE_CUDA=1 also builds mmcv's CUDA ops, for the GPU architectures of
# TORCH_CUDA_ARCH_LIST (tools/gpu_check.py sets both on a GPU machine); that
# wheel is cached apart from the CPU-only one.
FORCE_CUDA="${FORCE_CUDA:-0}"
if [ "$FORCE_CUDA" = 1 ]; then
  WHEELS="$WHEELS-cuda${TORCH_CUDA_ARCH_LIST:+-${TORCH_CUDA_ARCH_LIST//[^0-9A-Za-z]/_}}"
fi

log() { echo "[setup_env] $*"; }

if [ ! -x "$VENV/bin/python" ]; then
  log "creating $VENV with $PYTHON"
  "$PYTHON" -m venv "$VENV"
fi
PY="$VENV/bin/python"
PIP=("$PY" -m pip install --disable-pip-version-check -q)

# Build tooling first: mmcv and mmengine import pkg_resources (gone in
# setuptools 82) and torch 2.14 wants setuptools >= 77.
"${PIP[@]}" --upgrade "pip>=24" "setuptools>=77,<81" wheel ninja

if ! "$PY" -c "import torch, torchvision, sys; \
sys.exit(torch.__version__.split('+')[0] != '$TORCH_VERSION')" 2>/dev/null; then
  log "installing torch $TORCH_VERSION and torchvision $TORCHVISION_VERSION"
  "${PIP[@]}" "torch==$TORCH_VERSION" "torchvision==$TORCHVISION_VERSION"
fi

# requirements/*.txt hold ranges; constraints.txt the exact tested versions.
REQ="$ROOT/requirements"
"${PIP[@]}" -c "$REQ/constraints.txt" -r "$REQ/runtime.txt" -r "$REQ/det.txt" \
  -r "$REQ/tests.txt"

# One OpenCV: earlier versions of this script also installed
# opencv-python-headless, which shares the cv2/ folder with opencv-python
# (mmengine's requirement). Removing it deletes shared files, so
# opencv-python is reinstalled after it.
if "$PY" -m pip show -q opencv-python-headless >/dev/null 2>&1; then
  log "removing opencv-python-headless (opencv-python is the one OpenCV)"
  "$PY" -m pip uninstall --disable-pip-version-check -y -q \
    opencv-python-headless
  "${PIP[@]}" -c "$REQ/constraints.txt" --no-deps --force-reinstall \
    opencv-python
fi

if ! "$PY" -c "import mmcv, mmcv.ops, sys; \
sys.exit(mmcv.__version__ != '$MMCV_VERSION' or ('$FORCE_CUDA' == '1' and \
mmcv.ops.get_compiling_cuda_version() == 'not available'))" 2>/dev/null; then
  mkdir -p "$WHEELS"
  WHEEL=$(ls "$WHEELS"/mmcv-"$MMCV_VERSION"-*.whl 2>/dev/null | head -n 1 || true)
  if [ -z "$WHEEL" ]; then
    log "building mmcv $MMCV_VERSION with ops from source (~15 min on 2 cores)"
    BUILD="$(mktemp -d)"
    # mmcv hard-codes -std=c++14/17; torch 2.14's headers need C++20.
    # Debug info (-g, from Python's build flags) only slows the build.
    cat > "$BUILD/cxx20" <<'WRAP'
#!/usr/bin/env bash
args=()
for a in "$@"; do
  case "$a" in
    -std=c++14|-std=c++17) args+=("-std=c++20") ;;
    -g) ;;
    *) args+=("$a") ;;
  esac
done
exec g++ "${args[@]}"
WRAP
    chmod +x "$BUILD/cxx20"
    CC="$BUILD/cxx20" CXX="$BUILD/cxx20" MMCV_WITH_OPS=1 \
      MAX_JOBS="${MAX_JOBS:-$(nproc)}" \
      "$PY" -m pip wheel --disable-pip-version-check --no-build-isolation \
      --no-deps --no-binary mmcv -w "$BUILD/out" "mmcv==$MMCV_VERSION"
    cp "$BUILD"/out/mmcv-*.whl "$WHEELS/"
    rm -rf "$BUILD"
    WHEEL=$(ls "$WHEELS"/mmcv-"$MMCV_VERSION"-*.whl | head -n 1)
  else
    log "using cached $WHEEL"
  fi
  "${PIP[@]}" --no-deps --force-reinstall "$WHEEL"
fi

"${PIP[@]}" --no-deps -e "$ROOT"

"$PY" - <<'CHECK'
import mmcv.ops  # noqa: F401
import mmdet.models  # noqa: F401
import mmseg.models  # noqa: F401
import torch
import cv2
import projects.prompthub  # noqa: F401
print(f'[setup_env] ok: torch {torch.__version__}, mmcv with ops, '
      f'OpenCV {cv2.__version__}, mmseg.models, mmdet.models and '
      'projects.prompthub import')
CHECK
