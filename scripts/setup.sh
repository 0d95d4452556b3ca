#!/usr/bin/env bash
# Installs everything the project needs on a fresh Debian 12 machine, idempotently:
# system packages (Mosquitto, Chromium for browser tests), the TimescaleDB extension, and a virtualenv.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || need_apt+=(mosquitto)
[ -x /usr/bin/chromium ] || need_apt+=(chromium)
command -v pg_isready >/dev/null 2>&1 || need_apt+=(postgresql-client)
# Validates deploy/compose.yaml in the tests (Docker itself cannot run here); systemd-analyze checks the units.
command -v docker-compose >/dev/null 2>&1 || need_apt+=(docker-compose)
# pdftoppm renders evidence-pack PDFs to images (the pack test looks at the page as a person would).
command -v pdftoppm >/dev/null 2>&1 || need_apt+=(poppler-utils)
if [ ${#need_apt[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

if ! pg_isready -h 127.0.0.1 -q; then
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n 1)" main start
fi
bash deploy/scripts/install_timescaledb.sh

# nginx, for the tests of the shipped reverse-proxy config (deploy/nginx/). Only the binary, unpacked
# from Debian's package into .nginx/: installing the package would start a system-wide nginx on
# port 80 on a machine others share. A system nginx (production) is used when present.
if ! command -v nginx >/dev/null 2>&1 && [ ! -x .nginx/usr/sbin/nginx ]; then
  nginx_download=$(mktemp -d)
  (cd "$nginx_download" && apt-get download -qq nginx 2>/dev/null) || {
    apt-get update -qq && (cd "$nginx_download" && apt-get download -qq nginx); }
  dpkg -x "$nginx_download"/nginx_*.deb .nginx
  rm -rf "$nginx_download"
fi

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
stamp=.venv/.installed-$(sha256sum pyproject.toml | cut -c1-16)
if [ ! -f "$stamp" ]; then
  .venv/bin/pip install -q --upgrade pip
  .venv/bin/pip install -q -e '.[dev]'
  rm -f .venv/.installed-*
  touch "$stamp"
fi
