#!/usr/bin/env bash
# First boot of the primary PostgreSQL container: the role the read replica streams with, admitted from the
# compose network for replication only (docs/scaling.md). On an existing volume, run the same once by hand.
set -euo pipefail
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
  -v replication_password="$TIERLINE_REPLICATION_PASSWORD" <<'SQL'
CREATE ROLE replicator LOGIN REPLICATION PASSWORD :'replication_password';
SQL
echo "host replication replicator all scram-sha-256" >>"$PGDATA/pg_hba.conf"
