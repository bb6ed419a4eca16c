#!/usr/bin/env bash
# The benchmark (not part of the test suite): bench/run.sh [--quick] [--sizes 1,10,50,200] [--runs 3]
# Installs the project's venv (scripts/bootstrap.sh) and the reference's own venv (the `ansible` package,
# which carries community.crypto) in bench/.venv-ref, then runs bench/run.py.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/bootstrap.sh"
if [ ! -x "$root/bench/.venv-ref/bin/ansible-playbook" ]; then
  echo "bench: creating bench/.venv-ref (ansible 12.3.0 with community.crypto)"
  python3 -m venv "$root/bench/.venv-ref"
  "$root/bench/.venv-ref/bin/pip" install -q --disable-pip-version-check -r "$root/bench/requirements-ref.txt"
fi
exec "$root/.venv/bin/python" "$root/bench/run.py" "$@"
