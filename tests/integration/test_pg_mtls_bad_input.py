"""Bad input through the role: a clear error naming the fix, and every file left as it was."""

from __future__ import annotations

import os

import pytest

from ansible_collections.certkeeper.pki.plugins.module_utils._core import crypto
from ansible_collections.certkeeper.pki.plugins.module_utils._core.crypto import KeySpec

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def working(lab):
    run = lab.run()
    assert run.returncode == 0, run.output
    return lab


def failing_run(lab, name, **overrides):
    before = lab.snapshot()
    run = lab.run(inventory=lab.write_inventory(name, **overrides))
    assert run.returncode != 0, run.output
    assert lab.snapshot() == before, "a failed run changed files"
    return run.output


def test_a_client_without_db_user(working):
    output = failing_run(working, "no-user.yml", app2={"pg_mtls_db_user": ""})
    assert "pg_mtls_db_user is required on client hosts" in output


def test_a_malformed_server_san_fails_that_server(working):
    output = failing_run(working, "bad-san.yml", db1={"pg_mtls_server_sans": ["IP:10.0.0.300"]})
    assert "pg_mtls_server_sans: 'IP:10.0.0.300' is not a valid IP address (host db1)" in output, output


def test_a_ca_host_outside_the_inventory(working):
    output = failing_run(working, "no-ca-host.yml", all={"pg_mtls_ca_host": "nosuchhost"})
    assert "pg_mtls_ca_host 'nosuchhost' is not a host of the inventory" in output, output


def test_an_empty_server_cn(working):
    output = failing_run(working, "empty-cn.yml", db1={"pg_mtls_server_cn": " "})
    assert "pg_mtls_server_cn must be a non-empty string (host db1)" in output, output


def test_a_ca_certificate_that_does_not_match_the_ca_key(working):
    root_crt = os.path.join(working.ca_dir, "root.crt")
    good = open(root_crt, "rb").read()
    foreign = crypto.issue_ca_certificate(KeySpec().generate(), "certkeeper.pki PostgreSQL CA", 30)
    with open(root_crt, "wb") as handle:
        handle.write(crypto.certificate_pem(foreign))
    try:
        output = failing_run(working, "mismatch.yml")
        assert "does not belong to CA key" in output and "restore the matching pair" in output
    finally:
        with open(root_crt, "wb") as handle:
            handle.write(good)


def test_an_unusable_client_directory(working):
    output = failing_run(working, "bad-dir.yml", app1={"pg_mtls_client_dir": "/etc/hostname/certs"})
    assert "client directory /etc/hostname/certs is not usable: Not a directory" in output


def test_an_unknown_key_owner(working):
    output = failing_run(working, "bad-owner.yml", app1={"pg_mtls_client_key_owner": "no-such-user-ck"})
    assert "key_owner: user 'no-such-user-ck' does not exist on this host" in output


def test_an_unsupported_key_size(working):
    output = failing_run(working, "bad-size.yml", all={"pg_mtls_key_size": 1024})
    assert "key_size 1024 is not supported for rsa keys" in output


def test_a_corrupt_file_is_reported_and_only_it_is_regenerated(working):
    pk8 = os.path.join(working.client_dir("app1"), "client.pk8")
    with open(pk8, "wb") as handle:
        handle.write(b"\x30\x03garbage")
    before = working.snapshot()
    run = working.run("-v")
    assert run.returncode == 0 and run.changed == {"app1": 1}
    assert "does not hold the key of client.key in PKCS#8 DER form" in run.output
    after = working.snapshot()
    assert [p for p in after if after[p] != before[p]] == [pk8]
