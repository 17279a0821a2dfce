#!/bin/sh
# Debian packages berth needs to build, run and test. Idempotent; needs root.
set -eu
PKGS="libseccomp-dev pkg-config busybox-static docker-registry skopeo runc nftables iproute2 apache2-utils jq socat curl ca-certificates"
# VM isolation (tests/integration/tests/vm.rs): QEMU and a guest kernel (scripts/vm/kernel-debian.sh).
PKGS="$PKGS qemu-system-x86 linux-image-amd64"
# tests/compat needs python3 with venv (PyPI clients: docker-py, compose, schemathesis).
python3 -m venv --help >/dev/null 2>&1 || PKGS="$PKGS python3 python3-venv"
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
# Stock Docker (dockerd 20.10) for the test using berth's network plugin from dockerd
# (tests/integration/tests/plugin_dockerd.rs). Its postinst must not start a
# dockerd: a policy-rc.d refusing every start is in place while apt runs (an
# existing one is saved and put back).
if ! dpkg-query -W -f='${Status}' docker.io 2>/dev/null | grep -q "install ok installed"; then
  PRC=/usr/sbin/policy-rc.d
  SAVED=""
  if [ -e "$PRC" ]; then SAVED=$(mktemp); cp -p "$PRC" "$SAVED"; fi
  printf '#!/bin/sh\nexit 101\n' > "$PRC"
  chmod +x "$PRC"
  export DEBIAN_FRONTEND=noninteractive
  [ -n "$(find /var/lib/apt/lists -maxdepth 1 -name '*Packages*' -print -quit)" ] || apt-get update -qq
  rc=0
  apt-get install -y -qq --no-install-recommends docker.io >/dev/null || rc=$?
  if [ -n "$SAVED" ]; then cp -p "$SAVED" "$PRC"; rm -f "$SAVED"; else rm -f "$PRC"; fi
  [ "$rc" -eq 0 ] || echo "warning: docker.io did not install; the stock-dockerd plugin test will be skipped" >&2
fi
command -v cargo >/dev/null || { echo "cargo (Rust toolchain) is required" >&2; exit 1; }
