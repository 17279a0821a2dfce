#!/usr/bin/env bash
# Every compatibility suite against a private berthd each: docker-py 6.1.3's
# integration tests, docker CLI scenarios, compose v2 and schemathesis. Runs
# them all, prints one summary line per suite, fails if any failed.
# Needs root; binaries from BERTH_BIN_DIR or built with cargo.
# Usage: tests/compat/run-all.sh [suite...]   (docker-py cli compose schemathesis)
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
suites=("$@")
[ ${#suites[@]} -gt 0 ] || suites=(cli compose docker-py schemathesis)
summary=() rc=0
for s in "${suites[@]}"; do
  start=$(date +%s)
  out=$(mktemp)
  echo "=== $s" >&2
  # Containers must never write through to the host: its account files are
  # compared around every suite (and restored if a suite changed them).
  host_before=$(cat /etc/passwd /etc/group | sha256sum)
  cp /etc/group "$out.group"; cp /etc/passwd "$out.passwd"
  if "$HERE/$s/run.sh" 2>&1 | tee "$out" >&2; then status=ok; else status=FAILED; rc=1; fi
  if [ "$(cat /etc/passwd /etc/group | sha256sum)" != "$host_before" ]; then
    echo "$s: the host's /etc/passwd or /etc/group changed during the suite (restored)" >&2
    cp "$out.group" /etc/group; cp "$out.passwd" /etc/passwd
    status=FAILED; rc=1
  fi
  rm -f "$out.group" "$out.passwd"
  summary+=("$(printf '%-13s %-6s %4ss  %s' "$s" "$status" "$(( $(date +%s) - start ))" "$(grep -E '^[0-9]+ passed, [0-9]+ failed$|^schemathesis: ' "$out" | tail -1)")")
  rm -f "$out"
done
echo "=== compatibility suites"
printf '%s\n' "${summary[@]}"
exit "$rc"
