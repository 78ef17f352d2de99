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

# setpriv execs in place (runuser would stay as the parent and swallow the
# signals docker stop sends).
as_postgres() { setpriv --reuid=postgres --regid=postgres --init-groups "$@"; }

mkdir -p "$PGDATA" /run/postgresql
chown -R postgres:postgres "$PGDATA" /run/postgresql
chmod 700 "$PGDATA"

if [ ! -s "$PGDATA/PG_VERSION" ]; then
	pwfile=$(mktemp)
	printf '%s\n' "$POSTGRES_PASSWORD" >"$pwfile"
	chown postgres "$pwfile"
	as_postgres initdb -D "$PGDATA" -U "$POSTGRES_USER" --pwfile="$pwfile" \
		--auth-local=trust --auth-host=scram-sha-256 --encoding=UTF8 >/dev/null
	rm -f "$pwfile"
	echo "host all all all scram-sha-256" >>"$PGDATA/pg_hba.conf"
	if [ "$POSTGRES_DB" != postgres ]; then
		as_postgres pg_ctl -D "$PGDATA" -o "-c listen_addresses= -k /run/postgresql" -w -s start
		# On stdin: psql interpolates :"db" there, not in -c.
		if ! echo 'CREATE DATABASE :"db"' | as_postgres psql -X -q -h /run/postgresql \
			-U "$POSTGRES_USER" -d postgres -v ON_ERROR_STOP=1 -v db="$POSTGRES_DB" >/dev/null; then
			as_postgres pg_ctl -D "$PGDATA" -m fast -w -s stop
			# Half an initialisation would be skipped at the next start.
			find "$PGDATA" -mindepth 1 -delete
			echo "postgres-entrypoint: could not create database $POSTGRES_DB" >&2
			exit 1
		fi
		as_postgres pg_ctl -D "$PGDATA" -m fast -w -s stop
	fi
	echo "postgres-entrypoint: initialised $PGDATA for $POSTGRES_USER/$POSTGRES_DB"
fi
shift
exec setpriv --reuid=postgres --regid=postgres --init-groups postgres -D "$PGDATA" -c listen_addresses='*' -k /run/postgresql "$@"
