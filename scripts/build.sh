#!/usr/bin/env bash
# Builds what a deployment runs and lays it out in target/dist/, exactly as
# the container image holds it under /app (deploy/Dockerfile copies this very
# folder):
#
#   target/dist/server   the server binary
#   target/dist/site/    the site (pkg/ with the WASM client, JS and CSS;
#                        icons, manifest, service worker): LEPTOS_SITE_ROOT
#
#   scripts/build.sh            # debug build (what the test command checks)
#   scripts/build.sh --release  # release build (what the image ships)
#
# The Dockerfile's builder stage runs `scripts/build.sh --release`, and the
# test command runs this script (debug) on every run, so the image's build
# steps are exercised on machines without a container engine; then
# scripts/check-deploy.sh checks the layout it left.
set -euo pipefail
cd "$(dirname "$0")/.."

profile="debug"
leptos_flags=(--cargo-locked)
case "${1:-}" in
  "") ;;
  --release)
    profile="release"
    leptos_flags+=(--release)
    ;;
  *)
    echo "usage: scripts/build.sh [--release]" >&2
    exit 2
    ;;
esac

scripts/setup.sh run
export PATH="$HOME/.cargo/bin:$PWD/node_modules/.bin:$PATH"

printf '\n==> cargo leptos build %s\n' "${leptos_flags[*]}"
cargo leptos build "${leptos_flags[@]}"

binary="target/$profile/server"
[ -x "$binary" ] || { echo "build: $binary was not produced" >&2; exit 1; }
[ -d target/site/pkg ] || { echo "build: target/site/pkg was not produced" >&2; exit 1; }

# Built aside and renamed, so a failed copy never leaves a half-made dist.
dist="target/dist"
rm -rf "$dist.new"
mkdir -p "$dist.new"
# A hard link where it can be: a debug binary weighs gigabytes.
cp -l "$binary" "$dist.new/server" 2>/dev/null || cp "$binary" "$dist.new/server"
cp -R target/site "$dist.new/site"
rm -rf "$dist"
mv "$dist.new" "$dist"

printf '\n==> %s build in %s/\n' "$profile" "$dist"
find "$dist" -maxdepth 3 -type f -exec ls -l {} + | awk '{ printf "  %10s  %s\n", $5, $NF }'
cat <<EOF

Run it (SQLite in ./data; settings: README.md, .env.example):
  LEPTOS_SITE_ROOT=$PWD/$dist/site $dist/server
EOF
