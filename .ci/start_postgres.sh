# Sourced by .ci/run: make a PostgreSQL server answer on 127.0.0.1, so the store's tests also run
# against PostgreSQL. Installs Debian's postgresql where it is missing, and starts a throwaway
# server (data under /tmp, trust authentication, no fsync: test data only) unless one already
# answers on the port. Exports EVOFORGE_TEST_POSTGRES (the test database's URL) and
# EVOFORGE_REQUIRE_POSTGRES=1, so the PostgreSQL tests fail instead of skipping when it is gone.
_evoforge_pg_port="${EVOFORGE_PG_PORT:-55432}"
_evoforge_pg_data="/tmp/evoforge-postgres"
_evoforge_pg_sudo=""; [ "$(id -u)" -eq 0 ] || _evoforge_pg_sudo="sudo"
_evoforge_pg_bin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1; }
if [ -z "$(_evoforge_pg_bin)" ]; then
    $_evoforge_pg_sudo apt-get update -q
    DEBIAN_FRONTEND=noninteractive $_evoforge_pg_sudo apt-get install -y -q --no-install-recommends postgresql
fi
_evoforge_pg="$(_evoforge_pg_bin)"
# The server refuses to run as root: as root it runs as Debian's `postgres` user.
_evoforge_as_pg() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
_evoforge_pg_answers() { "$_evoforge_pg/pg_isready" -q -h 127.0.0.1 -p "$_evoforge_pg_port"; }
if ! _evoforge_pg_answers; then
    if [ ! -f "$_evoforge_pg_data/PG_VERSION" ]; then
        rm -rf "$_evoforge_pg_data"
        mkdir -p "$_evoforge_pg_data"
        [ "$(id -u)" -ne 0 ] || chown postgres: "$_evoforge_pg_data"
        _evoforge_as_pg "$_evoforge_pg/initdb" -D "$_evoforge_pg_data" -U postgres -A trust >/dev/null
    fi
    _evoforge_as_pg "$_evoforge_pg/pg_ctl" -D "$_evoforge_pg_data" -l "$_evoforge_pg_data/server.log" -w -t 60 \
        -o "-c listen_addresses=127.0.0.1 -p $_evoforge_pg_port -k $_evoforge_pg_data -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
        start >/dev/null
fi
_evoforge_psql() { "$_evoforge_pg/psql" -h 127.0.0.1 -p "$_evoforge_pg_port" -U postgres -d postgres -qtA "$@"; }
[ "$(_evoforge_psql -c "SELECT 1 FROM pg_database WHERE datname = 'evoforge_test'")" = "1" ] \
    || _evoforge_psql -c "CREATE DATABASE evoforge_test"
export EVOFORGE_TEST_POSTGRES="postgresql://postgres@127.0.0.1:$_evoforge_pg_port/evoforge_test"
export EVOFORGE_REQUIRE_POSTGRES=1
echo "PostgreSQL $(_evoforge_psql -c 'SHOW server_version') answers: the store's tests also run on $EVOFORGE_TEST_POSTGRES"
