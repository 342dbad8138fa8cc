#!/usr/bin/env bash
# First boot of the PostgreSQL container: the application's role, which neither owns the tables nor bypasses
# row-level security (docs/tenancy.md). On an existing volume, run the same statement once with psql.
set -euo pipefail
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
  -v app_password="$TIERLINE_APP_DB_PASSWORD" <<'SQL'
CREATE ROLE tierline_app LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS PASSWORD :'app_password';
SQL
