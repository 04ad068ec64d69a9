#!/usr/bin/env bash
# Create jaywatch's PostgreSQL role and database (Debian PostgreSQL 15, run on the DB host
# as root or as a user that may `sudo -u postgres`). Idempotent. Prints the database_url
# for /etc/jaywatch/central.yaml; then `jaywatch central migrate` creates the schema.
#
# Usage: deploy/postgresql/setup.sh [DB=jaywatch] [ROLE=jaywatch] [HOST=127.0.0.1]
set -euo pipefail
db=${1:-jaywatch}
role=${2:-jaywatch}
host=${3:-127.0.0.1}
[[ $db =~ ^[a-z_][a-z0-9_]*$ && $role =~ ^[a-z_][a-z0-9_]*$ ]] || { echo "bad name" >&2; exit 2; }
psql_pg() { if [[ $(id -u) -eq 0 ]]; then su postgres -s /bin/sh -c "psql -v ON_ERROR_STOP=1 -qtA $*"; else sudo -u postgres psql -v ON_ERROR_STOP=1 -qtA "$@"; fi; }

pw=$(openssl rand -base64 24 | tr -d '/+=' | cut -c1-24)
if [[ -z $(psql_pg "-c \"SELECT 1 FROM pg_roles WHERE rolname='$role'\"") ]]; then
  psql_pg "-c \"CREATE ROLE $role LOGIN PASSWORD '$pw'\""
else
  psql_pg "-c \"ALTER ROLE $role PASSWORD '$pw'\""
fi
if [[ -z $(psql_pg "-c \"SELECT 1 FROM pg_database WHERE datname='$db'\"") ]]; then
  psql_pg "-c \"CREATE DATABASE $db OWNER $role ENCODING 'UTF8' TEMPLATE template0\""
fi
# Nobody else may connect to it; the role owns the schema the migrations create.
psql_pg "-c \"REVOKE ALL ON DATABASE $db FROM PUBLIC\""
psql_pg "-d $db -c \"ALTER SCHEMA public OWNER TO $role\""
echo "database_url: postgresql+psycopg://$role:$pw@$host:5432/$db"
echo "# pg_hba.conf: allow only the central hosts, scram-sha-256, e.g."
echo "#   hostssl $db $role 10.0.0.0/24 scram-sha-256"
