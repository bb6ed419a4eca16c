"""Every module's EXAMPLES as a playbook that runs on this machine.

The tasks are the documented ones, word for word, except for what only a real server has:
- absolute paths under /etc, /root, /usr/local and /var go under ``{{ example_root }}/``;
- reload commands (``systemctl reload ...``) become ``true``; the company CA's helper (certmonger's protocol) signs
  with openssl and an example company CA; the SCEP server's URL is the one the test started (``example_scep_url``);
- options whose default is a system path (the tracking store) get a default under the root through
  ``module_defaults``.
Hosts db1 (group pg_servers) and app1 (group pg_clients) are both this machine (connection local); the
pg_mtls_certs examples run on both, the others on db1. The examples chain as on a real server: the
cert_track example tracks the server certificate the pg_mtls_certs example made.

Usage: python -m tests.support.examples DEST  (writes DEST/<module>.yml and DEST/inventory.yml)
"""

from __future__ import annotations

import ast
import os
import re
import sys

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MODULES = os.path.join(ROOT, "plugins", "modules")
HOST_ROOT = "{{ example_root }}"
SYSTEM_PATH = re.compile(r"(?<![\w/.])/(?=(etc|root|usr/local|var)/)")
RELOAD = re.compile(r"systemctl reload \S+")
SCEP_URL = "http://scep.example.com/scep"
# certmonger's helper protocol: the CSR in $CERTMONGER_CSR, the certificate on stdout, exit 0
HELPER_SCRIPT = """#!/bin/sh
set -e
pki=$(dirname "$0")/../../../etc/pki
printf '%s\\n' "$CERTMONGER_CSR" | openssl x509 -req -days 365 -CA "$pki/company-ca.crt" \\
  -CAkey "$pki/private/company-ca.key" -copy_extensions copy 2>/dev/null
"""
PLAY_HOSTS = {"pg_mtls_certs": "all"}
ORDER = ["pg_mtls_certs", "cert_track_ca", "cert_track", "cert_track_info", "cert_report_info", "signing_cert",
         "certkeeper_command"]
STORE_DEFAULTS = {"certkeeper.pki.cert_track": {"store": HOST_ROOT + "/var/lib/certkeeper"},
                  "certkeeper.pki.cert_track_ca": {"store": HOST_ROOT + "/var/lib/certkeeper"},
                  "certkeeper.pki.cert_track_info": {"store": HOST_ROOT + "/var/lib/certkeeper"},
                  "certkeeper.pki.cert_report_info": {"store": HOST_ROOT + "/var/lib/certkeeper"}}
EXAMPLE_PASSWORD = "example-pfx-password"


def module_examples() -> dict[str, str]:
    """{module name: EXAMPLES text}, read from the module files without importing them."""
    found = {}
    for name in sorted(os.listdir(MODULES)):
        if not name.endswith(".py"):
            continue
        with open(os.path.join(MODULES, name)) as handle:
            tree = ast.parse(handle.read())
        for node in tree.body:
            if isinstance(node, ast.Assign) and [t.id for t in node.targets if isinstance(t, ast.Name)] == ["EXAMPLES"]:
                found[name[:-3]] = ast.literal_eval(node.value)
    return found


def runnable(value):
    """The parsed EXAMPLES with every string made safe to run here."""
    if isinstance(value, list):
        return [runnable(item) for item in value]
    if isinstance(value, dict):
        return {key: runnable(item) for key, item in value.items()}
    if isinstance(value, str):
        value = RELOAD.sub("true", SYSTEM_PATH.sub(HOST_ROOT + "/", value))
        return value.replace(SCEP_URL, "{{ example_scep_url }}")
    return value


def prepare_root(root: str) -> None:
    """What the examples take as already there on a server: directories, a company CA and its helper."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    from ansible_collections.certkeeper.pki.plugins.module_utils._core import crypto

    for directory in ("usr/local/sbin", "etc/pki/tls/certs", "etc/pki/tls/private"):  # as on RHEL
        os.makedirs(os.path.join(root, directory), exist_ok=True)
    os.makedirs(os.path.join(root, "usr/local/libexec"), exist_ok=True)
    os.makedirs(os.path.join(root, "etc/pki/private"), mode=0o700, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    with open(os.path.join(root, "etc/pki/company-ca.crt"), "wb") as handle:
        handle.write(crypto.certificate_pem(crypto.issue_ca_certificate(key, "Example Company CA", 3650)))
    with open(os.open(os.path.join(root, "etc/pki/private/company-ca.key"), os.O_WRONLY | os.O_CREAT, 0o600), "wb") as handle:
        handle.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    helper = os.path.join(root, "usr/local/libexec/example-ca-submit")
    with open(helper, "w") as handle:
        handle.write(HELPER_SCRIPT)
    os.chmod(helper, 0o755)


class _IndentedLists(yaml.SafeDumper):
    """Lists indented under their key, as ansible-lint's yamllint rules want."""

    def increase_indent(self, flow=False, indentless=False):
        return super().increase_indent(flow, False)


def write_playbooks(dest: str, scep_url: str, scep_pin: str, python: str = sys.executable) -> dict[str, str]:
    """Writes one playbook per module (in ORDER) and the inventory; returns {module: playbook path}. ``scep_url``
    and ``scep_pin``: the SCEP server the examples' SCEP CA stands for, and its challenge."""
    os.makedirs(dest, exist_ok=True)
    root = os.path.join(dest, "root")
    prepare_root(root)
    inventory = {"all": {
        "vars": {"ansible_connection": "local", "ansible_python_interpreter": python,
                 "example_root": root, "vault_safeq_pfx_password": EXAMPLE_PASSWORD,
                 "example_scep_url": scep_url, "vault_scep_pin": scep_pin},
        "children": {"pg_servers": {"hosts": {"db1": {}}}, "pg_clients": {"hosts": {"app1": {}}}}}}
    with open(os.path.join(dest, "inventory.yml"), "w") as handle:
        yaml.safe_dump(inventory, handle)
    playbooks = {}
    examples_of = module_examples()
    assert sorted(examples_of) == sorted(ORDER), "a new module: add it to ORDER"
    for module in ORDER:
        examples = examples_of[module]
        play = {"name": "EXAMPLES of certkeeper.pki.%s" % module, "hosts": PLAY_HOSTS.get(module, "db1"),
                "gather_facts": False,
                "module_defaults": STORE_DEFAULTS, "tasks": runnable(yaml.safe_load(examples))}
        playbooks[module] = os.path.join(dest, module + ".yml")
        with open(playbooks[module], "w") as handle:
            handle.write("---\n")
            yaml.dump([play], handle, Dumper=_IndentedLists, sort_keys=False, width=120)
    return playbooks


if __name__ == "__main__":
    write_playbooks(sys.argv[1], SCEP_URL, "PIN")
