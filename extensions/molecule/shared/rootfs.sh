#!/usr/bin/env bash
# Prints the path of the lab's root filesystem, building it first when the cache has none for this
# recipe: Debian 12 minbase with systemd, sshd, PostgreSQL 15 and a venv (/opt/certkeeper/venv) holding
# the cryptography of requirements.txt, which managed hosts need (Debian 12 ships 38, we need 42+).
# Cached as /var/tmp/certkeeper-molecule-rootfs-<hash of the recipe, the pin and the mirror>, so it is
# built once per test run on a fresh machine and reused between local runs; a lock serialises builders.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
collection=$(cd "$here/../../.." && pwd)
pin=$(grep -E '^cryptography==' "$collection/requirements.txt")
mirror=$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/debian.sources)
include=systemd,systemd-sysv,dbus
# run inside the new tree by systemd-nspawn --pipe (with the host's network)
setup="
export DEBIAN_FRONTEND=noninteractive
apt-get update -q >/dev/null
apt-get install -y -q --no-install-recommends openssh-server python3-venv postgresql-15 openssl >/dev/null
apt-get clean
rm -rf /var/lib/apt/lists/*
python3 -m venv /opt/certkeeper/venv
/opt/certkeeper/venv/bin/pip install -q --no-index --find-links /opt/wheels '$pin'
rm -rf /opt/wheels
systemctl disable -q postgresql   # started only where a scenario enables postgresql@15-main
rm -f /etc/ssh/ssh_host_*         # each host gets its own keys
: > /etc/machine-id"
cache=/var/tmp
prefix=certkeeper-molecule-rootfs-
rootfs=$cache/$prefix$(echo "$include $mirror $setup" | sha256sum | cut -c1-16)

exec 9>"$rootfs.lock"
flock 9
if [ ! -f "$rootfs/.complete" ]; then
  build=$rootfs.building
  # what nspawn leaves behind for the build machine, also when the build fails
  trap 'rm -rf "/run/systemd/nspawn/propagate/${build##*/}"
        rmdir /run/systemd/nspawn/propagate /run/systemd/nspawn/locks /run/systemd/nspawn 2>/dev/null || true' EXIT
  rm -rf --one-file-system "$build"
  start=$(date +%s)
  echo "rootfs: building $rootfs (debootstrap from $mirror)" >&2
  debootstrap --variant=minbase --include="$include" bookworm "$build" "$mirror" >/dev/null
  # the wheels come through this machine's pip configuration, for the hosts' Python (Debian 12: 3.11)
  mkdir "$build/opt/wheels"   # not /tmp: nspawn mounts a fresh tmpfs there
  "$collection/.venv/bin/pip" download -q --only-binary=:all: --python-version 3.11 -d "$build/opt/wheels" "$pin" \
    2> >(grep -v '^WARNING: Location' >&2)
  systemd-nspawn -q -D "$build" --register=no --keep-unit --pipe /bin/sh -ec "$setup"
  touch "$build/.complete"
  mv "$build" "$rootfs"
  echo "rootfs: built in $(( $(date +%s) - start )) s" >&2
  # older recipes' trees and locks, unless a lab still has one mounted
  for old in "$cache/$prefix"*; do
    case $old in "$rootfs"*) continue ;; esac
    grep -q "lowerdir=$old[,:]" /proc/mounts || rm -rf --one-file-system "$old"
  done
fi
echo "$rootfs"
