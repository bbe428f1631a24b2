#!/usr/bin/env bash
# Runs every check and test: formatting, clippy for the server and the WASM
# builds, unit and API tests, and the Playwright journeys in Chromium.
# Installs what is missing first (scripts/setup.sh test).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh test
export PATH="$HOME/.cargo/bin:$PWD/node_modules/.bin:$PATH"

log() { printf '\n==> %s\n' "$*"; }
started=$(date +%s)

log "formatting"
cargo fmt --all --check

log "clippy: server build (app with ssr)"
cargo clippy --locked -p app -p server --all-targets -- -D warnings

log "clippy: browser build (app with hydrate, wasm32)"
cargo clippy --locked -p client --target wasm32-unknown-unknown -- -D warnings

log "unit and API tests"
cargo test --locked -p app -p server

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
cargo leptos end-to-end
rm -rf "$e2e_dir"

log "all checks passed in $(( $(date +%s) - started )) s"
