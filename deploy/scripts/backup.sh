#!/usr/bin/env bash
# Logical backup of the telecare database (TimescaleDB hypertables included), owner-only.
#
#   deploy/scripts/backup.sh DATABASE_URL OUT_FILE
#
# A pg_dump custom-format archive; restore it with deploy/scripts/restore.sh. Run it nightly (the
# systemd timer deploy/systemd/telecare-backup.timer does) and copy the file off the machine. For
# point-in-time recovery of a large database use physical backups instead (docs/deployment.md).
set -euo pipefail

if [ "$#" -ne 2 ]; then
    echo "usage: $0 DATABASE_URL OUT_FILE" >&2
    exit 2
fi
url=$1
out=$2
umask 077
# Written aside and renamed, so a failed run never leaves a truncated file under the real name.
pg_dump --format=custom --no-owner --no-privileges --file="$out.partial" "$url"
mv "$out.partial" "$out"
echo "backup written: $out ($(stat -c %s "$out") bytes)"
