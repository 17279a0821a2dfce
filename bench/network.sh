#!/usr/bin/env bash
# Cost of the bridge network per container setup + teardown (issue 5's
# benchmark; target <= 5 ms). Runs entirely inside a throwaway network
# namespace; needs root. Usage: bench/network.sh [runs-per-case]
set -euo pipefail
cd "$(dirname "$0")/.."
cargo run --release -q -p berth-network --example netbench -- "${1:-50}"
