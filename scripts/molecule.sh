#!/usr/bin/env bash
# The Molecule scenarios of extensions/molecule/ on labs of real systemd hosts (systemd-nspawn):
#   scripts/molecule.sh            every scenario (molecule test --all)
#   scripts/molecule.sh pg_mtls    one scenario (molecule test -s pg_mtls)
# Run as root on Debian 12; the lab's root filesystem is built once and cached under /var/tmp.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/bootstrap.sh"
cd "$root"
export PATH="$root/.venv/bin:$PATH"
[ -t 1 ] || export NO_COLOR=1   # plain logs in CI
# built here so that a build failure shows plainly, and once for the whole run
extensions/molecule/shared/rootfs.sh >/dev/null
# a lab left up by an interrupted run (destroy.yml stops each lab when molecule gets to run it)
stop_labs() {
  for created in .work/molecule/*/created; do
    [ ! -f "$created" ] || LAB="$root/${created%/created}" extensions/molecule/shared/nspawnlab.sh down
  done
}
stop_labs
trap stop_labs EXIT
trap 'exit 130' INT TERM
start=$(date +%s)
status=0
if [ $# -gt 0 ]; then
  molecule test -s "$1" || status=$?
else
  molecule test --all || status=$?
fi
echo "molecule: $(( $(date +%s) - start )) s"
exit $status
