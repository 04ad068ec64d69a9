#!/usr/bin/env bash
# Add a service login (`central`, or another `user` block of config/mosquitto/jaywatch.acl)
# to the broker's dynamic-security plugin, with the ACL's rules as its role. Prints the
# generated password once: put it in the file central.yaml mqtt.password_file names. Gateways are added with
# the mosquitto_ctrl lines `jaywatch central device add` prints (login bound to client
# id = device id, a role of its own).
# Needs central's CLI (jaywatch) and mosquitto_ctrl with the dynsec admin's connection
# options in ~/.config/mosquitto_ctrl, one per line: "-h broker.example.org", "-p 8883",
# "--cafile /etc/mosquitto/certs/ca.crt", "-u admin" (mosquitto_ctrl asks the password)
# Usage: deploy/mosquitto/add-user.sh USERNAME [jaywatch central options, e.g. --config FILE]
set -euo pipefail
user=${1:?usage: add-user.sh USERNAME [--config central.yaml]}
shift
[[ $user =~ ^[A-Za-z0-9_.-]{1,64}$ ]] || { echo "bad username: $user" >&2; exit 2; }
out=$(jaywatch central "$@" broker user "$user")
while IFS= read -r line; do
  [[ $line == mosquitto_ctrl\ * ]] || continue
  eval "$line"   # the lines are shell-quoted by jaywatch (shlex.join)
done <<<"$out"
sed -n 's/^# mqtt password: //p' <<<"$out"
