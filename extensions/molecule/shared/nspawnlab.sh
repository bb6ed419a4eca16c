#!/usr/bin/env bash
# A lab of real Debian 12 hosts: each a systemd-nspawn machine booting systemd, on its own overlay of
# the shared root filesystem (rootfs.sh), in its own network namespace with its own address in
# 198.18.0.0/24, reached over SSH through the namespace that holds the bridge (198.18.0.1).
#   LAB=/abs/dir nspawnlab.sh up HOST...   boot the hosts; writes $LAB/inventory.yml
#   LAB=/abs/dir nspawnlab.sh down         stop and remove everything `up` recorded in $LAB/created
#                                          (and the hosts' overlay layers)
# Only what this lab created is ever removed: each namespace, mount and process is recorded as it is
# made, and a failed `up` tears down what it had made before exiting. Files are written only inside
# a host's own root, never through a link that points out of it.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
NET=198.18.0
NS_PREFIX=ckpki-
BRIDGE_NS=${NS_PREFIX}lab

die() { echo "nspawnlab: $*" >&2; exit 1; }
case ${LAB:-} in /?*/?*) ;; *) die "set LAB to an absolute directory of its own (the scenarios use .work/molecule/<scenario>)" ;; esac
[ ! -e "$LAB" ] || [ -f "$LAB/.nspawnlab" ] || die "$LAB exists and is not a lab directory; refusing to use it"
record() { echo "$*" >> "$LAB/created"; }

