#!/usr/bin/env bash
# Installs everything the demo and the tests need; safe to run again (does nothing when up to date).
#   Debian packages: PostgreSQL 15 server/client, Java 17 and pgjdbc (for the JDBC test), openssl;
#   debootstrap, systemd-nspawn and ssh for the Molecule labs (extensions/molecule/shared/); faketime (CRL timer test);
#   prometheus-node-exporter and prometheus (promtool) for the metrics tests; certmonger (adoption test); chromium
#   (the report page, headless); scep (micromdm's SCEP server, for the ca: scep tests); iproute2 (their netns).
#   .venv/ with the pinned Python packages of requirements-test.txt.
#   .work/collections/ansible_collections/certkeeper/pki -> this checkout, so Ansible finds the collection.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

debs=(postgresql-15 postgresql-client-15 openjdk-17-jdk-headless libpostgresql-jdbc-java openssl python3-venv
      debootstrap openssh-client systemd-container faketime prometheus-node-exporter prometheus certmonger
      chromium scep iproute2)
missing=()
for pkg in "${debs[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
# systemd-container at the installed systemd's version: the newer candidate would upgrade systemd itself
missing=("${missing[@]/#systemd-container/systemd-container=$(dpkg-query -W -f='${Version}' systemd)}")
if [ ${#missing[@]} -gt 0 ]; then
  echo "bootstrap: apt-get install ${missing[*]}"
  apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
fi

stamp=.venv/.requirements.sha256
want=$(cat requirements.txt requirements-test.txt | sha256sum | cut -d' ' -f1)
if [ ! -x .venv/bin/python ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "bootstrap: creating .venv"
  python3 -m venv .venv
  .venv/bin/pip install -q --disable-pip-version-check -r requirements-test.txt
  echo "$want" > "$stamp"
fi

mkdir -p .work/collections/ansible_collections/certkeeper
ln -sfn ../../../.. .work/collections/ansible_collections/certkeeper/pki
