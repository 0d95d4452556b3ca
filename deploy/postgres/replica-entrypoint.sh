#!/bin/bash
# The streaming replica: on first start, copy the primary with pg_basebackup (-R writes
# standby.signal and primary_conninfo), then run as a hot standby that reports may read from.
# Fail-over (docs/deployment.md): stop the primary for good, `SELECT pg_promote()` here, point
# TELECARE_DATABASE_URL at this host, and rebuild the old primary as the new replica.
set -euo pipefail
: "${TELECARE_REPLICATION_PASSWORD:?set TELECARE_REPLICATION_PASSWORD}"
if [ ! -s "$PGDATA/PG_VERSION" ]; then
    export PGPASSWORD=$TELECARE_REPLICATION_PASSWORD
    until pg_basebackup --host="$PRIMARY_HOST" --username=replicator --pgdata="$PGDATA" \
            --wal-method=stream --write-recovery-conf --checkpoint=fast; do
        echo "primary not ready; retrying" >&2
        rm -rf "${PGDATA:?}"/*
        sleep 2
    done
    unset PGPASSWORD
    chmod 700 "$PGDATA"
fi
exec docker-entrypoint.sh postgres -c hot_standby=on