# put ROOT PATH MODE: stdin to PATH inside the host root ROOT, refusing anything that leaves ROOT
put() {
  local root=$1 path=$2 mode=$3 dir
  dir=$(realpath -m "$root$(dirname "$path")")
  case $dir/ in "$root"/*) ;; *) die "refusing to write $path: it resolves to $dir, outside $root" ;; esac
  [ ! -L "$dir/$(basename "$path")" ] || die "refusing to write $path: it is a link"
  mkdir -p "$dir"
  install -m "$mode" /dev/stdin "$dir/$(basename "$path")"
}

# ours PID MACHINE: PID is still the systemd-nspawn this lab started for MACHINE (not a reused PID)
ours() { tr '\0' ' ' < "/proc/$1/cmdline" 2>/dev/null | grep -q -- "--machine=$2 "; }

down() {
  [ -f "$LAB/created" ] || return 0
  local kind what pid t alive
  # SIGTERM makes nspawn power its machine off cleanly: all machines at once, then up to 20 s for them
  while read -r kind what pid; do
    if [ "$kind" = machine ] && ours "$pid" "$what"; then kill -TERM "$pid"; fi
  done < "$LAB/created"
  for t in $(seq 100); do
    alive=no
    while read -r kind what pid; do
      if [ "$kind" = machine ] && ours "$pid" "$what"; then alive=yes; fi
    done < "$LAB/created"
    if [ $alive = no ]; then break; fi
    sleep 0.2
  done
  # reverse order: machines, then mounts, then namespaces
  tac "$LAB/created" | while read -r kind what pid; do
    case $kind in
      machine)  # still up: SIGKILL to its init, so the kernel ends every process of the machine
        if ours "$pid" "$what"; then
          pkill -KILL -P "$pid" || true; kill -KILL "$pid" 2>/dev/null || true; echo "nspawnlab: killed $what" >&2
        fi
        rm -rf --one-file-system "/run/systemd/nspawn/propagate/$what" "/run/systemd/nspawn/unix-export/$what" ;;
      mount)  # then the host's overlay layers go too
        ! mountpoint -q "$what" || umount "$what" || umount -l "$what"
        mountpoint -q "$what" || rm -rf --one-file-system "${what%/merged}"/{upper,work,merged} ;;
      netns) [ ! -e "/run/netns/$what" ] || ip netns del "$what" ;;
    esac
  done
  # nspawn's leftovers, only when no other machine uses them
  rmdir /run/systemd/nspawn/propagate /run/systemd/nspawn/unix-export /run/systemd/nspawn/locks \
    /run/systemd/nspawn 2>/dev/null || true
  rm -f "$LAB/created"
}

up() {
  [ $# -gt 0 ] || die "usage: nspawnlab.sh up HOST..."
  [ ! -s "$LAB/created" ] || die "a lab is already up in $LAB; run down first"
  [ $# -le 200 ] || die "at most 200 hosts"
  for h in "$@"; do [[ $h =~ ^[a-z][a-z0-9]{0,9}$ ]] || die "host name $h: use 1-10 lower-case letters and digits"; done
  local rootfs i=0 h ip d
  rootfs=$("$here/rootfs.sh")
  mkdir -p "$LAB"; chmod 700 "$LAB"; touch "$LAB/.nspawnlab"
  trap 'status=$?; [ $status -eq 0 ] || { echo "nspawnlab: up failed, removing what it made" >&2; down; }' EXIT
  [ -f "$LAB/id_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -C nspawnlab -f "$LAB/id_ed25519"
  ! compgen -G "/run/netns/$NS_PREFIX*" >/dev/null ||
    die "network namespaces $NS_PREFIX* exist already (another lab is up): $(cd /run/netns && echo "$NS_PREFIX"*)"
  ip netns add "$BRIDGE_NS"; record netns "$BRIDGE_NS"
  ip -n "$BRIDGE_NS" link set lo up
  ip -n "$BRIDGE_NS" link add br0 type bridge
  ip -n "$BRIDGE_NS" addr add "$NET.1/24" dev br0
  ip -n "$BRIDGE_NS" link set br0 up
  cat > "$LAB/inventory.yml" <<INV
all:
  vars:
    ansible_user: root
    ansible_ssh_private_key_file: $LAB/id_ed25519
    # Debian 12's python3-cryptography is 38; the collection needs 42+ (a venv with the pinned one)
    ansible_python_interpreter: /opt/certkeeper/venv/bin/python
    ansible_ssh_common_args: >-
      -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR
      -o ProxyCommand="ip netns exec $BRIDGE_NS bash -c 'exec 3<>/dev/tcp/%h/%p; cat <&3 & cat >&3'"
  hosts:
INV
  local hosts_file="127.0.0.1 localhost"$'\n'
  for h in "$@"; do i=$((i + 1)); hosts_file+="$NET.$((10 + i)) $h"$'\n'; done
  i=0
  for h in "$@"; do
    i=$((i + 1)); ip=$NET.$((10 + i)); d=$LAB/$h
    printf '    %s:\n      ansible_host: %s\n' "$h" "$ip" >> "$LAB/inventory.yml"
    ip netns add "$NS_PREFIX$h"; record netns "$NS_PREFIX$h"
    ip link add "v$h" netns "$BRIDGE_NS" type veth peer name host0 netns "$NS_PREFIX$h"
    ip -n "$BRIDGE_NS" link set "v$h" master br0 up
    ip -n "$NS_PREFIX$h" addr add "$ip/24" dev host0
    ip -n "$NS_PREFIX$h" link set host0 up
    ip -n "$NS_PREFIX$h" link set lo up
    mkdir -p "$d"/{upper,work,merged}
    mount -t overlay overlay -o "lowerdir=$rootfs,upperdir=$d/upper,workdir=$d/work" "$d/merged"; record mount "$d/merged"
    d=$(realpath "$d")
    put "$d/merged" /root/.ssh/authorized_keys 600 < "$LAB/id_ed25519.pub"
    echo "$h" | put "$d/merged" /etc/hostname 644
    printf %s "$hosts_file" | put "$d/merged" /etc/hosts 644
    chroot "$d/merged" ssh-keygen -A >/dev/null   # this host's own host keys
    setsid systemd-nspawn -q -D "$d/merged" --boot --machine="$NS_PREFIX$h" --hostname="$h" \
      --register=no --keep-unit --network-namespace-path="/run/netns/$NS_PREFIX$h" \
      --console=read-only > "$d/console.log" 2>&1 < /dev/null &
    record machine "$NS_PREFIX$h" $!
  done
  i=0
  for h in "$@"; do
    i=$((i + 1))
    for t in $(seq 150); do
      ip netns exec "$BRIDGE_NS" bash -c "exec 3<>/dev/tcp/$NET.$((10 + i))/22" 2>/dev/null && continue 2
      sleep 0.2
    done
    die "$h: sshd did not come up within 30 s (see $LAB/$h/console.log)"
  done
  echo "nspawnlab: $* up; inventory $LAB/inventory.yml" >&2
}

case ${1:-} in
  up) shift; up "$@" ;;
  down) down ;;
  *) die "usage: nspawnlab.sh up HOST... | down" ;;
esac
