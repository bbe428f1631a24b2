#!/usr/bin/env bash
# Runs every check and test: formatting, clippy for the server and the WASM
# builds, unit and API tests, bounded fuzz runs, and the Playwright journeys
# in Chromium.
# Installs what is missing first (scripts/setup.sh test).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh test
export PATH="$HOME/.cargo/bin:$PWD/node_modules/.bin:$PATH"
# CI builds once from a clean clone: incremental caches would only cost disk
# (tens of GB) and time. Developers keep them for fast re-runs.
if [ "${CI:-}" = "true" ]; then
  export CARGO_INCREMENTAL=0
fi

log() { printf '\n==> %s\n' "$*"; }
started=$(date +%s)

# --- Services the tests need ------------------------------------------------
# PostgreSQL on 127.0.0.1:5432 (trust auth for local connections, as on the
# development machines). Started if it is installed but not running.
PG_HOST="${PG_HOST:-127.0.0.1}"
PG_PORT="${PG_PORT:-5432}"
if ! pg_isready -q -h "$PG_HOST" -p "$PG_PORT"; then
  log "starting PostgreSQL"
  for version in /etc/postgresql/*; do
    pg_ctlcluster --skip-systemctl-redirect "$(basename "$version")" main start || true
  done
  for _ in $(seq 1 30); do
    pg_isready -q -h "$PG_HOST" -p "$PG_PORT" && break
    sleep 1
  done
  pg_isready -h "$PG_HOST" -p "$PG_PORT" || { echo "PostgreSQL is not reachable on $PG_HOST:$PG_PORT" >&2; exit 1; }
fi
export TEST_POSTGRES_URL="${TEST_POSTGRES_URL:-postgres://postgres@$PG_HOST:$PG_PORT/postgres}"
# A fresh Debian PostgreSQL asks for a password over TCP. The machine's own
# roles are left alone: the tests get a role of their own, liveshop_test, with
# a new random password, made (or its password reset) through the local
# socket as the postgres OS user. LOGIN CREATEDB is all the tests need: they
# create, migrate and drop databases they own (the retry queue's pgcrypto is a
# trusted extension since PostgreSQL 13). Two runs at once on such a machine
# would reset each other's password.
if ! psql "$TEST_POSTGRES_URL" -Atqc 'SELECT 1' >/dev/null 2>&1; then
  test_role=liveshop_test
  log "setting up the $test_role role (tests connect over TCP with a password)"
  test_password="$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')"
  # The password goes through stdin, not the command line (visible in ps).
  runuser -u postgres -- psql -X -q -v ON_ERROR_STOP=1 -p "$PG_PORT" -d postgres >/dev/null <<SQL
SELECT 'CREATE ROLE $test_role' WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$test_role') \gexec
ALTER ROLE $test_role WITH LOGIN CREATEDB PASSWORD '$test_password';
SQL
  export TEST_POSTGRES_URL="postgres://$test_role:$test_password@$PG_HOST:$PG_PORT/postgres"
  psql "$TEST_POSTGRES_URL" -Atqc 'SELECT 1' >/dev/null || { echo "cannot log in to PostgreSQL at $PG_HOST:$PG_PORT as $test_role" >&2; exit 1; }
fi
# Each test creates a database named with this run's own prefix; they are
# dropped when the run ends, whatever its outcome.
export TEST_DB_PREFIX="liveshop_test_$$_"
drop_test_databases() {
  psql "$TEST_POSTGRES_URL" -Atqc "SELECT datname FROM pg_database WHERE datname LIKE '${TEST_DB_PREFIX}%'" 2>/dev/null |
    while read -r name; do
      psql "$TEST_POSTGRES_URL" -qc "DROP DATABASE IF EXISTS \"$name\"" >/dev/null 2>&1 || true
    done
}
trap drop_test_databases EXIT

log "formatting"
cargo fmt --all --check

log "clippy: server build (app with ssr)"
cargo clippy --locked -p app -p server -p liveshop-load --all-targets -- -D warnings

log "clippy: browser build (app with hydrate, wasm32)"
cargo clippy --locked -p client --target wasm32-unknown-unknown -- -D warnings

log "unit and API tests"
cargo test --locked -p app -p server -p liveshop-load

log "fuzzing: every target for ${FUZZ_SECONDS:-10} s (scripts/fuzz.sh)"
scripts/fuzz.sh

log "build: scripts/build.sh, the script the Dockerfile builds with (debug here, --release there)"
scripts/build.sh

log "deployment files: Kubernetes and compose schemas, nginx, systemd, Dockerfile, .env.example (scripts/check-deploy.sh)"
scripts/check-deploy.sh

log "cluster: 3 instances behind nginx under load, through a rolling restart, a kill -9, a Redis outage and a cut-off instance (scripts/cluster-test.sh)"
CLUSTER_BIN="$PWD/target/dist/server" scripts/cluster-test.sh

log "browser tests (Playwright in Chromium, through cargo leptos end-to-end)"
# A port, database and heartbeat of the run's own, so it never collides with
# a running product or another run.
port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' 2>/dev/null || echo 3101)"
e2e_dir="target/e2e/run-$$"
mkdir -p "$e2e_dir"
export LEPTOS_SITE_ADDR="127.0.0.1:$port"
export E2E_BASE_URL="http://127.0.0.1:$port"
export DATABASE_URL="sqlite://$e2e_dir/liveshop.db"
export PING_INTERVAL_MS=1000
export PING_TIMEOUT_MS=2000
export INSTANCE_ID="e2e-$$"
# cargo-leptos can exit 0 without running Playwright (seen when the server
# build failed), so the run only counts if Playwright reported passes and no
# failures.
e2e_log="$e2e_dir/end-to-end.log"
cargo leptos end-to-end 2>&1 | tee "$e2e_log"
if ! grep -Eq '^ +[0-9]+ passed' "$e2e_log"; then
  echo "browser tests did not run: no Playwright result in the output" >&2
  exit 1
fi
if grep -Eq '^ +[0-9]+ (failed|flaky|interrupted|did not run)' "$e2e_log"; then
  echo "browser tests failed" >&2
  exit 1
fi
rm -rf "$e2e_dir"

log "all checks passed in $(( $(date +%s) - started )) s"
