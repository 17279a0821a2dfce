#!/bin/sh
# Regenerate bins/daemon/layout/hot-symbols.txt: the functions berthd runs to
# start and to answer the common read-only requests, recorded by callgrind
# from a release build, which bins/daemon/build.rs hands to lld to lay out
# together (see there). Run after dependency or profile changes, then rebuild
# and check `python3 bench/daemon.py`'s idle RSS. Needs root, valgrind, docker.
#
# The list names mangled symbols, whose hashes change with the code of the
# crate that defines them (closures, generic instances) and with the features
# cargo unifies for a build, so it is recorded from the same build as
# scripts/run.sh makes (`--workspace --bins`), and must be rerun after changes
# to code on the start path; bench/daemon.py prints how much of it still matches.
set -eu
cd "$(dirname "$0")/.."
cargo build --release --workspace --bins --locked
W=$(mktemp -d)
valgrind --tool=callgrind --demangle=no --callgrind-out-file="$W/cg.out" \
  target/release/berthd --config-file /dev/null --data-root "$W/data" --exec-root "$W/exec" \
  -H "unix://$W/api.sock" >"$W/log" 2>&1 &
i=0; until curl -sf --unix-socket "$W/api.sock" http://berth/_ping >/dev/null 2>&1; do
  i=$((i+1)); [ $i -gt 120 ] && { echo "berthd did not start under valgrind" >&2; exit 1; }; sleep 0.5
done
export DOCKER_HOST="unix://$W/api.sock" DOCKER_CONFIG="$W/dc"
for c in version info images "ps -a" "network ls" "volume ls" "system df"; do docker $c >/dev/null 2>&1 || true; done
sleep 3  # what runs on timers while the daemon idles
docker version >/dev/null 2>&1 || true
kill -INT %1 2>/dev/null || pkill -INT -f "callgrind-out-file=$W/cg.out"
wait || true
python3 - "$W/cg.out" bins/daemon/layout/hot-symbols.txt <<'PY'
import re, sys
seen, names = set(), []
for line in open(sys.argv[1]):
    m = re.match(r'^c?fn=\(\d+\) (\S+)', line)
    if m and m.group(1).startswith(('_ZN', '_R')) and m.group(1) not in seen:
        seen.add(m.group(1)); names.append(m.group(1))
open(sys.argv[2], 'w').write('\n'.join(names) + '\n')
print(len(names), 'hot symbols written to', sys.argv[2])
PY
rm -rf "$W"

# Second pass, natively: callgrind's CPU lacks AVX-512, so functions picked by
# CPU features at run time are missed. Relink with the list, record the page
# faults of a real start + `docker version` + idling, and add every function
# that still faults outside the list.
if command -v perf >/dev/null 2>&1; then
  cargo build --release --workspace --bins --locked
  W=$(mktemp -d)
  perf record -q -c 1 -e page-faults -o "$W/pf.data" -- target/release/berthd --config-file /dev/null \
    --data-root "$W/data" --exec-root "$W/exec" -H "unix://$W/api.sock" >"$W/log" 2>&1 &
  i=0; until curl -sf --unix-socket "$W/api.sock" http://berth/_ping >/dev/null 2>&1; do
    i=$((i+1)); [ $i -gt 100 ] && break; sleep 0.05
  done
  DOCKER_HOST="unix://$W/api.sock" DOCKER_CONFIG="$W/dc" docker version >/dev/null 2>&1 || true
  sleep 3
  pkill -INT -f "data-root $W/data" || true
  wait || true
  perf script --no-demangle -i "$W/pf.data" -F ip,sym,dso 2>/dev/null | awk '/berthd\)/ {print $2}' \
    | sort -u > "$W/faulted"
  python3 - "$W/faulted" bins/daemon/layout/hot-symbols.txt <<'PY'
import sys
have = open(sys.argv[2]).read().split()
known = set(have)
extra = [s for s in open(sys.argv[1]).read().split() if s not in known and s.startswith(('_ZN', '_R'))]
open(sys.argv[2], 'w').write('\n'.join(have + extra) + '\n')
print(len(extra), 'more from page faults')
PY
  rm -rf "$W"
fi
