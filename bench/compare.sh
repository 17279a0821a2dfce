#!/usr/bin/env bash
# Side-by-side benchmark of Debian's dockerd (20.10 + containerd) and berthd:
# container start (bridge/none) with CPU per run, 50 detached starts (sequential
# and 10-way), ps with 50 running, a ~96 MB pull from a loopback registry, a
# 5-step build (cold/cached; skipped while berth answers 501 on /build), daemon
# start and stop, idle RSS and RSS per running container. Alternates the two
# engines round by round. Writes target/compare/results.json and replaces the
# "Side by side with Docker" section of BENCHMARKS.md (other sections stay).
#
# Installs missing Debian packages (docker.io without letting apt start it,
# hyperfine, docker-registry, skopeo), builds berth in release mode, starts both
# daemons on private temp roots and sockets (dockerd with --iptables=false) and
# stops them again. Refuses to run next to a dockerd it did not start.
# Not part of CI. Needs root, cgroup v1 cpu/cpuacct. Takes ~10-20 minutes.
# Usage: bench/compare.sh          (knobs: ROUNDS=4 RUNS=5 SETTLE=5 BERTH_BIN_DIR=...)
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "run as root" >&2; exit 1; }

PKGS=(docker.io containerd runc hyperfine docker-registry skopeo busybox-static curl)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  # A policy-rc.d refusing every start, only while apt runs: the docker.io
  # package must not start a system dockerd (it would rewrite iptables rules).
  PRC=/usr/sbin/policy-rc.d saved=""
  if [ -e "$PRC" ]; then saved=$(mktemp); cp -p "$PRC" "$saved"; fi
  restore() { if [ -n "$saved" ]; then cp -p "$saved" "$PRC"; rm -f "$saved"; else rm -f "$PRC"; fi; }
  trap restore EXIT
  printf '#!/bin/sh\nexit 101\n' >"$PRC"; chmod +x "$PRC"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  restore; trap - EXIT
fi

if [ -n "${BERTH_BIN_DIR:-}" ]; then
  BIN=$BERTH_BIN_DIR
else
  cargo build --release -q -p berthd -p berth-shim
  BIN=$PWD/target/release
fi
mkdir -p target/compare
python3 bench/compare.py --berth-bin "$BIN" --out target/compare/results.json --markdown target/compare/section.md

# Replace our section of BENCHMARKS.md (between the markers), or append it.
python3 - <<'PY'
import re
begin, end = "<!-- bench/compare.sh: begin -->", "<!-- bench/compare.sh: end -->"
section = open("target/compare/section.md").read().rstrip() + "\n"
block = f"{begin}\n{section}{end}\n"
text = open("BENCHMARKS.md").read()
if begin in text and end in text:
    text = re.sub(re.escape(begin) + ".*?" + re.escape(end) + "\n?", lambda m: block, text, flags=re.S)
else:
    text = text.rstrip() + "\n\n" + block
open("BENCHMARKS.md", "w").write(text)
PY
echo "BENCHMARKS.md updated (raw figures: target/compare/results.json)"
