#!/bin/sh
# The users PgBouncer admits, with the passwords it also uses to log in to PostgreSQL, from the environment.
set -eu
umask 077
printf '"tierline_app" "%s"\n' "${TIERLINE_APP_DB_PASSWORD:?set TIERLINE_APP_DB_PASSWORD}" >/tmp/pgbouncer-users.txt
exec /usr/sbin/pgbouncer /etc/pgbouncer/pgbouncer.ini
