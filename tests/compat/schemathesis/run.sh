#!/usr/bin/env bash
# schemathesis (PyPI) against Docker's own Engine API spec (swagger-v1.50.yaml,
# moby v28.2.2 api/swagger.yaml, copied here so CI needs nothing outside the
# repo) on berthd's loopback TCP listener: read-only GET operations, checking
# no 5xx, status codes and response bodies that conform to the spec, and no
# hang (per-request timeout, bounded examples and time).
#
# Excluded operations (they stream, block or need the internet):
#   /events, /containers/{id}/attach/ws, /containers/{id}/stats (stream by
#   default), /containers/{id}/logs (follow=true waits forever),
#   /containers/{id}/export, /containers/{id}/archive, /images/{name}/get,
#   /images/get (tar bodies), /distribution/{name}/json, /images/search,
#   /plugins/privileges (a registry on the internet).
# Usage: tests/compat/schemathesis/run.sh [extra schemathesis args]
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../lib.sh"

CACHE=${BERTH_COMPAT_CACHE:-$REPO/target/compat}
VENV=$CACHE/schemathesis-venv
if [ ! -x "$VENV/bin/schemathesis" ] || ! cmp -s "$HERE/requirements.txt" "$VENV/requirements.txt"; then
  log "installing schemathesis into $VENV"
  rm -rf "$VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check -r "$HERE/requirements.txt"
  cp "$HERE/requirements.txt" "$VENV/requirements.txt"
fi

compat_init schemathesis
berth_bins
make_images busybox:latest
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
start_berthd -H "tcp://127.0.0.1:$PORT"
load_images
# Some objects, so list and inspect operations have something to show.
docker network create compat-net >/dev/null
docker volume create compat-vol >/dev/null
docker run -d --name compat-ctr --network compat-net -v compat-vol:/data -p 127.0.0.1::80 \
  --label compat=1 busybox:latest sleep 3600 >/dev/null
docker create --name compat-stopped busybox:latest true >/dev/null
exec_id=$(curl -sf --unix-socket "$SOCK" -X POST -H 'Content-Type: application/json' \
  -d '{"Cmd":["true"]}' http://berth/v1.50/containers/compat-ctr/exec | python3 -c 'import json,sys; print(json.load(sys.stdin)["Id"])')

log "running schemathesis against http://127.0.0.1:$PORT/v1.50"
cd "$WORK"
# The published spec with the places it disagrees with dockerd itself corrected
# (each one explained in overlay.py).
"$VENV/bin/python" "$HERE/overlay.py" "$HERE/swagger-v1.50.yaml" "$WORK/swagger.yaml" \
  "/images/{name}/json:name=busybox:latest" "/images/{name}/history:name=busybox:latest" \
  "/exec/{id}/json:id=$exec_id" "/containers/{id}/json:id=compat-ctr" "/containers/{id}/top:id=compat-ctr" \
  "/containers/{id}/changes:id=compat-ctr" "/networks/{id}:id=compat-net" "/volumes/{name}:name=compat-vol"
set +e
# Swarm operations are excluded too: berth is never part of a swarm, so they
# answer 503 "This node is not a swarm manager" exactly as dockerd outside a
# swarm does (documented in the spec, but any 5xx fails not_a_server_error).
"$VENV/bin/schemathesis" run "$WORK/swagger.yaml" \
  --url "http://127.0.0.1:$PORT/v1.50" \
  --include-method GET \
  --exclude-path /events --exclude-path '/containers/{id}/attach/ws' \
  --exclude-path '/containers/{id}/stats' --exclude-path '/containers/{id}/logs' \
  --exclude-path '/containers/{id}/export' --exclude-path '/containers/{id}/archive' \
  --exclude-path '/images/{name}/get' --exclude-path /images/get \
  --exclude-path '/distribution/{name}/json' --exclude-path /images/search \
  --exclude-path /plugins/privileges \
  --exclude-path-regex '^/(swarm|nodes|services|tasks|secrets|configs)' \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance \
  --phases examples,coverage,fuzzing \
  --max-examples "${SCHEMATHESIS_MAX_EXAMPLES:-30}" --max-time "${SCHEMATHESIS_MAX_TIME:-240}" \
  --request-timeout 20 --workers 2 --seed 1 --no-color \
  "$@" >"$WORK/schemathesis.log" 2>&1
rc=$?
set -e
cat "$WORK/schemathesis.log"
if [ "$rc" = 0 ]; then echo "schemathesis: no failures"; else echo "schemathesis: failures (exit $rc)"; fi
exit "$rc"
