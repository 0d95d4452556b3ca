#!/usr/bin/env bash
# Restore a backup made by deploy/scripts/backup.sh into a NEW database (never over an existing one).
#
#   deploy/scripts/restore.sh TARGET_DATABASE_URL BACKUP_FILE
#
# TimescaleDB's own procedure: create the extension, timescaledb_pre_restore(), pg_restore,
# timescaledb_post_restore(). Then point TELECARE_DATABASE_URL at the new database; `telecare db
# migrate` brings it up to the running version if the backup is older.
set -euo pipefail

if [ "$#" -ne 2 ]; then
    echo "usage: $0 TARGET_DATABASE_URL BACKUP_FILE" >&2
    exit 2
fi
target=$1
backup=$2
[ -r "$backup" ] || { echo "cannot read $backup" >&2; exit 2; }
name=${target##*/}
name=${name%%\?*}
maintenance=${target%/*}/postgres
if ! [[ $name =~ ^[A-Za-z0-9_]+$ ]]; then
    echo "database name '$name': letters, digits and _ only" >&2
    exit 2
fi
if [ "$(psql "$maintenance" -tAc "SELECT 1 FROM pg_database WHERE datname = '$name'")" = "1" ]; then
    echo "database $name already exists: restore into a new one" >&2
    exit 1
fi
psql "$maintenance" -qc "CREATE DATABASE \"$name\""
psql "$target" -qv ON_ERROR_STOP=1 -c "CREATE EXTENSION IF NOT EXISTS timescaledb" -c "SELECT timescaledb_pre_restore()" >/dev/null
pg_restore --no-owner --no-privileges --exit-on-error --dbname="$target" "$backup"
psql "$target" -qv ON_ERROR_STOP=1 -c "SELECT timescaledb_post_restore()" >/dev/null
echo "restored into $name"
