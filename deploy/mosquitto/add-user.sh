#!/usr/bin/env bash
# Add (or change) a broker login: `central`, or a gateway whose username is its device
# id (the ACL's %u patterns rely on that). Prints the generated password once: put it in
# the gateway's broker.password_file (mode 0600) or central.yaml mqtt.password.
# Usage: deploy/mosquitto/add-user.sh USERNAME [PASSWD_FILE=/etc/mosquitto/jaywatch.passwd]
set -euo pipefail
user=${1:?usage: add-user.sh USERNAME [PASSWD_FILE]}
file=${2:-/etc/mosquitto/jaywatch.passwd}
[[ $user =~ ^[A-Za-z0-9_.-]{1,64}$ ]] || { echo "bad username: $user" >&2; exit 2; }
pw=$(openssl rand -base64 24 | tr -d '/+=' | cut -c1-24)
[[ -f $file ]] || { install -m 600 /dev/null "$file"; }
mosquitto_passwd -b "$file" "$user" "$pw"
if id mosquitto >/dev/null 2>&1; then chown mosquitto: "$file"; fi
# mosquitto re-reads password and ACL files on SIGHUP.
systemctl reload mosquitto 2>/dev/null || echo "reload mosquitto (SIGHUP) to apply" >&2
echo "$pw"
