#!/usr/bin/env bash
# Install qkv with everything its tests need, then lint and run the whole test suite.
# Works on a fresh machine with Python 3.11 and pip.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
pip_install() { "$PY" -m pip install --quiet --disable-pip-version-check "$@"; }
# torch first, pinned: on the project machines 2.13.0 is a local CPU wheel, while an unpinned
# torch would pull a multi-GB CUDA build.
"$PY" -c "import torch" 2>/dev/null || pip_install "torch==2.13.0"
pip_install -e ".[dev,torch,viz,hf]"
"$PY" -m ruff check .
"$PY" -m pytest "$@"
