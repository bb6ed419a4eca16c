#!/usr/bin/env bash
# Release quality, run by scripts/test.sh after pytest (or alone): every step must pass with zero findings.
#   ruff (lint + format check) and mypy on plugins/; antsibull-changelog lint and CHANGELOG.md in sync;
#   ansible-galaxy collection build (no scratch files in the tarball) + install into a clean collections path
#   + the signing_cert playbook run from it; ansible-test sanity on the installed tree for the oldest and the
#   newest ansible-core of meta/runtime.yml's range that Python 3.11 runs; plain `ansible-lint` at the root (the
#   whole collection, .ansible-lint: production profile) and on every module's EXAMPLES; Galaxy's importer
#   (galaxy-importer, ansible-lint on) on the tarball, with no error and no warning; antsibull-docs reference;
#   ansible-builder create.
# Tools come from requirements-quality.txt (.venv-quality), re-created when its sha256 changes; galaxy-importer has
# a venv of its own (GALAXY_IMPORTER below).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
"$root/scripts/bootstrap.sh" >/dev/null
[ -t 1 ] || export NO_COLOR=1   # plain logs in CI (ansible-lint colours its output even into a file otherwise)

# Oldest of requires_ansible (>=2.16) and newest that installs on Python 3.11 (2.20 needs 3.12).
SANITY_CORES=(2.16.19 2.19.14)
# galaxy-importer and what only it needs. It wants attrs<24 where the lock has 26.1.0, so it gets a venv of its
# own, where every other package (ansible-core, ansible-lint, ...) is held at the version of requirements-quality.txt.
GALAXY_IMPORTER=(galaxy-importer==0.4.44 attrs==23.2.0 flake8==6.1.0 mccabe==0.7.0 pycodestyle==2.11.1 pyflakes==3.1.0
                 Markdown==3.11.4 nh3==0.3.8)

work=$root/.work/quality
tools=$root/.venv-quality
export PATH="$tools/bin:$PATH"
total_start=$(date +%s)
step_start=$total_start
step() {  # step NAME: prints how long the previous step took
  local now
  now=$(date +%s)
  [ -n "${step_name:-}" ] && echo "quality: $step_name ok ($(( now - step_start )) s)"
  step_name=$1
  step_start=$now
}

venv() {  # venv DIR KEY PIP-ARGUMENT...: a venv with these pins, re-made only when KEY changes
  local dir=$1 want=$2
  shift 2
  if [ ! -x "$dir/bin/python" ] || [ "$(cat "$dir/.requirements.sha256" 2>/dev/null)" != "$want" ]; then
    echo "quality: creating $dir"
    rm -rf "$dir"
    python3 -m venv "$dir"
    "$dir/bin/pip" install -q --disable-pip-version-check "$@"
    echo "$want" >"$dir/.requirements.sha256"
  fi
}

step "tool venvs"
venv "$tools" "$(sha256sum <requirements-quality.txt)" -r requirements-quality.txt
for core in "${SANITY_CORES[@]}"; do
  venv "$root/.work/ansible-core-$core" "$core" "ansible-core==$core"
done
# The same cores for the unit tests of plugin_utils/ansible_core.py (the one user of ansible-core's private API) and
# of the action plugin built on it: each with pytest and the collection's other requirements at their pins.
grep -v '^ansible-core==' requirements.txt | cat - <(grep '^pytest==' requirements-test.txt) \
  >"$root/.work/pytest-ansible-core-requirements.txt"
for core in "${SANITY_CORES[@]}"; do
  venv "$root/.work/pytest-ansible-core-$core" "$core $(sha256sum <"$root/.work/pytest-ansible-core-requirements.txt")" \
    "ansible-core==$core" -r "$root/.work/pytest-ansible-core-requirements.txt"
