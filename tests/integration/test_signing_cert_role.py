"""The signing_cert playbook on a 3-host inventory: one certificate everywhere, read by real consumers."""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
import sys
import tempfile

import pytest
import yaml
from cryptography.hazmat.primitives import hashes, serialization

from ansible_collections.certkeeper.pki.plugins.module_utils._core.pkcs12 import load_pkcs12
from tests.integration.conftest import run_playbook

pytestmark = pytest.mark.integration
HOSTS = ("sq1", "sq2", "sq3")
PASSWORD = "Vault-kept pässword 42"  # spaces and non-ASCII: the hardest to mask and to quote
ASCII_PASSWORD = "Vault-kept-password-42"  # Java's KeyStore opens PBES2 files with ASCII passwords only
FRIENDLY_NAME = "YSoft SafeQ Signing Certificate"


class Group:
    def __init__(self, base: str, password: str):
        self.base, self.password = base, password
        inventory = {"all": {
            "vars": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable,
                     "signing_cert_subject": "YSoft SafeQ", "signing_cert_friendly_name": FRIENDLY_NAME,
                     "signing_cert_password": password,
                     "signing_cert_subject_alt_names": ["*.company.com", "1.2.3.4"],
                     "signing_cert_public_formats": ["cer"]},
            "children": {"signing_cert_hosts": {"hosts": {
                h: {"signing_cert_dir": os.path.join(base, h)} for h in HOSTS}}}}}
        self.inventory = os.path.join(base, "inventory.yml")
        with open(self.inventory, "w") as handle:
            yaml.safe_dump(inventory, handle)

    def pfx(self, host: str) -> str:
        return os.path.join(self.base, host, FRIENDLY_NAME + ".pfx")

    def run(self, *args: str):
        return run_playbook("certkeeper.pki.signing_cert", self.inventory, *args, tmp_dir=self.base)

    def thumbprints(self) -> set:
        return {load_pkcs12(open(self.pfx(h), "rb").read(), self.password).cert.certificate.fingerprint(
            hashes.SHA256()).hex() for h in HOSTS}


@pytest.fixture(scope="module")
def group():
    base = tempfile.mkdtemp(prefix="certkeeper-signing-")
    group = Group(base, ASCII_PASSWORD)
    first = group.run()
    assert first.returncode == 0, first.output
    group.first = first
    yield group
    shutil.rmtree(base, ignore_errors=True)


def test_one_certificate_on_every_host(group):
    assert len(group.thumbprints()) == 1
    contents = {open(group.pfx(h), "rb").read() for h in HOSTS}
    assert len(contents) == 1  # the same bytes, not three encodings
    # source: make + read; the others: one install each
    assert group.first.invocations == {"sq1": 2, "sq2": 1, "sq3": 1}


def test_rerun_changes_nothing(group):
    before = {h: (open(group.pfx(h), "rb").read(), os.stat(group.pfx(h)).st_ino) for h in HOSTS}
    run = group.run()
    assert run.returncode == 0 and run.changed == {}, run.output
    assert {h: (open(group.pfx(h), "rb").read(), os.stat(group.pfx(h)).st_ino) for h in HOSTS} == before


def test_openssl_reads_it_and_refuses_a_wrong_password(group):
    pfx = group.pfx("sq2")
    out = subprocess.run(["openssl", "pkcs12", "-in", pfx, "-passin", "pass:" + ASCII_PASSWORD, "-nokeys"],
                         capture_output=True, text=True, check=False)
    assert out.returncode == 0 and "friendlyName: " + FRIENDLY_NAME in out.stdout
    text = subprocess.run(["openssl", "x509", "-noout", "-text"], input=out.stdout, capture_output=True, text=True, check=False).stdout
    assert "Subject: CN = YSoft SafeQ" in text
    assert "DNS:*.company.com, IP Address:1.2.3.4" in text
    assert "Digital Signature, Key Encipherment" in text
    assert "TLS Web Server Authentication, TLS Web Client Authentication" in text
    wrong = subprocess.run(["openssl", "pkcs12", "-in", pfx, "-passin", "pass:wrong", "-noout"], capture_output=True, check=False)
    assert wrong.returncode != 0


