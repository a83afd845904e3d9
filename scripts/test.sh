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
pip_install -e ".[dev,torch,viz,hf,web]"
# Browser tests drive Debian's chromium through the playwright package (never
# `playwright install`); as root, install it when missing, else those tests are skipped.
if ! command -v chromium >/dev/null && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) \
    >/dev/null 2>&1 || echo "chromium could not be installed: browser tests will be skipped"
fi
"$PY" -m ruff check .
"$PY" -m mypy  # strict on qkv.core and qkv.nn (pyproject.toml)
"$PY" -m pytest "$@"
