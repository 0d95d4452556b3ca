#!/usr/bin/env bash
# The whole test suite on a fresh machine: set-up, lint, type check, then the tests against the real
# TimescaleDB and real Mosquitto brokers.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/ruff check .
.venv/bin/mypy
.venv/bin/pytest "$@"