def test_java_keystore_reads_it(group, java):
    result = java("KeyStoreProbe", group.pfx("sq3"), ASCII_PASSWORD)
    assert result.returncode == 0, result.stdout
    alias, has_key, subject, sha256 = result.stdout.strip().split("|")
    assert alias.lower() == FRIENDLY_NAME.lower() and has_key == "true" and subject == "CN=YSoft SafeQ"
    assert {sha256.lower()} == group.thumbprints()
    assert java("KeyStoreProbe", group.pfx("sq3"), "wrong").returncode != 0


def test_drift_is_reported_and_replaced(group):
    shutil.copy(group.pfx("sq1"), group.pfx("sq1") + ".keep")
    # sq3 gets a certificate of its own, made with the module directly
    other = os.path.join(group.base, "other")
    subprocess.run([os.path.join(os.path.dirname(sys.executable), "ansible"), "localhost", "-m",
                    "certkeeper.pki.signing_cert", "-a",
                    "subject=Other friendly_name='%s' password=%s subject_alt_names=other.example path=%s"
                    % (FRIENDLY_NAME, ASCII_PASSWORD, other)],
                   env=dict(os.environ, ANSIBLE_COLLECTIONS_PATH=os.path.join(os.path.dirname(os.path.dirname(
                       os.path.dirname(os.path.abspath(__file__)))), ".work", "collections")),
                   check=True, capture_output=True)
    shutil.copy(os.path.join(other, FRIENDLY_NAME + ".pfx"), group.pfx("sq3"))
    assert len(group.thumbprints()) == 2
    run = group.run("-v")
    assert run.returncode == 0 and run.changed == {"sq3": 1}, run.output
    assert "drift from the group's certificate" in run.output
    assert len(group.thumbprints()) == 1


def test_check_mode_after_deletion_reports_it_and_writes_nothing(group):
    os.unlink(group.pfx("sq2"))
    run = group.run("--check")
    assert run.returncode == 0 and run.changed == {"sq2": 1}
    assert not os.path.exists(group.pfx("sq2"))
    assert group.run().changed == {"sq2": 1} and len(group.thumbprints()) == 1


def test_vvv_never_shows_the_password_or_the_key():
    base = tempfile.mkdtemp(prefix="certkeeper-signing-vvv-")
    try:
        group = Group(base, PASSWORD)
        run = group.run("-vvv", "--diff")
        assert run.returncode == 0, run.output
        pfx = open(group.pfx("sq1"), "rb").read()
        bundle = load_pkcs12(pfx, PASSWORD)
        key_der = bundle.key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption())
        for secret in (PASSWORD, base64.b64encode(pfx).decode()[:64], base64.b64encode(key_der).decode()[:64],
                       "PRIVATE KEY"):
            assert secret not in run.output, "leaked: %r" % secret[:20]
        assert "the output has been hidden due to the fact that 'no_log: true'" in run.output  # the slurp ran
        assert "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER" in run.output  # and the module masked its secrets
        assert "non-ASCII characters; Java's PKCS12 KeyStore cannot open" in run.output
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_absent_removes_it_everywhere(group):
    inventory = yaml.safe_load(open(group.inventory))
    inventory["all"]["vars"]["signing_cert_state"] = "absent"
    path = os.path.join(group.base, "absent.yml")
    yaml.safe_dump(inventory, open(path, "w"))
    run = run_playbook("certkeeper.pki.signing_cert", path, tmp_dir=group.base)
    assert run.returncode == 0, run.output
    assert not any(os.path.exists(group.pfx(h)) for h in HOSTS)


def test_a_first_check_run_reports_and_writes_nothing():
    base = tempfile.mkdtemp(prefix="certkeeper-signing-check-")
    try:
        group = Group(base, ASCII_PASSWORD)
        run = group.run("--check")
        assert run.returncode == 0, run.output
        assert run.changed == {"sq1": 1}
        assert not any(os.path.exists(group.pfx(h)) for h in HOSTS)
    finally:
        shutil.rmtree(base, ignore_errors=True)
