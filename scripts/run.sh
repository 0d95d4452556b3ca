#!/usr/bin/env bash
# Sets up everything on a fresh machine (idempotent), then runs the whole service with a simulated
# 12-flat supported-living scheme publishing in real time, on a private Mosquitto from deploy/mosquitto.
# Stop with Ctrl-C. Override TELECARE_* variables (see README) to use your own database or broker.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export TELECARE_DEV_MODE="${TELECARE_DEV_MODE:-true}"
export TELECARE_DATABASE_URL="${TELECARE_DATABASE_URL:-postgresql://postgres@127.0.0.1:5432/telecare}"
broker_args=()
if [ -z "${TELECARE_MQTT_URL:-}" ]; then
  broker_args=(--local-broker)
fi
exec .venv/bin/telecare run "${broker_args[@]}" --simulate-flats "${TELECARE_SIMULATE_FLATS:-12}" "$@"
