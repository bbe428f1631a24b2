#!/usr/bin/env bash
# The cluster under load and faults: nothing accepted may be lost while
# instances come and go. Starts scripts/cluster.sh (3 instances, PostgreSQL,
# a private Redis, nginx), then runs the load tool (liveshop-load) through
# nginx, each seller holding one socket through nginx and one directly on
# each of two instances, so every notification must reach all three:
#
#   steady   no fault
#   rolling  every instance in turn: SIGTERM (it drains), then started again
#   kill     kill -9 of one instance, started again 5 s later
#   redis    Redis stopped for 10 s, then started again
#   cut      one instance cut off from Redis (its TCP proxy) for 10 s
#
# Each run must end with every accepted notification delivered to every
# socket of its seller and acknowledged (the load tool's exit status), and
# prints the time from the fault to full delivery. Sized for 2 cores.
#
#   scripts/cluster-test.sh                # every scenario
#   scripts/cluster-test.sh steady redis   # some of them
#
# CLUSTER_BIN (default target/debug/server, built if missing),
# CLUSTER_SELLERS (20), CLUSTER_RATE notifications/s (50),
# CLUSTER_REPORTS: where the JSON reports go (target/cluster-reports).
set -euo pipefail
cd "$(dirname "$0")/.."

export PATH="$HOME/.cargo/bin:$PATH"
export CLUSTER_DIR="${CLUSTER_DIR:-$PWD/target/cluster-test-$$}"
export CLUSTER_BIN="${CLUSTER_BIN:-$PWD/target/debug/server}"
export DRAIN_MS="${DRAIN_MS:-3000}"
export INGEST_API_KEY="cluster-test-ingest-key"
sellers="${CLUSTER_SELLERS:-20}"
rate="${CLUSTER_RATE:-50}"
reports="${CLUSTER_REPORTS:-$PWD/target/cluster-reports}"

log() { printf '\n==> %s\n' "$*"; }

scenarios=("$@")
[ "${#scenarios[@]}" -gt 0 ] || scenarios=(steady rolling kill redis cut)

if [ ! -x "$CLUSTER_BIN" ]; then
  cargo build --locked -p server
fi
cargo build --locked -p liveshop-load
load_bin="$PWD/target/debug/liveshop-load"

cleanup() {
  scripts/cluster.sh stop || true
  rm -rf "$CLUSTER_DIR"
}
trap cleanup EXIT
scripts/cluster.sh start
mkdir -p "$reports"

nginx_url="$(scripts/cluster.sh url)"
node1_url="$(scripts/cluster.sh url 1)"
node2_url="$(scripts/cluster.sh url 2)"

# Runs the load tool for `seconds` in the background; its pid in $load_pid.
start_load() {
  local name="$1" seconds="$2"
  "$load_bin" --publish-url "$nginx_url" \
    --socket-url "$nginx_url" --socket-url "$node1_url" --socket-url "$node2_url" \
    --sockets-per-seller 3 --sellers "$sellers" --rate "$rate" --duration "$seconds" \
    --settle 60 --seller-prefix "cluster-$name" --quiet --json "$reports/$name.json" &
  load_pid=$!
}

# Waits until the load tool's publish phase has run `seconds` (it connects
# its sockets first), so a fault lands while notifications flow.
wait_into_publishing() {
  local name="$1" seconds="$2"
  # The sockets connect first; the tool logs nothing in --quiet mode, so
  # wait for every seller's sockets on the instances.
  local deadline=$((SECONDS + 120))
  until [ "$(connected_sockets)" -ge $((sellers * 3)) ]; do
    [ "$SECONDS" -lt "$deadline" ] || { echo "the load tool's sockets never all connected" >&2; return 1; }
    sleep 0.5
  done
  sleep "$seconds"
}

connected_sockets() {
  local total=0 i count
  for i in 1 2 3; do
    count="$(curl -s "$(scripts/cluster.sh url "$i")/metrics" 2>/dev/null |
      awk '/^liveshop_socketio_connected_sockets / { print int($2) }')"
    total=$((total + ${count:-0}))
  done
  echo "$total"
}

now_ms() { date +%s%3N; }

