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
source "$(dirname "$0")/apt_install.sh"

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
if apt_install postgresql "PostgreSQL gradebook tests" have_server; then
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
    echo ">> postgresql installed in $APT_SECONDS s: $("$server" --version 2>/dev/null)"
fi
exit 0
