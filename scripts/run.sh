#!/usr/bin/env bash
# Builds (release) and runs LiveShop Link Notify on the embedded defaults:
# SQLite at data/liveshop.db, in-process Socket.IO adapter, no other service.
# Serves http://127.0.0.1:3001 (LEPTOS_SITE_ADDR). Settings: README.md, or a
# .env file in this folder.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh run
export PATH="$HOME/.cargo/bin:$PWD/node_modules/.bin:$PATH"

exec cargo leptos serve --release
