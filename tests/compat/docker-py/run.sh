#!/usr/bin/env bash
# docker-py 6.1.3's integration suite (from the PyPI sdist) against a private berthd.
#
# Installs the pinned client packages into a venv outside the tree
# ($BERTH_COMPAT_CACHE, default target/compat), starts berthd on temp roots with a
# loopback docker-registry as its --registry-mirror (so docker.io pulls of
# hello-world/alpine/busybox are served locally), loads the busybox fixture under
# the image names the suite uses, runs pytest and compares the outcome with
# expected-failures.txt. Fails on any failure not listed there; reports listed
# tests that now pass. Last line: `N passed, M failed` (M = unexpected failures).
#
# Usage: tests/compat/docker-py/run.sh [extra pytest args, e.g. -k test_create]
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../lib.sh"

CACHE=${BERTH_COMPAT_CACHE:-$REPO/target/compat}
VENV=$CACHE/docker-py-venv
SRC=$CACHE/docker-py-src
mkdir -p "$CACHE"

if [ ! -x "$VENV/bin/pytest" ] || ! cmp -s "$HERE/requirements.txt" "$VENV/requirements.txt"; then
  log "creating venv $VENV"
  rm -rf "$VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check -r "$HERE/requirements.txt"
  cp "$HERE/requirements.txt" "$VENV/requirements.txt"
fi
if [ ! -d "$SRC/docker-6.1.3/tests/integration" ]; then
  log "downloading the docker==6.1.3 sdist"
  rm -rf "$SRC"; mkdir -p "$SRC"
  "$VENV/bin/pip" download -q --disable-pip-version-check --no-deps --no-binary :all: docker==6.1.3 -d "$SRC"
  tar xzf "$SRC/docker-6.1.3.tar.gz" -C "$SRC"
fi

compat_init docker-py
berth_bins
make_images busybox:latest alpine:3.10 alpine:latest
make_hello_world
start_registry
for t in busybox:latest alpine:3.10 alpine:latest; do registry_put "$WORK/busybox.tar" "$t" "library/$t"; done
registry_put "$WORK/hello-world.tar" hello-world:latest library/hello-world:latest
start_berthd --registry-mirror "http://127.0.0.1:$REG_PORT"
load_images

I=tests/integration
cd "$SRC/docker-6.1.3"
log "running pytest (log: $WORK/pytest.log)"
set +e
mkdir -p "$WORK/home"
HOME=$WORK/home BERTH_REPORT=$WORK/report.jsonl BERTH_DESELECT=$HERE/deselect.txt PYTHONPATH=$HERE \
DOCKER_TEST_API_VERSION=1.41 \
  timeout "${DOCKER_PY_TIMEOUT:-1500}" "$VENV/bin/python" -m pytest -p berth_report -p no:cacheprovider \
  -q -rN --timeout 90 --color=no $I \
  --ignore=$I/api_swarm_test.py --ignore=$I/api_service_test.py --ignore=$I/api_secret_test.py \
  --ignore=$I/api_config_test.py --ignore=$I/models_services_test.py --ignore=$I/models_swarm_test.py \
  --ignore=$I/models_nodes_test.py --ignore=$I/api_plugin_test.py --ignore=$I/credentials \
  "$@" >"$WORK/pytest.log" 2>&1
pyrc=$?
set -e
tail -3 "$WORK/pytest.log" >&2
[ -s "$WORK/report.jsonl" ] || { tail -50 "$WORK/pytest.log"; die "pytest wrote no report (exit $pyrc)"; }
[ -n "${DOCKER_PY_REPORT_COPY:-}" ] && cp "$WORK/report.jsonl" "$DOCKER_PY_REPORT_COPY"
"$VENV/bin/python" "$HERE/compare.py" "$WORK/report.jsonl" "$HERE/expected-failures.txt"
