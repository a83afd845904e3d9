#!/usr/bin/env bash
# Install qkv with everything its tests need, then lint and run the whole test suite.
# Works on a fresh machine with Python 3.11 and pip.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
"$PY" -m pip install --quiet --disable-pip-version-check -e ".[dev]"
"$PY" -m ruff check .
"$PY" -m pytest "$@"
