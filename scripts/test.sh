#!/usr/bin/env bash
# The whole test suite: unit tests of plugins/module_utils, then integration tests that run the
# module and the role through Ansible against a real PostgreSQL and real clients.
# Extra arguments go to pytest (e.g. scripts/test.sh tests/unit -k pkcs12) and skip the Molecule
# scenarios, which run after pytest on a plain call (scripts/molecule.sh runs them alone).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/bootstrap.sh"
cd "$root"
export PATH="$root/.venv/bin:$PATH"
start=$(date +%s)
status=0
python -m pytest "${@:-tests}" || status=$?
echo "test suite: $(( $(date +%s) - start )) s"
if [ $# -eq 0 ]; then
  "$root/scripts/molecule.sh" || status=$?
fi
exit $status