done
importer=$root/.work/galaxy-importer
grep -v '^attrs==' requirements-quality.txt >"$root/.work/galaxy-importer-constraints.txt"
venv "$importer" "$(printf '%s\n' "${GALAXY_IMPORTER[@]}" | cat - requirements-quality.txt | sha256sum)" \
  "${GALAXY_IMPORTER[@]}" -c "$root/.work/galaxy-importer-constraints.txt"
# ansible-test bootstraps pip in its sanity venvs with a script from a host this network cannot reach;
# this stand-in installs the same pip version from the package index.
for core in "${SANITY_CORES[@]}"; do
  pip_version=$(grep -ohP "^\s+pip='\K[0-9.]+(?=',$)" \
    "$root"/.work/ansible-core-"$core"/lib/python3*/site-packages/ansible_test/_internal/python_requirements.py)
  mkdir -p ~/.ansible/test/cache
  cp scripts/get_pip_shim.py ~/.ansible/test/cache/get_pip_"${pip_version//./_}".py
done
rm -rf "$work"
mkdir -p "$work"

step "ruff"
ruff check plugins
ruff format --check plugins

step "mypy"
mypy -p ansible_collections.certkeeper.pki.plugins  # plugins/ under its collection name, each file once

for core in "${SANITY_CORES[@]}"; do
  step "ansible-core adapter tests (ansible-core $core)"
  "$root/.work/pytest-ansible-core-$core/bin/python" -m pytest -q \
    tests/unit/test_ansible_core_adapter.py tests/unit/test_pg_mtls_action.py
done

step "changelog"
antsibull-changelog lint
scripts/changelog.sh --check

step "galaxy build + install"
ansible-galaxy collection build --output-path "$work" . >/dev/null
tarball=$(ls "$work"/certkeeper-pki-*.tar.gz)
version=$(python -c 'import yaml; print(yaml.safe_load(open("galaxy.yml"))["version"])')
[ "$(basename "$tarball")" = "certkeeper-pki-$version.tar.gz" ]
python -c 'import semantic_version, sys; semantic_version.Version(sys.argv[1])' "$version"
scratch=$(tar -tzf "$tarball" | grep -E '(^|/)(\.venv[^/]*|\.work|\.ansible|\.git[^/]*|\.ci|\.pytest_cache|\.mypy_cache|\.ruff_cache|__pycache__|bench|scripts|output)(/|$)|\.pyc$|\.tar\.gz$' || true)
if [ -n "$scratch" ]; then
  echo "quality: the tarball holds files that are not the collection's:" >&2
  echo "$scratch" >&2
  exit 1
fi
ansible-galaxy collection install --offline --force -p "$work/installed" "$tarball" >/dev/null 2>&1
installed=$work/installed/ansible_collections/certkeeper/pki
python scripts/quality_playbook.py "$work/installed" "$work/playbook"

# ansible-test reads the files to check from git when it is inside a repository: the installed tree goes
# outside this checkout, where it sees exactly the tarball's files.
sanity_root=$(mktemp -d)
trap 'rm -rf "$sanity_root"' EXIT
ansible-galaxy collection install --offline --force -p "$sanity_root" "$tarball" >/dev/null 2>&1
for core in "${SANITY_CORES[@]}"; do
  step "ansible-test sanity (ansible-core $core)"
  rm -rf "$sanity_root/ansible_collections/certkeeper/pki/tests/output"
  (cd "$sanity_root/ansible_collections/certkeeper/pki" &&
    "$root/.work/ansible-core-$core/bin/ansible-test" sanity --venv --python 3.11 --color no \
    >"$work/sanity-$core.log" 2>&1) || { grep -E '^(ERROR|FATAL)' "$work/sanity-$core.log" >&2; exit 1; }
  tests_run=$(grep -c '^Running sanity test' "$work/sanity-$core.log" || true)
  if [ "$tests_run" -lt 15 ]; then
    echo "quality: ansible-test ran $tests_run sanity tests on ansible-core $core:" >&2
    tail -5 "$work/sanity-$core.log" >&2
    exit 1
  fi
  echo "quality: $tests_run sanity tests passed on ansible-core $core"
