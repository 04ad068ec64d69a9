#!/usr/bin/env bash
# A private CA and the broker's server certificate (openssl). Give ca.crt to every
# gateway (edge.yaml broker.ca_file) and to central (central.yaml mqtt.ca_file).
# Usage: deploy/mosquitto/make-certs.sh BROKER_HOSTNAME [OUT_DIR=/etc/mosquitto/certs]
# Keep ca.key offline after use; re-run with an existing CA to renew the server cert.
set -euo pipefail
host=${1:?usage: make-certs.sh BROKER_HOSTNAME [OUT_DIR]}
out=${2:-/etc/mosquitto/certs}
mkdir -p "$out"
cd "$out"
if [[ ! -f ca.key ]]; then
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 3650 \
    -subj "/CN=jaywatch broker CA" -keyout ca.key -out ca.crt 2>/dev/null
fi
openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
  -subj "/CN=$host" -keyout server.key -out server.csr 2>/dev/null
san="subjectAltName=DNS:$host"
[[ $host =~ ^[0-9.]+$ ]] && san="subjectAltName=IP:$host"
openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 825 \
  -extfile <(printf '%s\n' "$san") -out server.crt 2>/dev/null
rm -f server.csr
chmod 600 ca.key server.key
if id mosquitto >/dev/null 2>&1; then chown mosquitto: server.key server.crt ca.crt; fi
echo "wrote $out/{ca.crt,server.crt,server.key} for $host"
