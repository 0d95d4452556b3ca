#!/usr/bin/env bash
# Builds and installs the TimescaleDB (Apache-2 edition) extension into the local PostgreSQL 15 cluster.
# Debian 12 does not package TimescaleDB, but Debian 13's source package builds against PostgreSQL 15.
# Idempotent: does nothing when the extension is already available and preloaded.
set -euo pipefail

PG_MAJOR="${PG_MAJOR:-15}"
PG_CONFIG="/usr/lib/postgresql/${PG_MAJOR}/bin/pg_config"
PSQL=(psql -h 127.0.0.1 -U postgres -d postgres -tAq)

preloaded() { "${PSQL[@]}" -c "show shared_preload_libraries" 2>/dev/null | grep -q timescaledb; }
available() { [ -f "/usr/share/postgresql/${PG_MAJOR}/extension/timescaledb.control" ]; }

if available && preloaded; then
  echo "timescaledb: already installed and preloaded"
  exit 0
fi

if ! available; then
  work="$(mktemp -d /tmp/timescaledb-build.XXXXXX)"
  trap 'rm -rf "$work"' EXIT
  mkdir -p "$work/lists/partial" "$work/etc"
  # A private source list so the system's own apt lists stay on bookworm.
  echo "deb-src http://deb.debian.org/debian trixie main" > "$work/etc/trixie-src.list"
  apt_private=(-o "Dir::Etc::sourcelist=$work/etc/trixie-src.list" -o "Dir::Etc::sourceparts=/nonexistent"
               -o "Dir::State::Lists=$work/lists" -o "APT::Get::List-Cleanup=0")
  export DEBIAN_FRONTEND=noninteractive
  if ! dpkg -s "postgresql-server-dev-${PG_MAJOR}" libssl-dev cmake dpkg-dev >/dev/null 2>&1; then
    apt-get update -qq
    apt-get install -y -qq "postgresql-server-dev-${PG_MAJOR}" libssl-dev cmake dpkg-dev xz-utils >/dev/null
  fi
  apt-get "${apt_private[@]}" update -qq
  (cd "$work" && apt-get "${apt_private[@]}" source --download-only timescaledb >/dev/null)
  orig="$(ls "$work"/timescaledb_*.orig.tar.* | head -n 1)"
  mkdir -p "$work/src"
  tar -xf "$orig" -C "$work/src" --strip-components=1
  (cd "$work/src" && ./bootstrap -DAPACHE_ONLY=1 -DUSE_TELEMETRY=OFF -DSEND_TELEMETRY_DEFAULT=OFF \
      -DREGRESS_CHECKS=OFF -DTAP_CHECKS=OFF -DWARNINGS_AS_ERRORS=OFF -DPG_CONFIG="$PG_CONFIG" >/dev/null \
    && make -C build -j"$(nproc)" install >/dev/null)
  echo "timescaledb: built and installed"
fi

if ! preloaded; then
  conf_dir="/etc/postgresql/${PG_MAJOR}/main/conf.d"
  mkdir -p "$conf_dir"
  cat > "$conf_dir/timescaledb.conf" <<CONF
shared_preload_libraries = 'timescaledb'
timescaledb.telemetry_level = off
max_locks_per_transaction = 256
CONF
  pg_ctlcluster --skip-systemctl-redirect "$PG_MAJOR" main restart
  for _ in $(seq 1 60); do
    pg_isready -h 127.0.0.1 -q && break
    sleep 0.5
  done
  echo "timescaledb: preloaded, cluster restarted"
fi
