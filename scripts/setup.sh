#!/usr/bin/env bash
# Installs what building (and, with `test`, testing) needs, skipping whatever
# is already installed at the right version. Safe to run again and again.
#
#   scripts/setup.sh run    # build tools only
#   scripts/setup.sh test   # build tools + Chromium for the browser tests
#
# Every tool comes from a package registry (crates.io, npm, Debian): nothing is
# downloaded from anywhere else, so this works on machines without internet
# beyond those registries.
set -euo pipefail
cd "$(dirname "$0")/.."

mode="${1:-run}"
CARGO_LEPTOS_VERSION="0.3.10"

log() { printf '\n==> %s\n' "$*"; }

export PATH="$HOME/.cargo/bin:$PATH"

apt_updated=""
apt_install() {
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  if [ -z "$apt_updated" ]; then
    $sudo apt-get update -qq
    apt_updated=1
  fi
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "$@"
}

# --- System packages -------------------------------------------------------
missing=()
command -v pkg-config >/dev/null 2>&1 || missing+=(pkg-config)
# openssl-sys (under rust_socketio, the native Socket.IO client of the tests)
pkg-config --exists openssl 2>/dev/null || missing+=(libssl-dev)
command -v cc >/dev/null 2>&1 || missing+=(build-essential)
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
if [ "$mode" = "test" ]; then
  [ -x /usr/bin/chromium ] || missing+=(chromium)
  # The API tests run against a real PostgreSQL as well as SQLite.
  command -v pg_isready >/dev/null 2>&1 || missing+=(postgresql postgresql-client)
  # The Redis adapter tests start private redis-server processes.
  command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
  # The cluster test puts nginx in front of its instances (scripts/cluster.sh).
  command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing+=(nginx-light)
fi
if [ "${#missing[@]}" -gt 0 ]; then
  log "installing Debian packages: ${missing[*]}"
  apt_install "${missing[@]}"
fi

# --- Rust: the WASM target and the build tools ------------------------------
if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  log "adding the wasm32-unknown-unknown target"
  rustup target add wasm32-unknown-unknown
fi

if ! cargo leptos --version 2>/dev/null | grep -qF "$CARGO_LEPTOS_VERSION"; then
  # 0.3.11 needs a newer Rust than this toolchain; the install compiles for
  # 20+ minutes, once per machine.
  log "installing cargo-leptos $CARGO_LEPTOS_VERSION (slow, once per machine)"
  cargo install --locked cargo-leptos --version "$CARGO_LEPTOS_VERSION"
fi

# The wasm-bindgen CLI must be exactly the version of the wasm-bindgen crate in
# Cargo.lock, or the generated JS does not match the WASM. (Without --locked:
# its own lockfile names a crate version the registry no longer serves.)
wasm_bindgen_version="$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock)"
if ! wasm-bindgen --version 2>/dev/null | grep -qF " $wasm_bindgen_version"; then
  log "installing wasm-bindgen-cli $wasm_bindgen_version"
  cargo install wasm-bindgen-cli --version "$wasm_bindgen_version"
fi

# The bounded fuzz runs of the test command (scripts/fuzz.sh).
if [ "$mode" = "test" ] && ! cargo fuzz --version >/dev/null 2>&1; then
  log "installing cargo-fuzz (a few minutes, once per machine)"
  cargo install cargo-fuzz --locked
fi

# --- npm: wasm-opt (binaryen), Playwright, socket.io-client -----------------
# Playwright must not fetch a browser: the tests use Debian's Chromium.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  log "installing npm packages"
  PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund
fi

log "tools ready"
