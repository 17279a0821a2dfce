#!/bin/sh
# Guest kernel for VM isolation from Debian's linux-image-amd64 (no downloads
# beyond that package): extracts a PVH-bootable `vmlinux` from the installed
# bzImage and copies the modules the guest agent loads, in load order.
#
#   scripts/vm/kernel-debian.sh [--release R] [--out DIR] [--select]
#
# Output (default DIR: ${BERTH_VM_DIR:-/var/cache/berth/vm}/debian-<release>):
#   vmlinux          ELF with the Xen PVH entry note (QEMU microvm boots it directly;
#                    the bzImage would make TCG run the real-mode setup and the
#                    xz decompressor, ~15 s instead of ~2.5 s)
#   modules/*.ko     virtio-mmio, virtio-console, 9p, virtio-net and their dependencies
#   modules/modules.order   one file name a line, dependencies first
#   release          the kernel release
# `current` next to DIR points at DIR when it did not exist yet (or with --select);
# berthd's default `vm-kernel` is `<BERTH_VM_DIR>/current/vmlinux`, and it packs
# `modules/` next to the kernel into the guest initramfs itself.
set -eu
release=""
out=""
select=0
while [ $# -gt 0 ]; do
  case "$1" in
    --release) release="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --select) select=1; shift ;;
    *) echo "usage: $0 [--release R] [--out DIR] [--select]" >&2; exit 2 ;;
  esac
done
if [ -z "$release" ]; then
  # The newest installed kernel image.
  img=$(ls -1 /boot/vmlinuz-* 2>/dev/null | sort -V | tail -n 1 || true)
  [ -n "$img" ] || { echo "no /boot/vmlinuz-*: apt-get install --no-install-recommends linux-image-amd64" >&2; exit 1; }
  release=${img#/boot/vmlinuz-}
fi
img=/boot/vmlinuz-$release
moddir=/lib/modules/$release
[ -r "$img" ] || { echo "$img not found" >&2; exit 1; }
[ -d "$moddir" ] || { echo "$moddir not found" >&2; exit 1; }
base=${BERTH_VM_DIR:-/var/cache/berth/vm}
[ -n "$out" ] || out=$base/debian-$release
if [ -s "$out/vmlinux" ] && [ -s "$out/modules/modules.order" ] && [ "$(cat "$out/release" 2>/dev/null)" = "$release" ]; then
  echo "$out (cached)"
else
  tmp=$(mktemp -d "${out%/*}/.kernel.XXXXXX" 2>/dev/null || { mkdir -p "${out%/*}"; mktemp -d "${out%/*}/.kernel.XXXXXX"; })
  trap 'rm -rf "$tmp"' EXIT
  # The bzImage carries the kernel as one compressed stream after the setup code
  # (what the kernel's scripts/extract-vmlinux does): find its magic, decompress,
  # keep the result if it is an ELF.
  extract() { # magic-as-perl-string decompressor
    off=$(perl -0777 -ne "print index(\$_, \"$1\")" "$img")
    [ "$off" -ge 0 ] 2>/dev/null || return 1
    tail -c +$((off + 1)) "$img" | $2 > "$tmp/vmlinux" 2>/dev/null || true
    [ "$(head -c 4 "$tmp/vmlinux" | od -An -c | tr -d ' ')" = '177ELF' ]
  }
  extract '\xfd7zXZ\x00' 'xz -dcq' || extract '\x28\xb5\x2f\xfd' 'zstd -dcq' || extract '\x1f\x8b\x08' 'gzip -dcq' \
    || { echo "cannot extract vmlinux from $img" >&2; exit 1; }
  mkdir -p "$tmp/modules"
  # Load order from modprobe's own dependency resolution (no module is loaded).
  for m in virtio_mmio virtio_console 9pnet_virtio 9p virtio_net; do
    modprobe -S "$release" --show-depends "$m" | awk '$1 == "insmod" { print $2 }'
  done | awk '!seen[$0]++' > "$tmp/paths"
  : > "$tmp/modules/modules.order"
  while read -r p; do
    name=$(basename "$p")
    case "$name" in
      *.ko.xz) xz -dc "$p" > "$tmp/modules/${name%.xz}"; name=${name%.xz} ;;
      *.ko.zst) zstd -dcq "$p" > "$tmp/modules/${name%.zst}"; name=${name%.zst} ;;
      *) cp "$p" "$tmp/modules/$name" ;;
    esac
    echo "$name" >> "$tmp/modules/modules.order"
  done < "$tmp/paths"
  echo "$release" > "$tmp/release"
  chmod 755 "$tmp"
  rm -f "$tmp/paths"
  rm -rf "$out"
  mv "$tmp" "$out"
  trap - EXIT
  echo "$out"
fi
if [ "$select" = 1 ] || [ ! -e "$base/current" ]; then
  ln -sfn "$(basename "$out")" "$base/current.tmp" 2>/dev/null && mv -T "$base/current.tmp" "$base/current" || true
fi
