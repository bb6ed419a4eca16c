#!/usr/bin/env bash
# CHANGELOG.md from changelogs/fragments/*.yml (antsibull-changelog), as the release of galaxy.yml's version.
#   scripts/changelog.sh           rewrites CHANGELOG.md (run it after adding a fragment)
#   scripts/changelog.sh --check   fails when CHANGELOG.md is not what the fragments give
# The release is made in a scratch copy, so the fragments stay in the repo until the version is published.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
export PATH="$root/.venv-quality/bin:$PATH"  # antsibull-changelog (scripts/quality.sh creates the venv)
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
cp "$root/galaxy.yml" "$scratch/"
cp -r "$root/changelogs" "$scratch/changelogs"
rm -f "$scratch/changelogs/changelog.yaml" "$scratch/changelogs/.plugin-cache.yaml"
cp -r "$root/plugins" "$root/roles" "$root/meta" "$scratch/"
version=$(python3 -c 'import sys, yaml; print(yaml.safe_load(open(sys.argv[1]))["version"])' "$root/galaxy.yml")
printf 'ancestor: null\nreleases: {}\n' >"$scratch/changelogs/changelog.yaml"
# Plugins are listed from the collection's own docs (ansible-doc), so "New Modules" is never stale.
(cd "$scratch" && ANSIBLE_COLLECTIONS_PATH=$root/.work/collections \
  antsibull-changelog release --version "$version" --date 2026-11-22 >/dev/null)
if [ "${1:-}" = --check ]; then
  diff -u "$root/CHANGELOG.md" "$scratch/CHANGELOG.md" || {
    echo "CHANGELOG.md is not generated from changelogs/fragments: run scripts/changelog.sh" >&2
    exit 1
  }
else
  cp "$scratch/CHANGELOG.md" "$root/CHANGELOG.md"
fi
