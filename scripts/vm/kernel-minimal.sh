#!/bin/sh
# A minimal guest kernel for VM isolation, built from Debian's linux-source
# package (apt-get install --no-install-recommends linux-source-6.1 flex bison
# libelf-dev bc) with tinyconfig plus scripts/vm/microvm.fragment: no modules,
# PVH `vmlinux`. Boots to the agent in ~0.7 s under TCG (Debian's kernel: ~2.3 s).
#
#   scripts/vm/kernel-minimal.sh [--jobs N] [--out DIR] [--select]
#
# The build tree is cached outside the repository, in
# ${BERTH_VM_DIR:-/var/cache/berth/vm}/build; the result goes to
# <BERTH_VM_DIR>/minimal-<release>/{vmlinux,release,config} (or --out), and
# `current` points at it only with --select. About 10 minutes of both cores on a
# 2-core machine; it runs under `nice -n 19`. Use it with `--vm-kernel <dir>/vmlinux`.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
jobs=$(nproc)
out=""
select=0
while [ $# -gt 0 ]; do
  case "$1" in
    --jobs) jobs="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --select) select=1; shift ;;
    *) echo "usage: $0 [--jobs N] [--out DIR] [--select]" >&2; exit 2 ;;
  esac
done
src=$(ls -1 /usr/src/linux-source-*.tar.xz 2>/dev/null | sort -V | tail -n 1 || true)
[ -n "$src" ] || { echo "no /usr/src/linux-source-*.tar.xz: apt-get install --no-install-recommends linux-source-6.1" >&2; exit 1; }
for t in make gcc flex bison bc; do
  command -v "$t" >/dev/null || { echo "$t is missing: apt-get install --no-install-recommends build-essential flex bison bc libelf-dev" >&2; exit 1; }
done
base=${BERTH_VM_DIR:-/var/cache/berth/vm}
name=$(basename "$src" .tar.xz)
tree=$base/build/$name
if [ ! -f "$tree/Makefile" ]; then
  mkdir -p "$base/build"
  rm -rf "$tree.tmp"
  mkdir -p "$tree.tmp"
  tar -xJf "$src" -C "$tree.tmp" --strip-components=1
  mv "$tree.tmp" "$tree"
fi
cd "$tree"
# The fragment decides the config; rebuild it when the fragment changed.
if ! cmp -s "$here/microvm.fragment" .berth-fragment 2>/dev/null || [ ! -f .config ]; then
  make -s tinyconfig
  scripts/kconfig/merge_config.sh -m .config "$here/microvm.fragment" >/dev/null
  make -s olddefconfig
  cp "$here/microvm.fragment" .berth-fragment
fi
nice -n 19 make -s -j"$jobs" vmlinux
release=$(make -s kernelrelease)
[ -n "$out" ] || out=$base/minimal-$release
mkdir -p "$out"
cp vmlinux "$out/vmlinux.tmp" && mv "$out/vmlinux.tmp" "$out/vmlinux"
cp .config "$out/config"
echo "$release" > "$out/release"
chmod 755 "$out"
if [ "$select" = 1 ]; then
  ln -sfn "$(basename "$out")" "$base/current.tmp" && mv -T "$base/current.tmp" "$base/current"
fi
echo "$out"
