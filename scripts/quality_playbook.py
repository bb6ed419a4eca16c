"""Runs the signing_cert playbook from an installed collection (the built tarball) against localhost.

Usage: python scripts/quality_playbook.py COLLECTIONS_PATH WORK_DIR
Fails unless the first run makes <FriendlyName>.pfx (opened with its password), a second run changes
nothing, and a run without the required password stops before any task with the argument spec's message."""

from __future__ import annotations

import os
import subprocess
import sys

import yaml
from cryptography.hazmat.primitives.serialization import pkcs12

FRIENDLY_NAME = "Release Check"
PASSWORD = "release-check-password"


def playbook(collections: str, work: str, inventory: str, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=collections, ANSIBLE_LOCAL_TEMP=os.path.join(work, "tmp"),
               ANSIBLE_NOCOLOR="true", ANSIBLE_LOCALHOST_WARNING="false")
    return subprocess.run(["ansible-playbook", "-i", inventory, "certkeeper.pki.signing_cert", *args],
                          env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, check=False)


def expect(condition: bool, what: str, run: subprocess.CompletedProcess) -> None:
    if not condition:
        sys.exit("installed collection: %s\n%s%s" % (what, run.stdout, run.stderr))


def main(collections: str, work: str) -> None:
    os.makedirs(work, exist_ok=True)
    inventory = os.path.join(work, "inventory.yml")
    host = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable,
            "signing_cert_dir": os.path.join(work, "signing"), "signing_cert_subject": "release.example.com",
            "signing_cert_friendly_name": FRIENDLY_NAME, "signing_cert_subject_alt_names": ["release.example.com"]}
    with open(inventory, "w") as handle:
        yaml.safe_dump({"all": {"children": {"signing_cert_hosts": {"hosts": {"localhost": host}}}}}, handle)

    missing = playbook(collections, work, inventory)
    expect(missing.returncode != 0 and "signing_cert_password" in missing.stdout,
           "a run without the password must fail naming signing_cert_password", missing)
    expect(not os.path.exists(host["signing_cert_dir"]), "the failed run must write nothing", missing)

    first = playbook(collections, work, inventory, "-e", "signing_cert_password=" + PASSWORD)
    expect(first.returncode == 0 and "changed=" in first.stdout, "the first run must succeed", first)
    with open(os.path.join(host["signing_cert_dir"], FRIENDLY_NAME + ".pfx"), "rb") as handle:
        key, cert, _extra = pkcs12.load_key_and_certificates(handle.read(), PASSWORD.encode())
    expect(key is not None and cert is not None and "release.example.com" in cert.subject.rfc4514_string(),
           "the PFX must hold the key and the certificate", first)

    second = playbook(collections, work, inventory, "-e", "signing_cert_password=" + PASSWORD, "--check", "--diff")
    expect(second.returncode == 0 and "changed=0" in second.stdout, "a rerun in check mode must change nothing",
           second)


if __name__ == "__main__":
    main(*sys.argv[1:])
