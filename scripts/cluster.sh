#!/usr/bin/env bash
# A LiveShop cluster on this machine: N instances of the server on one
# PostgreSQL database and a private Redis, behind nginx (Debian's) with the
# configuration that ships in deploy/nginx/liveshop.conf. Each instance
# reaches Redis through a TCP proxy of its own (scripts/tcp-proxy.py), so
# one instance can be cut off from Redis alone.
#
#   scripts/cluster.sh up                 # start, print the addresses, stop on Ctrl-C
#   scripts/cluster.sh start | stop | status
#   scripts/cluster.sh restart I          # SIGTERM instance I (it drains), wait, start it again
#   scripts/cluster.sh kill I             # kill -9 instance I
#   scripts/cluster.sh start-instance I
#   scripts/cluster.sh redis-stop | redis-start
#   scripts/cluster.sh cut I | heal I     # instance I loses / regains its link to Redis
#   scripts/cluster.sh url [I]            # nginx's address, or instance I's
#
# Settings (environment):
#   CLUSTER_SIZE       instances (3)
#   CLUSTER_DIR        state, logs and configuration (target/cluster)
#   CLUSTER_BIN        the server binary (target/release/server, built if missing)
#   CLUSTER_DATABASE_URL  an empty PostgreSQL database (default: creates
#                      liveshop_cluster on TEST_POSTGRES_URL's server, or on
#                      postgres://postgres@127.0.0.1:5432)
#   DRAIN_MS           each instance's drain on SIGTERM (3000 here)
#   Any other server setting set in the environment reaches every instance.
#
# The private redis-server and nginx run on free ports as children of this
# script's `start`; nothing of the machine's own services is touched.
set -euo pipefail
cd "$(dirname "$0")/.."
# nginx lives in /usr/sbin, not on every user's PATH.
export PATH="$PATH:/usr/sbin"

size="${CLUSTER_SIZE:-3}"
dir="${CLUSTER_DIR:-$PWD/target/cluster}"
binary="${CLUSTER_BIN:-$PWD/target/release/server}"
ingest_key="${INGEST_API_KEY:-cluster-ingest-key}"
jwt_secret="${JWT_SECRET:-cluster-jwt-secret-of-at-least-32-bytes}"

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'cluster: %s\n' "$*" >&2; exit 1; }

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Reads a value the `start` command saved.
saved() { cat "$dir/$1" 2>/dev/null || die "no $1 in $dir: is the cluster started?"; }

pid_alive() { [ -n "${1:-}" ] && kill -0 "$1" 2>/dev/null; }

wait_for_port() {
  local port="$1" what="$2" deadline=$((SECONDS + ${3:-30}))
  until python3 -c "import socket,sys; socket.create_connection(('127.0.0.1', $port), 0.5)" 2>/dev/null; do
    [ "$SECONDS" -lt "$deadline" ] || die "$what did not listen on $port"
    sleep 0.2
  done
}

wait_for_health() {
  local port="$1" deadline=$((SECONDS + ${2:-60}))
  until curl -fsS "http://127.0.0.1:$port/api/health" >/dev/null 2>&1; do
    [ "$SECONDS" -lt "$deadline" ] || die "instance on $port never answered /api/health (see $dir/node-*.log)"
    sleep 0.2
  done
}

database_url() {
  if [ -n "${CLUSTER_DATABASE_URL:-}" ]; then
    echo "$CLUSTER_DATABASE_URL"
    return
  fi
  local admin="${TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
  # The test command's prefix, so its clean-up finds it too.
  local name="${TEST_DB_PREFIX:-liveshop_}cluster_$(basename "$dir" | tr -c 'a-z0-9_\n' '_')"
  psql "$admin" -qc "DROP DATABASE IF EXISTS \"$name\" WITH (FORCE)" 2>/dev/null
  psql "$admin" -qc "CREATE DATABASE \"$name\"" >/dev/null
  printf '%s\n%s\n' "$admin" "$name" >"$dir/database_created"
  echo "${admin%/*}/$name"
}

