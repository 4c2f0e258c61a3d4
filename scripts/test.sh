#!/usr/bin/env bash
# Run the whole test suite (called by `make test`, which installs everything first).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH"
mkdir -p artifacts
pytest "$@"
