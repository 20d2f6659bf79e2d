#!/usr/bin/env bash
# Install Debian's PostgreSQL server for the gradebook tests on a real
# database (tests/test_grading_postgres.py).
#
# Idempotent and quiet: does nothing when a server (postgres, initdb and
# pg_ctl under /usr/lib/postgresql/*/bin) is already there.  Needs root and
# apt-get (as on CI); anywhere else it says why it cannot and exits 0, and
# those tests are then skipped with that reason.  The tests start their own
# private server on 127.0.0.1; the cluster that Debian's package creates and
# may start is stopped and set to manual start, so nothing is left listening.
# The Python driver (psycopg2-binary) is in requirements.txt.
set -uo pipefail

have_server() {
    local bin
    for bin in /usr/lib/postgresql/*/bin; do
        if [ -x "$bin/postgres" ] && [ -x "$bin/initdb" ] && [ -x "$bin/pg_ctl" ]; then
            return 0
        fi
    done
    return 1
}

if have_server; then
    exit 0
fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo ">> no PostgreSQL server in /usr/lib/postgresql/*/bin and this is not root with apt-get:" \
         "PostgreSQL gradebook tests will be skipped (as root: apt-get install postgresql)"
    exit 0
fi

echo ">> installing Debian's postgresql for the gradebook tests (once per machine)"
start=$(date +%s)
log=$(mktemp)
export DEBIAN_FRONTEND=noninteractive
if apt-get update -qq >"$log" 2>&1 \
   && apt-get install -y -qq --no-install-recommends postgresql >>"$log" 2>&1 \
   && have_server; then
    # The package creates a cluster (main) and starts it where services may
    # start: stop it and keep it from starting again; the tests need none.
    if command -v pg_lsclusters >/dev/null 2>&1; then
        pg_lsclusters --no-header 2>/dev/null | while read -r version cluster _; do
            pg_ctlcluster "$version" "$cluster" stop >/dev/null 2>&1 || true
            conf="/etc/postgresql/$version/$cluster/start.conf"
            if [ -f "$conf" ]; then echo manual >"$conf"; fi
        done
    fi
    server=$(ls -d /usr/lib/postgresql/*/bin/postgres | sort -V | tail -n 1)
    echo ">> postgresql installed in $(( $(date +%s) - start )) s: $("$server" --version 2>/dev/null)"
    rm -f "$log"
else
    echo ">> apt-get could not install postgresql; PostgreSQL gradebook tests will be skipped. Last lines of its log:"
    tail -n 5 "$log"
    rm -f "$log"
fi
exit 0
