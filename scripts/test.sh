#!/bin/sh
# Run berth's whole test suite: unit tests, crate tests and end-to-end tests
# (a real berthd driven by the real docker CLI and bollard). Needs root.
set -eu
cd "$(dirname "$0")/.."
./scripts/deps.sh
cargo build --workspace --bins --locked
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --locked --no-fail-fast "$@"
else
  cargo test --workspace --locked --no-fail-fast "$@"
fi
