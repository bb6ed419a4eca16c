#!/usr/bin/env bash
# The whole test suite: unit tests of plugins/module_utils, then integration tests that run the
# module and the role through Ansible against a real PostgreSQL and real clients.
# Extra arguments go to pytest (e.g. scripts/test.sh tests/unit -k pkcs12) and skip the rest. Called plainly it
# then runs the Molecule scenarios (scripts/molecule.sh) and release quality (scripts/quality.sh).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/bootstrap.sh"
cd "$root"
export PATH="$root/.venv/bin:$PATH"
start=$(date +%s)
status=0
python -m pytest "${@:-tests}" || status=$?
echo "test suite: $(( $(date +%s) - start )) s"
if [ $# -eq 0 ]; then  # the whole suite: Molecule scenarios, then release quality (sanity, lint, docs, galaxy, builder)
  "$root/scripts/molecule.sh" || status=$?
  "$root/scripts/quality.sh" || status=$?
fi
exit $status
