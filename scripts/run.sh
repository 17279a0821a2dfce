#!/bin/sh
# Fresh machine to a running berth: install packages, build, start berthd on
# /run/berth/berth.sock, and show the real docker CLI talking to it.
set -eu
cd "$(dirname "$0")/.."
./scripts/deps.sh
cargo build --release --workspace --bins --locked
BIN=$PWD/target/release
SOCK=/run/berth/berth.sock
if ! curl -sf --unix-socket "$SOCK" http://berth/_ping >/dev/null 2>&1; then
  mkdir -p /var/log
  nohup "$BIN/berthd" >/var/log/berthd.log 2>&1 &
  i=0; until curl -sf --unix-socket "$SOCK" http://berth/_ping >/dev/null 2>&1; do
    i=$((i+1)); [ $i -gt 200 ] && { echo "berthd did not start; see /var/log/berthd.log" >&2; exit 1; }
    sleep 0.05
  done
fi
export DOCKER_HOST=unix://$SOCK
docker version
# An image made offline from Debian's busybox-static, loaded into berth.
IMG=$(mktemp -d)/busybox.tar
./tests/fixtures/make-busybox-image.sh "$IMG" busybox:latest >/dev/null
docker load -i "$IMG"
rm -rf "$(dirname "$IMG")"
docker run --rm busybox echo "hello from a berth container"
echo
echo "berthd is running (log: /var/log/berthd.log). Try: DOCKER_HOST=unix://$SOCK docker run -it --rm busybox sh"
