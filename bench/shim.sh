#!/bin/sh
# Benchmark berth-shim: spawn->created->started->exited latency of `true` with
# youki's libcontainer and with runc, and the idle shim's private memory.
# Needs root, cgroups, /bin/busybox (busybox-static) and runc. Not a test.
# Usage: bench/shim.sh [iterations [youki|runc]]
# Prints per-phase median/p90, the CPU of shim+container per run (cgroup v1 cpuacct), and
# smaps_rollup (Rss, Pss, Private_Clean/Dirty) of idle shims.
# The end-to-end figure (`docker run --rm bb true` through berthd) is bench/run.py.
set -eu
cd "$(dirname "$0")/.."
cargo build --release -q -p berth-shim --bin berth-shim --example shim_bench
# Pages of a just-written binary count as dirty in smaps until written back.
sync
target/release/examples/shim_bench target/release/berth-shim "${1:-30}" ${2:-}
# Memory with several shims sharing the binary's pages, as on a real host.
exec target/release/examples/shim_bench target/release/berth-shim mem 3