start_instance() {
  local i="$1"
  local port
  port="$(saved "node-$i.port")"
  if pid_alive "$(cat "$dir/node-$i.pid" 2>/dev/null || true)"; then
    die "instance $i is running"
  fi
  (
    export LEPTOS_SITE_ADDR="127.0.0.1:$port"
    export LEPTOS_SITE_ROOT="$PWD/target/site"
    export DATABASE_URL
    DATABASE_URL="$(saved database_url)"
    export REDIS_URL="redis://127.0.0.1:$(saved "node-$i.redis_port")"
    export REDIS_PREFIX
    REDIS_PREFIX="$(saved redis_prefix)"
    export INGEST_API_KEY="$ingest_key" JWT_SECRET="$jwt_secret"
    export INSTANCE_ID="node-$i"
    export RATE_LIMIT_PER_MIN="${RATE_LIMIT_PER_MIN:-0}"
    export TRUSTED_PROXIES="${TRUSTED_PROXIES:-127.0.0.1/32}"
    export DRAIN_MS="${DRAIN_MS:-3000}"
    export RUST_LOG="${RUST_LOG:-info}"
    exec "$binary" >>"$dir/node-$i.log" 2>&1
  ) &
  echo "$!" >"$dir/node-$i.pid"
  wait_for_health "$port"
  log "instance $i up on 127.0.0.1:$port (pid $!)"
}

stop_pid_file() {
  local file="$1" signal="${2:-TERM}" pid
  pid="$(cat "$file" 2>/dev/null || true)"
  if pid_alive "$pid"; then
    kill "-$signal" "$pid" 2>/dev/null || true
    for _ in $(seq 1 300); do
      pid_alive "$pid" || break
      sleep 0.1
    done
    pid_alive "$pid" && kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$file"
}

start_redis() {
  local port
  port="$(saved redis.port)"
  redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no \
    --daemonize yes --pidfile "$dir/redis.pid" --logfile "$dir/redis.log"
  wait_for_port "$port" redis-server
  log "redis up on 127.0.0.1:$port"
}

write_nginx_config() {
  local port="$1"
  : >"$dir/nginx/liveshop-upstreams.conf"
  for i in $(seq 1 "$size"); do
    echo "server 127.0.0.1:$(saved "node-$i.port") max_fails=1 fail_timeout=3s;" >>"$dir/nginx/liveshop-upstreams.conf"
  done
  # The shipped file, on this cluster's port.
  sed "s/^    listen 8080;/    listen 127.0.0.1:$port;/" deploy/nginx/liveshop.conf >"$dir/nginx/liveshop.conf"
  grep -q "listen 127.0.0.1:$port;" "$dir/nginx/liveshop.conf" || die "deploy/nginx/liveshop.conf has no 'listen 8080;' line"
  cat >"$dir/nginx/nginx.conf" <<CONF
worker_processes 1;
pid $dir/nginx/nginx.pid;
error_log $dir/nginx/error.log warn;
events { worker_connections 16384; }
http {
    access_log $dir/nginx/access.log;
    client_body_temp_path $dir/nginx/body;
    proxy_temp_path $dir/nginx/proxy;
    include liveshop.conf;
}
CONF
}

