"""Every module's EXAMPLES, as printed by ansible-doc, runs: on this machine, under a temp root."""

from __future__ import annotations

import os
import stat

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import pkcs12

from tests.integration.conftest import run_playbook
from tests.support.examples import EXAMPLE_PASSWORD, ORDER, write_playbooks
from tests.support.scep_server import ScepServer

pytestmark = pytest.mark.integration


def load_cert(path: str) -> x509.Certificate:
    with open(path, "rb") as handle:
        return x509.load_pem_x509_certificate(handle.read())


def test_every_module_example_runs(tmp_path):
    with ScepServer(tmp_path / "scep") as scep:
        playbooks = write_playbooks(str(tmp_path), scep.url, scep.challenge)
        inventory = str(tmp_path / "inventory.yml")
        for module in ORDER:  # in order: the cert_track example tracks what the pg_mtls_certs example made
            run = run_playbook(playbooks[module], inventory, tmp_dir=str(tmp_path))
            assert run.returncode == 0, "EXAMPLES of %s:\n%s" % (module, run.output)
            assert run.invocations, "EXAMPLES of %s ran no module:\n%s" % (module, run.output)
            if module not in ("cert_track_info", "cert_report_info"):  # the read-only modules
                assert run.changed, "EXAMPLES of %s changed nothing:\n%s" % (module, run.output)

    root = tmp_path / "root"
    ca = load_cert(str(root / "root/certkeeper-ca/root.crt"))
    server = load_cert(str(root / "etc/postgresql/15/main/server.crt"))
    client = load_cert(str(root / "etc/certkeeper/postgresql/client.crt"))
    server.verify_directly_issued_by(ca)
    client.verify_directly_issued_by(ca)
    assert (root / "etc/certkeeper/postgresql/client.pfx").stat().st_size > 0
    # the helper example: issued by the company CA, then tracking stopped with the files kept
    load_cert(str(root / "etc/pki/tls/certs/web.crt")).verify_directly_issued_by(
        load_cert(str(root / "etc/pki/company-ca.crt")))
    # the SCEP example: issued by the SCEP server's CA (the configuration the cert_track_ca example added)
    load_cert(str(root / "etc/pki/tls/certs/app-client.crt")).verify_directly_issued_by(load_cert(scep.ca_pem))
    assert os.listdir(root / "var/lib/certkeeper/cas") == ["SCEP_example.json"]
    tracked = sorted(os.listdir(root / "var/lib/certkeeper/requests"))
    assert tracked == ["app-client.json", "postgresql-server.json"]
    # signing_cert: the first PFX removed by the last example, the token-signing one opens with its password
    safeq = root / "etc/certkeeper/safeq"
    assert sorted(os.listdir(safeq)) == ["SafeQ Token Signing.cer", "SafeQ Token Signing.pfx"]
    key, cert, _extra = pkcs12.load_key_and_certificates((safeq / "SafeQ Token Signing.pfx").read_bytes(),
                                                         EXAMPLE_PASSWORD.encode())
    assert key is not None and "tokens.company.com" in cert.subject.rfc4514_string()
    assert stat.S_IMODE(os.stat(root / "usr/local/sbin/certkeeper").st_mode) == 0o755
