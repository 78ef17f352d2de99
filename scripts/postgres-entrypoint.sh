#!/bin/sh
# postgres-entrypoint.sh is the entrypoint of fastflow-postgres:local, the
# PostgreSQL image scripts/image.sh builds from Debian's postgresql package
# where the official image cannot be pulled. It honours the official image's
# variables the compose file sets (POSTGRES_USER, POSTGRES_PASSWORD,
# POSTGRES_DB, PGDATA), so docker-compose.yaml works with either image.
set -eu

if [ "${1:-}" != postgres ]; then
	exec "$@"
fi
: "${PGDATA:=/var/lib/postgresql/data}"
: "${POSTGRES_USER:=postgres}"
: "${POSTGRES_DB:=$POSTGRES_USER}"
if [ -z "${POSTGRES_PASSWORD:-}" ]; then
	echo "postgres-entrypoint: POSTGRES_PASSWORD is required" >&2
	exit 1
fi

mkdir -p "$PGDATA" /run/postgresql
chown -R postgres:postgres "$PGDATA" /run/postgresql
chmod 700 "$PGDATA"

if [ ! -s "$PGDATA/PG_VERSION" ]; then
	pwfile=$(mktemp)
	printf '%s\n' "$POSTGRES_PASSWORD" >"$pwfile"
	chown postgres "$pwfile"
	runuser -u postgres -- initdb -D "$PGDATA" -U "$POSTGRES_USER" --pwfile="$pwfile" \
		--auth-local=trust --auth-host=scram-sha-256 --encoding=UTF8 >/dev/null
	rm -f "$pwfile"
	echo "host all all all scram-sha-256" >>"$PGDATA/pg_hba.conf"
	if [ "$POSTGRES_DB" != postgres ]; then
		runuser -u postgres -- postgres -D "$PGDATA" -c listen_addresses= -k /run/postgresql &
		pid=$!
		until runuser -u postgres -- pg_isready -q -h /run/postgresql; do sleep 0.2; done
		runuser -u postgres -- psql -X -q -h /run/postgresql -U "$POSTGRES_USER" -d postgres \
			-v ON_ERROR_STOP=1 -v db="$POSTGRES_DB" -c 'CREATE DATABASE :"db"' >/dev/null
		kill -INT "$pid"
		wait "$pid" || true
	fi
	echo "postgres-entrypoint: initialised $PGDATA for $POSTGRES_USER/$POSTGRES_DB"
fi
shift
exec runuser -u postgres -- postgres -D "$PGDATA" -c listen_addresses='*' -k /run/postgresql "$@"
