#!/usr/bin/env bash
# A private certificate authority and a broker certificate for one site.
#
#   deploy/scripts/make_site_ca.sh OUT_DIR BROKER_HOST [EXTRA_NAME ...]
#
# Writes OUT_DIR/ca.crt (give it to every hub and service process), OUT_DIR/ca.key (keep it offline:
# whoever holds it can impersonate the broker), OUT_DIR/server.crt and OUT_DIR/server.key (the broker's).
# BROKER_HOST and each EXTRA_NAME become subject alternative names (IP addresses or DNS names), which
# clients check. An existing CA is reused, so re-running renews only the broker certificate.
set -euo pipefail

if [ "$#" -lt 2 ]; then
    echo "usage: $0 OUT_DIR BROKER_HOST [EXTRA_NAME ...]" >&2
    exit 2
fi
out_dir=$1
shift
umask 077
mkdir -p "$out_dir"

san=""
for name in "$@"; do
    if [[ $name =~ ^[0-9.]+$ || $name == *:* ]]; then
        san="${san:+$san,}IP:$name"
    else
        san="${san:+$san,}DNS:$name"
    fi
done

if [ ! -f "$out_dir/ca.key" ]; then
    openssl ecparam -name prime256v1 -genkey -noout -out "$out_dir/ca.key"
    openssl req -x509 -new -key "$out_dir/ca.key" -sha256 -days 3650 -subj "/CN=telecare site CA" \
        -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
        -out "$out_dir/ca.crt"
fi

openssl ecparam -name prime256v1 -genkey -noout -out "$out_dir/server.key"
openssl req -new -key "$out_dir/server.key" -subj "/CN=$1" -out "$out_dir/server.csr"
extensions=$(mktemp)
trap 'rm -f "$extensions"' EXIT
printf 'subjectAltName=%s\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n' \
    "$san" > "$extensions"
openssl x509 -req -in "$out_dir/server.csr" -CA "$out_dir/ca.crt" -CAkey "$out_dir/ca.key" \
    -CAcreateserial -days 825 -sha256 -extfile "$extensions" -out "$out_dir/server.crt"
rm -f "$out_dir/server.csr"
# The broker (often another user) must read its key; the CA key stays owner-only.
chmod 644 "$out_dir/ca.crt" "$out_dir/server.crt"
chmod 640 "$out_dir/server.key"
echo "CA: $out_dir/ca.crt  broker certificate for: $san"
