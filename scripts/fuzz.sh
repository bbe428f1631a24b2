#!/usr/bin/env bash
# Fuzzes the wire decoding, the client's notification store, the server's
# input rules and its settings (the cargo-fuzz crate in fuzz/), for a bounded
# time: FUZZ_SECONDS per target (default 10). Exits non-zero when a target
# crashes (a panic or a broken property), printing the input that did it.
#
#   scripts/fuzz.sh                                  # every target, 10 s each
#   scripts/fuzz.sh socket_packets                   # one target (or several)
#   FUZZ_SECONDS=3600 scripts/fuzz.sh notification_store   # an hour
#
# Targets: socket_packets, notification_store, domain_parsers, config.
# The first run compiles the server's whole dependency tree with coverage
# instrumentation into fuzz/target: many minutes, once.
#
# The committed seeds in fuzz/corpus/<target> are only read: new interesting
# inputs go to FUZZ_SCRATCH/<target> (default /tmp/liveshop-fuzz/<target>),
# which later runs start from too. To keep the best of them in the repository:
#   RUSTC_BOOTSTRAP=1 cargo fuzz run -s none -a T fuzz/corpus/T /tmp/liveshop-fuzz/T -- -merge=1
# Crashes are saved in fuzz/artifacts/<target>/; replay one with
#   RUSTC_BOOTSTRAP=1 cargo fuzz run -s none -a T fuzz/artifacts/T/crash-...
#
# Built with overflow checks and debug assertions (cargo fuzz -a): an
# arithmetic overflow then is a crash, not a silent wrap.
# FUZZ_DEBUG_ASSERTIONS=0 builds without them.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '\n==> %s\n' "$*"; }

export PATH="$HOME/.cargo/bin:$PATH"

all_targets=(socket_packets notification_store domain_parsers config)
seconds="${FUZZ_SECONDS:-10}"
scratch="${FUZZ_SCRATCH:-${TMPDIR:-/tmp}/liveshop-fuzz}"

targets=("$@")
[ "${#targets[@]}" -gt 0 ] || targets=("${all_targets[@]}")
for target in "${targets[@]}"; do
  if [ ! -d "fuzz/corpus/$target" ]; then
    echo "unknown fuzz target: $target (known: ${all_targets[*]})" >&2
    exit 2
  fi
done

if ! cargo fuzz --version >/dev/null 2>&1; then
  # Compiles for a few minutes, once per machine.
  log "installing cargo-fuzz"
  cargo install cargo-fuzz --locked
fi

# cargo-fuzz passes -Z flags to cargo and rustc; only a stable toolchain is
# installed here, and this lets it accept them.
export RUSTC_BOOTSTRAP=1

# The fuzz crate is a workspace of its own (its lockfile is not committed):
# start it from the root lockfile, so it builds the very versions the product
# is tested with. Cargo drops what it does not use and adds libfuzzer-sys.
if [ ! -f fuzz/Cargo.lock ] || [ Cargo.lock -nt fuzz/Cargo.lock ]; then
  cp Cargo.lock fuzz/Cargo.lock
fi

build_flags=(--sanitizer none --release --target-dir "$PWD/fuzz/target")
if [ "${FUZZ_DEBUG_ASSERTIONS:-1}" != "0" ]; then
  build_flags+=(--debug-assertions)
fi

failed=()
for target in "${targets[@]}"; do
  log "fuzzing $target for ${seconds}s"
  mkdir -p "$scratch/$target" "fuzz/artifacts/$target"
  # Artifacts written from now on are this run's.
  started="$scratch/.started-$target"
  touch "$started"
  status=0
  cargo fuzz run "${build_flags[@]}" "$target" "$scratch/$target" "fuzz/corpus/$target" \
    -- -max_total_time="$seconds" || status=$?
  if [ "$status" -ne 0 ]; then
    failed+=("$target")
    found="$(find "fuzz/artifacts/$target" -type f -newer "$started" | sort)"
    if [ -n "$found" ]; then
      echo "$target crashed (exit $status); the input that did it:" >&2
      sed 's/^/  /' <<<"$found" >&2
    else
      echo "$target failed (exit $status) without a crash artifact: see the output above (a build error?)" >&2
    fi
  fi
done

if [ "${#failed[@]}" -gt 0 ]; then
  log "failed: ${failed[*]}"
  exit 1
fi
log "no crash in ${targets[*]} (${seconds}s each); new inputs in $scratch"