cmd_start() {
  command -v nginx >/dev/null || die "nginx is required (Debian package nginx-light; scripts/setup.sh test installs it)"
  command -v redis-server >/dev/null || die "redis-server is required (Debian package redis-server)"
  if [ ! -x "$binary" ]; then
    log "building the release server (once)"
    cargo build --release --locked -p server
  fi
  mkdir -p "$dir/nginx"
  free_port >"$dir/redis.port"
  echo "cluster-$$" >"$dir/redis_prefix"
  database_url >"$dir/database_url"
  start_redis
  for i in $(seq 1 "$size"); do
    free_port >"$dir/node-$i.port"
    free_port >"$dir/node-$i.redis_port"
    scripts/tcp-proxy.py "$(saved "node-$i.redis_port")" "$(saved redis.port)" \
      --pid-file "$dir/proxy-$i.pid" >>"$dir/proxy-$i.log" 2>&1 &
    wait_for_port "$(saved "node-$i.redis_port")" "the Redis proxy of instance $i"
  done
  for i in $(seq 1 "$size"); do
    start_instance "$i"
  done
  free_port >"$dir/nginx.port"
  write_nginx_config "$(saved nginx.port)"
  nginx -p "$dir/nginx" -c "$dir/nginx/nginx.conf" -t -q || die "nginx rejected the configuration"
  nginx -p "$dir/nginx" -c "$dir/nginx/nginx.conf"
  wait_for_port "$(saved nginx.port)" nginx
  log "cluster up: http://127.0.0.1:$(saved nginx.port) (nginx) in front of $size instances; logs in $dir"
}

cmd_stop() {
  [ -d "$dir" ] || return 0
  if [ -f "$dir/nginx/nginx.pid" ]; then
    nginx -p "$dir/nginx" -c "$dir/nginx/nginx.conf" -s stop 2>/dev/null || true
  fi
  for file in "$dir"/node-*.pid; do
    [ -e "$file" ] && stop_pid_file "$file" TERM
  done
  for file in "$dir"/proxy-*.pid; do
    [ -e "$file" ] && stop_pid_file "$file" TERM
  done
  [ -f "$dir/redis.pid" ] && stop_pid_file "$dir/redis.pid" TERM
  if [ -f "$dir/database_created" ]; then
    { read -r admin && read -r name; } <"$dir/database_created"
    psql "$admin" -qc "DROP DATABASE IF EXISTS \"$name\" WITH (FORCE)" >/dev/null 2>&1 || true
    rm -f "$dir/database_created"
  fi
  log "cluster stopped"
}

instance_arg() {
  local i="${1:-}"
  [[ "$i" =~ ^[0-9]+$ ]] && [ "$i" -ge 1 ] && [ "$i" -le "$size" ] || die "name an instance from 1 to $size"
  echo "$i"
}

case "${1:-}" in
  start) cmd_start ;;
  stop) cmd_stop ;;
  up)
    trap cmd_stop EXIT INT TERM
    cmd_start
    log "Ctrl-C stops the cluster"
    while sleep 3600; do :; done
    ;;
  status)
    for i in $(seq 1 "$size"); do
      port="$(saved "node-$i.port")"
      printf 'instance %s  127.0.0.1:%s  %s\n' "$i" "$port" \
        "$(curl -s "http://127.0.0.1:$port/api/health" || echo 'not answering')"
    done
    printf 'nginx       127.0.0.1:%s\n' "$(saved nginx.port)"
    ;;
  restart)
    i="$(instance_arg "${2:-}")"
    stop_pid_file "$dir/node-$i.pid" TERM
    start_instance "$i"
    ;;
  kill)
    i="$(instance_arg "${2:-}")"
    stop_pid_file "$dir/node-$i.pid" KILL
    log "instance $i killed"
    ;;
  start-instance) start_instance "$(instance_arg "${2:-}")" ;;
  redis-stop)
    stop_pid_file "$dir/redis.pid" TERM
    log "redis stopped"
    ;;
  redis-start) start_redis ;;
  cut)
    i="$(instance_arg "${2:-}")"
    kill -USR1 "$(saved "proxy-$i.pid")"
    log "instance $i cut off from redis"
    ;;
  heal)
    i="$(instance_arg "${2:-}")"
    kill -USR2 "$(saved "proxy-$i.pid")"
    log "instance $i reaches redis again"
    ;;
  url)
    if [ -n "${2:-}" ]; then
      echo "http://127.0.0.1:$(saved "node-$(instance_arg "$2").port")"
    else
      echo "http://127.0.0.1:$(saved nginx.port)"
    fi
    ;;
  *)
    sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//' >&2
    exit 2
    ;;
esac
