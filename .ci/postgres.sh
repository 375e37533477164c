#!/usr/bin/env bash
# Starts a throwaway PostgreSQL server for the Postgres store's tests and prints the variables
# that point the tests at it, so one line starts it and sets them:
#
#     eval "$(.ci/postgres.sh)" && cargo test -p marketsync-postgres
#
# The server lives in a fresh temporary directory, listens on 127.0.0.1 only (a free port, and a
# Unix socket in that directory), trusts every local connection, and keeps its data without
# fsync: it is for tests, never for data anyone wants to keep. It uses the machine's PostgreSQL
# binaries (/usr/lib/postgresql/<version>/bin), installing the Debian `postgresql` package first
# when there are none. As root, the server runs as the `postgres` user (PostgreSQL refuses to run
# as root).
#
# Printed (on stdout, nothing else goes there):
#   MARKETSYNC_TEST_POSTGRES_URL  postgres://postgres@127.0.0.1:<port>/marketsync_test, a database
#                                 the tests may create schemas and databases in
#   MARKETSYNC_TEST_POSTGRES_DIR  the server's directory, for `stop`
#
# Stop it and delete its directory with:
#
#     .ci/postgres.sh stop            # the server named by $MARKETSYNC_TEST_POSTGRES_DIR
#     .ci/postgres.sh stop <dir>      # or a given one
set -euo pipefail

DATABASE=marketsync_test

log() { echo "postgres.sh: $*" >&2; }

# The directory of the newest PostgreSQL server binaries on the machine, if any.
find_bin() {
    local dir
    dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
    if [ -n "$dir" ] && [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ]; then
        echo "$dir"
    fi
}

# Runs a command as the server's user: `postgres` when we are root, else ourselves.
as_server_user() {
    if [ "$(id -u)" -eq 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

# Whether nothing listens on 127.0.0.1:$1.
port_is_free() {
    ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

start() {
    local bin
    bin=$(find_bin)
    if [ -z "$bin" ]; then
        log "no PostgreSQL server binaries found: installing the postgresql package"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq >&2
        apt-get install -y -qq postgresql >&2
        bin=$(find_bin)
        if [ -z "$bin" ]; then
            log "installing postgresql gave no server binaries under /usr/lib/postgresql"
            exit 1
        fi
    fi

    local dir port
    dir=$(mktemp -d "${TMPDIR:-/tmp}/marketsync-postgres.XXXXXX")
    chmod 755 "$dir"
    if [ "$(id -u)" -eq 0 ]; then
        chown postgres: "$dir"
    fi

    port=""
    for candidate in $(seq 55432 55631); do
        if port_is_free "$candidate"; then
            port=$candidate
            break
        fi
    done
    if [ -z "$port" ]; then
        log "no free port in 55432-55631"
        exit 1
    fi

    log "initdb in $dir/data ($bin)"
    as_server_user "$bin/initdb" -D "$dir/data" -U postgres --auth=trust --encoding=UTF8 \
        --no-locale >"$dir/initdb.log" 2>&1 || {
        cat "$dir/initdb.log" >&2
        exit 1
    }
    log "starting on 127.0.0.1:$port"
    as_server_user "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
        -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c max_connections=300 -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
        start >&2 || {
        cat "$dir/server.log" >&2
        exit 1
    }
    as_server_user "$bin/psql" -h "$dir" -p "$port" -U postgres -d postgres -q -v ON_ERROR_STOP=1 \
        -c "CREATE DATABASE $DATABASE" >&2

    echo "export MARKETSYNC_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:$port/$DATABASE"
    echo "export MARKETSYNC_TEST_POSTGRES_DIR=$dir"
    log "ready; stop it with: .ci/postgres.sh stop $dir"
}

stop() {
    local dir=${1:-${MARKETSYNC_TEST_POSTGRES_DIR:-}}
    if [ -z "$dir" ] || [ ! -d "$dir/data" ]; then
        log "stop: give the server's directory (or set MARKETSYNC_TEST_POSTGRES_DIR)"
        exit 1
    fi
    local bin
    bin=$(find_bin)
    as_server_user "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >&2 || true
    rm -rf "$dir"
    log "stopped and removed $dir"
}

case "${1:-start}" in
start) start ;;
stop) stop "${2:-}" ;;
*)
    log "usage: $0 [start | stop [dir]]"
    exit 2
    ;;
esac