done

step "ansible-lint"
# The command a contributor and Galaxy's importer run: plain `ansible-lint` at the root, configured by .ansible-lint
# (what is collection content, the production profile); it installs this checkout into .ansible/collections to
# resolve certkeeper.pki.*. A HOME of its own: no collection of this machine's ~/.ansible/collections takes part.
mkdir -p "$work/lint-home"
HOME=$work/lint-home ansible-lint
# Every module's EXAMPLES, as the playbooks tests.support.examples writes: under .work/, which .ansible-lint
# leaves out of the plain run, so they are named (a named file is linted all the same).
PYTHONPATH=$root/.work/collections python -m tests.support.examples "$work/examples"
HOME=$work/lint-home ansible-lint $(ls "$work"/examples/*.yml | grep -v /inventory.yml)

step "galaxy-importer"
# Galaxy's own import of the tarball, configured as galaxy-importer's README shows, with ansible-lint on (ansible-test
# off: it needs containers; sanity runs above). The importer lints the unpacked tarball with its own ansible-lint
# command (production profile) and the tarball's .ansible-lint. Any ERROR or WARNING line, any stderr output or a
# failed import fails the step.
mkdir -p "$work/importer/home"
cat >"$work/importer/galaxy-importer.cfg" <<EOF
[galaxy-importer]
LOG_LEVEL_MAIN = INFO
RUN_ANSIBLE_TEST = False
RUN_ANSIBLE_DOC = True
RUN_ANSIBLE_LINT = True
CHECK_CHANGELOG = True
TMP_ROOT_DIR = $work/importer
EOF
importer_status=0
(cd "$work/importer" && HOME=$work/importer/home PATH="$importer/bin:$PATH" \
  GALAXY_IMPORTER_CONFIG=$work/importer/galaxy-importer.cfg "$importer/bin/python" -m galaxy_importer.main "$tarball" \
  >importer.log 2>importer.err) || importer_status=$?
if [ "$importer_status" -ne 0 ] || [ -s "$work/importer/importer.err" ] ||
   grep -qE '^(WARNING|ERROR|CRITICAL)' "$work/importer/importer.log" ||
   ! grep -qx 'Importer processing completed successfully' "$work/importer/importer.log"; then
  echo "quality: galaxy-importer (exit $importer_status) did not import the collection cleanly:" >&2
  grep -v '^Loading ' "$work/importer/importer.log" >&2 || true
  cat "$work/importer/importer.err" >&2
  exit 1
fi
echo "quality: galaxy-importer $("$importer/bin/pip" show galaxy-importer | sed -n 's/^Version: //p') imported" \
  "$(basename "$tarball") with no error and no warning ($(grep -c '^Loading ' "$work/importer/importer.log") items)"

step "antsibull-docs reference"
# Plugin and role docs checked, then the reference as standalone RST rendered to HTML by docutils, which stops
# at the first warning: .work/quality/reference/index.html (scripts/reference.sh makes it alone).
ANSIBLE_COLLECTIONS_PATH=$work/installed antsibull-docs lint-collection-docs --plugin-docs "$installed"
scripts/reference.sh "$work/installed" "$work/reference"
for module in $(ls plugins/modules | sed -n 's/\.py$//p'); do
  grep -q 'Attributes' "$work/reference/${module}_module.html"
done
for role in $(ls roles); do
  test -s "$work/reference/${role}_role.html"
done

step "ansible-builder create"
rm -rf build && mkdir build && cp "$tarball" build/
ansible-builder create --file execution-environment.yml --context "$work/ee" --output-filename Containerfile >/dev/null
rm -rf build
grep -q 'ansible-galaxy collection install' "$work/ee/Containerfile"
grep -q '^cryptography' "$work/ee/_build/requirements.txt"
grep -q '^openssl' "$work/ee/_build/bindep.txt"
test -s "$work/ee/_build/$(basename "$tarball")"
step ""
echo "quality: $(( $(date +%s) - total_start )) s"
