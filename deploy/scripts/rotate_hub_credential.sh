#!/usr/bin/env bash
# Rotate one hub's (or service client's) broker password and make the broker load it.
#
#   deploy/scripts/rotate_hub_credential.sh BROKER_DIR USER [MOSQUITTO_PID]
#
# 1. writes a new hash for USER into BROKER_DIR/passwd and the clear password into
#    BROKER_DIR/new-credentials.json (owner-only): configure the hub with it, then delete that file;
# 2. sends SIGHUP to Mosquitto (MOSQUITTO_PID, else `systemctl reload mosquitto` when it runs under
#    systemd), which re-reads passwd and acl: from then on the old password is refused at connect.
# A connection opened with the old password stays up until it ends; restart the hub (or the broker)
# to cut it at once.
set -euo pipefail

if [ "$#" -lt 2 ]; then
    echo "usage: $0 BROKER_DIR USER [MOSQUITTO_PID]" >&2
    exit 2
fi
broker_dir=$1
user=$2
telecare broker rotate --dir "$broker_dir" --user "$user"
if [ "$#" -ge 3 ]; then
    kill -HUP "$3"
elif command -v systemctl >/dev/null && systemctl is-active --quiet mosquitto; then
    systemctl reload mosquitto
else
    echo "reload the broker now (SIGHUP) so that it reads the new password" >&2
fi
