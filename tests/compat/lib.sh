# shellcheck shell=bash
# Shared helpers of the compatibility suites (tests/compat/*/run.sh): a private
# berthd on temp roots, a loopback docker-registry, the busybox fixture images,
# and cleanup of everything they started. Sourced, not run. Needs root.
#
# Every daemon started here has its own data root, exec root and socket under
# $WORK, and an address block 10.N.0.0/16 leased through the same flock'ed files
# as the Rust harness (tests/integration/src/lib.rs) so parallel runs never clash.

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
COMPAT=$REPO/tests/compat
BERTH_PIDS=()
REG_PID=
LEASE_FD=

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# compat_init NAME: make $WORK and arrange cleanup on exit.
compat_init() {
  [ "$(id -u)" = 0 ] || die "must run as root"
  WORK=$(mktemp -d "/tmp/berth-compat-$1.XXXXXX")
  export WORK
  trap compat_cleanup EXIT
  trap 'exit 130' INT TERM
  lease_subnet
}

# Directory with berthd/berth/berth-shim; builds them unless BERTH_BIN_DIR is set.
berth_bins() {
  if [ -n "${BERTH_BIN_DIR:-}" ]; then
    BIN=$BERTH_BIN_DIR
  else
    (cd "$REPO" && cargo build -q --workspace --bins) || die "cargo build failed"
    BIN=$REPO/target/debug
  fi
  [ -x "$BIN/berthd" ] || die "$BIN/berthd missing"
  export BIN
}

lease_subnet() {
  mkdir -p /tmp/berth-test-subnets
  local n
  for n in $(seq 200 249); do
    exec {LEASE_FD}>"/tmp/berth-test-subnets/$n.lock"
    if flock -n "$LEASE_FD"; then NET_N=$n; export NET_N; return; fi
    exec {LEASE_FD}>&-
  done
  die "no free address block in /tmp/berth-test-subnets/200..249"
}

# start_berthd [FLAGS...]: berthd on $WORK/{data,exec}, socket $WORK/berth.sock.
# Sets SOCK and exports DOCKER_HOST for the clients of the calling script.
start_berthd() {
  SOCK=$WORK/berth.sock
  "$BIN/berthd" --config-file /dev/null --data-root "$WORK/data" --exec-root "$WORK/exec" \
    -H "unix://$SOCK" --bip "10.$NET_N.0.1/24" --default-address-pool "base=10.$NET_N.64.0/18,size=24" \
    "$@" >>"$WORK/berthd.log" 2>&1 &
  BERTH_PIDS+=($!)
  local i
  for i in $(seq 1 400); do
    curl -sf --unix-socket "$SOCK" http://berth/_ping >/dev/null 2>&1 && break
    kill -0 "${BERTH_PIDS[-1]}" 2>/dev/null || { tail -30 "$WORK/berthd.log" >&2; die "berthd exited"; }
    sleep 0.05
  done
  curl -sf --unix-socket "$SOCK" http://berth/_ping >/dev/null || die "berthd did not answer /_ping"
  export DOCKER_HOST=unix://$SOCK
  # The docker CLI must never read the host's config or contexts.
  export DOCKER_CONFIG=$WORK/docker-config DOCKER_BUILDKIT=0
  unset DOCKER_CONTEXT DOCKER_API_VERSION DOCKER_TLS_VERIFY DOCKER_CERT_PATH
  mkdir -p "$DOCKER_CONFIG"
  # An existing config.json keeps docker-py's context store inside it (without
  # one, docker-py writes `contexts/` relative to the working directory).
  [ -f "$DOCKER_CONFIG/config.json" ] || echo '{}' >"$DOCKER_CONFIG/config.json"
  log "berthd pid ${BERTH_PIDS[-1]} on $SOCK (log $WORK/berthd.log)"
}

# make_images TAG...: the busybox fixture as docker-archive $WORK/busybox.tar, plus
# a layer that makes it look enough like Alpine for the suites (Alpine's system
# users such as postgres, and its directories such as /var/opt).
make_images() {
  sh "$REPO/tests/fixtures/make-busybox-image.sh" "$WORK/base.tar" busybox:latest >/dev/null
  local d=$WORK/alpine-layer
  mkdir -p "$d/etc" "$d/var/opt" "$d/var/lib" "$d/var/tmp" "$d/opt" "$d/srv" "$d/mnt" "$d/home" "$d/media" \
    "$d/run" "$d/usr/local/bin" "$d/lib"
  printf '%s\n' 'root:x:0:0:root:/root:/bin/sh' 'bin:x:1:1:bin:/bin:/sbin/nologin' \
    'daemon:x:2:2:daemon:/sbin:/sbin/nologin' 'adm:x:3:4:adm:/var/adm:/sbin/nologin' \
    'mail:x:8:12:mail:/var/spool/mail:/sbin/nologin' 'operator:x:11:0:operator:/root:/bin/sh' \
    'postgres:x:70:70::/var/lib/postgresql:/bin/sh' 'guest:x:405:100:guest:/dev/null:/sbin/nologin' \
    'nobody:x:65534:65534:nobody:/:/sbin/nologin' >"$d/etc/passwd"
  printf '%s\n' 'root:x:0:root' 'bin:x:1:root,bin,daemon' 'daemon:x:2:root,bin,daemon' 'adm:x:4:root,adm,daemon' \
    'mail:x:12:mail' 'postgres:x:70:' 'users:x:100:' 'nogroup:x:65533:' 'nobody:x:65534:' >"$d/etc/group"
  python3 "$COMPAT/add-layer.py" "$WORK/base.tar" "$WORK/busybox.tar" "$d" --tags "$(IFS=,; echo "$*")"
}

