#!/bin/bash
# Runs once, when the primary's data folder is first created (docker-entrypoint-initdb.d): a role for
# the streaming replica and the pg_hba line that lets it connect for replication only.
set -euo pipefail
: "${TELECARE_REPLICATION_PASSWORD:?set TELECARE_REPLICATION_PASSWORD}"
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
    -v password="$TELECARE_REPLICATION_PASSWORD" <<'SQL'
CREATE ROLE replicator WITH REPLICATION LOGIN PASSWORD :'password';
SQL
echo "host replication replicator all scram-sha-256" >> "$PGDATA/pg_hba.conf"
