#!/usr/bin/env bash
# The collection's reference (modules, roles, filter) as HTML, generated from the plugin docs and the roles'
# argument specs by antsibull-docs (simplified RST) and rendered by docutils, failing on any warning.
#   scripts/reference.sh [COLLECTIONS_PATH [DEST]]   default: this checkout, .work/reference
# Uses the tools of .venv-quality (scripts/quality.sh creates it).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
collections=${1:-$root/.work/collections}
dest=${2:-$root/.work/reference}
export PATH="$root/.venv-quality/bin:$PATH"
rm -rf "$dest"
mkdir -p -m 0700 "$dest"  # antsibull-docs writes only into a directory that only its owner can write
ANSIBLE_COLLECTIONS_PATH=$collections antsibull-docs collection --use-current --fail-on-error \
  --output-format simplified-rst --squash-hierarchy --dest-dir "$dest" certkeeper.pki >/dev/null
for page in "$dest"/*.rst; do
  docutils --halt=warning "$page" "${page%.rst}.html"
done
echo "reference: $dest/index.html"