# load_images: load $WORK/busybox.tar (and hello-world.tar if made) into berthd.
load_images() {
  local t
  for t in "$WORK"/busybox.tar "$WORK"/hello-world.tar; do
    [ -f "$t" ] || continue
    docker load -q -i "$t" >/dev/null || die "docker load $t failed"
  done
}

# make_hello_world: a hello-world stand-in (busybox + /hello printing Docker's text).
make_hello_world() {
  local d=$WORK/hello-layer
  mkdir -p "$d"
  printf '#!/bin/sh\necho\necho "Hello from Docker!"\necho "This message shows that your installation appears to be working correctly."\n' >"$d/hello"
  chmod 755 "$d/hello"
  sh "$REPO/tests/fixtures/make-busybox-image.sh" "$WORK/hello-base.tar" hello-world:latest >/dev/null
  python3 "$COMPAT/add-layer.py" "$WORK/hello-base.tar" "$WORK/hello-world.tar" "$d" --cmd '["/hello"]'
}

# start_registry: docker-registry on 127.0.0.1:$REG_PORT (free port), storage in $WORK.
start_registry() {
  command -v docker-registry >/dev/null || die "docker-registry (Debian package) missing"
  REG_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  mkdir -p "$WORK/registry"
  cat >"$WORK/registry.yml" <<EOF
version: 0.1
log: {level: error}
storage: {filesystem: {rootdirectory: $WORK/registry}, delete: {enabled: true}}
http: {addr: 127.0.0.1:$REG_PORT}
EOF
  docker-registry serve "$WORK/registry.yml" >"$WORK/registry.log" 2>&1 &
  REG_PID=$!
  local i
  for i in $(seq 1 200); do
    curl -sf "http://127.0.0.1:$REG_PORT/v2/" >/dev/null 2>&1 && break
    sleep 0.05
  done
  curl -sf "http://127.0.0.1:$REG_PORT/v2/" >/dev/null || die "registry did not start"
  export REG_PORT
  log "docker-registry pid $REG_PID on 127.0.0.1:$REG_PORT"
}

# registry_put ARCHIVE SRC-TAG DEST-REPO:TAG: copy an image into the local registry (no daemon).
registry_put() {
  skopeo copy -q --dest-tls-verify=false "docker-archive:$1:$2" "docker://127.0.0.1:$REG_PORT/$3" >/dev/null \
    || die "skopeo copy $2 -> $3 failed"
}

# Remove containers, stop what we started (by pid), sweep shims and mounts, remove $WORK.
compat_cleanup() {
  local rc=$? p
  set +e
  if [ -n "${SOCK:-}" ] && [ -S "$SOCK" ]; then
    for p in $(curl -s --unix-socket "$SOCK" 'http://berth/containers/json?all=1' | python3 -c \
        'import json,sys; [print(c["Id"]) for c in json.load(sys.stdin)]' 2>/dev/null); do
      curl -s -X DELETE --unix-socket "$SOCK" "http://berth/containers/$p?force=1&v=1" >/dev/null
    done
  fi
  for p in "${BERTH_PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
  for p in "${BERTH_PIDS[@]}"; do wait "$p" 2>/dev/null; done
  [ -n "$REG_PID" ] && { kill "$REG_PID" 2>/dev/null; wait "$REG_PID" 2>/dev/null; }
  if [ -n "${WORK:-}" ] && [ -d "$WORK" ]; then
    # Shims outlive berthd by design: kill the ones of this run (their cmdline names $WORK).
    for p in /proc/[0-9]*; do
      { tr '\0' ' ' <"$p/cmdline"; } 2>/dev/null | grep -q "berth-shim.*$WORK" && kill -KILL "${p#/proc/}" 2>/dev/null
    done
    awk -v w="$WORK" 'index($5, w) == 1 {print $5}' /proc/self/mountinfo | sort -r | while read -r m; do
      umount -l "$m" 2>/dev/null
    done
    if [ -n "${KEEP_WORK:-}" ]; then log "kept $WORK"; else rm -rf "$WORK"; fi
  fi
  exit "$rc"
}