# Waits for the load tool; prints its figures and the time from `fault_ms`
# (and `healed_ms`) to full delivery. Fails when anything was lost.
finish_load() {
  local name="$1" fault_ms="${2:-}" healed_ms="${3:-}" status=0
  wait "$load_pid" || status=$?
  python3 - "$reports/$name.json" "$name" "$fault_ms" "$healed_ms" <<'PY'
import json, sys
path, name, fault, healed = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
r = json.load(open(path))
lat = r["latency_ms"]
def ms(v):
    return "-" if v is None else f"{v:.0f}"
print(f"{name}: accepted {r['accepted']} ({r['accepted_per_s']:.1f}/s), "
      f"delivered {r['delivered']} ({r['delivered_pct']:.2f} %), missing {r['missing']}, "
      f"duplicates {r['duplicates']}, not acknowledged {r['not_acknowledged']}, "
      f"unknown outcome {r['unknown_outcome']}, rejected {r['rejected']} {r['rejected_by_reason']}")
print(f"{name}: latency p50 {ms(lat['p50'])} ms, p95 {ms(lat['p95'])} ms, p99 {ms(lat['p99'])} ms, "
      f"max {ms(lat['max'])} ms; reconnects {r['reconnects']} (peak {r['reconnects_peak_per_s']}/s)")
start = r["started_at_unix_ms"]
def full_delivery_after(moment):
    # Every notification published up to `moment` was at every socket by:
    worst = None
    for second in r["timeline"]:
        begin = start + second["second"] * 1000
        if begin > moment or second["max_full_delivery_ms"] is None:
            continue
        done = begin + 1000 + second["max_full_delivery_ms"]
        worst = done if worst is None else max(worst, done)
    return None if worst is None else max(0, worst - moment) / 1000
if fault:
    after = full_delivery_after(int(healed or fault))
    what = "healed" if healed else "fault"
    print(f"{name}: full delivery {after:.1f} s after the {what} (upper bound, 1 s buckets)"
          if after is not None else f"{name}: no delivery timeline")
PY
  if [ "$status" -ne 0 ]; then
    echo "$name: the load tool reports loss (exit $status); report in $reports/$name.json" >&2
    return 1
  fi
}

# Scenario `name`: the load tool for `seconds`; `fault` 3 s into its
# publishing, `heal` `gap` seconds after the fault ended.
fault_run() {
  local name="$1" seconds="$2" fault="$3" gap="$4" heal="$5" fault_at healed_at
  start_load "$name" "$seconds"
  wait_into_publishing "$name" 3
  fault_at="$(now_ms)"
  $fault
  sleep "$gap"
  $heal
  healed_at="$(now_ms)"
  finish_load "$name" "$fault_at" "$healed_at"
}

rolling_restart() {
  local i
  for i in 1 2 3; do
    scripts/cluster.sh restart "$i"
  done
}

failed=()
for scenario in "${scenarios[@]}"; do
  log "cluster: $scenario"
  case "$scenario" in
    steady)
      start_load steady 20
      finish_load steady || failed+=(steady)
      ;;
    rolling) fault_run rolling 40 rolling_restart 0 true || failed+=(rolling) ;;
    kill) fault_run kill 25 "scripts/cluster.sh kill 2" 5 "scripts/cluster.sh start-instance 2" || failed+=(kill) ;;
    redis) fault_run redis 30 "scripts/cluster.sh redis-stop" 10 "scripts/cluster.sh redis-start" || failed+=(redis) ;;
    cut) fault_run cut 30 "scripts/cluster.sh cut 3" 10 "scripts/cluster.sh heal 3" || failed+=(cut) ;;
    *)
      echo "unknown scenario: $scenario (known: steady rolling kill redis cut)" >&2
      exit 2
      ;;
  esac
done

if [ "${#failed[@]}" -gt 0 ]; then
  log "cluster scenarios that lost notifications: ${failed[*]} (instance logs kept in $CLUSTER_DIR.failed)"
  cp -r "$CLUSTER_DIR" "$CLUSTER_DIR.failed" 2>/dev/null || true
  exit 1
fi
log "cluster: nothing lost in ${scenarios[*]}"
