#!/bin/sh
# Entry point of jobq-postgresql. Honours what the chart passes to the official postgres
# image: POSTGRES_USER (default postgres), POSTGRES_PASSWORD, POSTGRES_DB (default the
# user) and PGDATA. On the first start it creates the cluster: the user is its superuser,
# TCP connections from anywhere need the password (SCRAM), the Unix socket is trusted (only
# processes in the container reach it). Then postgres replaces this shell, listening on
# all addresses; arguments are passed on to it.
set -eu

user=${POSTGRES_USER:-postgres}
database=${POSTGRES_DB:-$user}

# An identifier quoted for SQL: double quotes around it, inner ones doubled.
quote_ident() {
    printf '"%s"' "$(printf '%s' "$1" | sed 's/"/""/g')"
}

if [ ! -s "$PGDATA/PG_VERSION" ]; then
    if [ -z "${POSTGRES_PASSWORD:-}" ]; then
        echo "jobq-postgresql: POSTGRES_PASSWORD is empty; set it (TCP connections need a password)" >&2
        exit 1
    fi
    # Made aside and moved into place last: a first start that fails half-way (initdb
    # done, the database not created) leaves no PGDATA that the next start takes as complete.
    staging="$PGDATA.init"
    rm -rf "$staging"
    # The password reaches initdb through a file only this user reads, never argv.
    pwfile=$(mktemp)
    trap 'rm -f "$pwfile"' EXIT
    printf '%s\n' "$POSTGRES_PASSWORD" >"$pwfile"
    initdb --pgdata="$staging" --username="$user" --pwfile="$pwfile" \
        --auth-local=trust --auth-host=scram-sha-256 --encoding=UTF8 --locale=C.UTF-8 >/dev/null
    rm -f "$pwfile"
    trap - EXIT
    # initdb allows TCP from loopback only; clients in other pods come from anywhere.
    printf 'host all all all scram-sha-256\n' >>"$staging/pg_hba.conf"
    if [ "$database" != postgres ]; then
        # Single-user mode: the database exists before the server accepts anyone. Its
        # errors do not change its exit status, so the database's existence is checked.
        printf 'CREATE DATABASE %s OWNER %s\n' "$(quote_ident "$database")" "$(quote_ident "$user")" |
            postgres --single -D "$staging" postgres >/dev/null
        found=$(printf "SELECT 'found:' || count(*) FROM pg_database WHERE datname = '%s'\n" \
            "$(printf '%s' "$database" | sed "s/'/''/g")" | postgres --single -D "$staging" postgres)
        case "$found" in
            *found:1*) ;;
            *) echo "jobq-postgresql: could not create database $database" >&2; exit 1 ;;
        esac
    fi
    rmdir "$PGDATA" 2>/dev/null || true  # an empty folder (a fresh volume) is replaced
    mv "$staging" "$PGDATA"
    echo "jobq-postgresql: created the cluster in $PGDATA (user $user, database $database)"
fi

exec postgres -D "$PGDATA" -c 'listen_addresses=*' "$@"
