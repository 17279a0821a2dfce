#!/bin/sh
# Debian packages berth needs to build, run and test. Idempotent; needs root.
set -eu
PKGS="libseccomp-dev pkg-config busybox-static docker-registry skopeo runc nftables iproute2 apache2-utils jq socat curl ca-certificates"
missing=""
for p in $PKGS; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # shellcheck disable=SC2086
  apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi
command -v cargo >/dev/null || { echo "cargo (Rust toolchain) is required" >&2; exit 1; }
