#!/usr/bin/env bash
# Start a throw-away PostgreSQL server for the tests and print its SQLAlchemy URL on stdout.
# Installs Debian's `postgresql` with apt when missing (needs root). Any failure: a message on
# stderr and exit status 1, so that the caller can go on without it (the PostgreSQL tests then skip).
set -uo pipefail
PORT="${MOVIE_RECOMMENDER_TEST_POSTGRES_PORT:-54329}"
CLUSTER=movie_ci DB=movie_test ROLE=movie_test PASSWORD=movie_test

log() { echo "postgres.sh: $*" >&2; }

if ! command -v pg_createcluster >/dev/null 2>&1; then
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    log "PostgreSQL is not installed and cannot be installed here (needs root and apt-get)"; exit 1
  fi
  log "installing postgresql with apt-get"
  export DEBIAN_FRONTEND=noninteractive
  APT_OPTS=(-o Acquire::Retries=1 -o Acquire::http::Timeout=30 -o DPkg::Lock::Timeout=120)
  { apt-get "${APT_OPTS[@]}" update -q && apt-get "${APT_OPTS[@]}" install -y -q --no-install-recommends postgresql; } >&2 \
    || { log "apt-get install postgresql failed"; exit 1; }
fi
VERSION="$(ls /usr/lib/postgresql 2>/dev/null | sort -V | tail -n 1)"
[ -n "$VERSION" ] || { log "no PostgreSQL version under /usr/lib/postgresql"; exit 1; }

# A dedicated cluster on its own port, owned by the postgres user (the server never runs as root).
if ! pg_lsclusters -h 2>/dev/null | awk '{print $1, $2}' | grep -qx "$VERSION $CLUSTER"; then
  pg_createcluster -p "$PORT" "$VERSION" "$CLUSTER" -- --auth-local=peer --auth-host=scram-sha-256 >&2 \
    || { log "pg_createcluster failed"; exit 1; }
fi
CONF_DIR="/etc/postgresql/$VERSION/$CLUSTER"
pg_conftool "$VERSION" "$CLUSTER" remove listen_addresses >/dev/null 2>&1 || true
mkdir -p "$CONF_DIR/conf.d" && echo "listen_addresses = '127.0.0.1'" > "$CONF_DIR/conf.d/movie_ci.conf"
if ! pg_lsclusters -h | awk -v v="$VERSION" -v c="$CLUSTER" '$1==v && $2==c {print $4}' | grep -qx online; then
  pg_ctlcluster "$VERSION" "$CLUSTER" start >&2 || { log "pg_ctlcluster start failed"; exit 1; }
fi
PORT="$(pg_lsclusters -h | awk -v v="$VERSION" -v c="$CLUSTER" '$1==v && $2==c {print $3}')"

psql_admin() { runuser -u postgres -- psql -X -q -v ON_ERROR_STOP=1 -p "$PORT" -d postgres "$@"; }
psql_admin -c "DO \$\$BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$ROLE') THEN
    CREATE ROLE $ROLE LOGIN PASSWORD '$PASSWORD';
  END IF; END\$\$;" >&2 || { log "cannot create role $ROLE"; exit 1; }
if [ "$(psql_admin -tAc "SELECT 1 FROM pg_database WHERE datname = '$DB'")" != 1 ]; then
  psql_admin -c "CREATE DATABASE $DB OWNER $ROLE" >&2 || { log "cannot create database $DB"; exit 1; }
fi
echo "postgresql+psycopg://$ROLE:$PASSWORD@127.0.0.1:$PORT/$DB"
