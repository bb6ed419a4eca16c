from __future__ import annotations

import subprocess

import pytest

from ansible_collections.certkeeper.pki.plugins.module_utils._ca import local
from ansible_collections.certkeeper.pki.plugins.module_utils._core import crypto
from ansible_collections.certkeeper.pki.plugins.module_utils._core.crypto import KeySpec
from ansible_collections.certkeeper.pki.plugins.module_utils._core.pkcs12 import load_pkcs12, serialize_pkcs12


def issue_leaf(ca_key, ca_cert, public_key, profile, common_name, sans, days):
    """A leaf of ``profile`` signed by the CA, the way every certkeeper CA signs (_ca/local.sign)."""
    return local.sign(ca_key, ca_cert, public_key, crypto.common_name_subject(common_name), sans, profile, days)


@pytest.fixture(scope="module", params=[KeySpec("rsa", 2048), KeySpec("ecdsa", 256)], ids=str)
def material(request):
    ca_key = KeySpec().generate()
    ca = crypto.issue_ca_certificate(ca_key, "Test CA", 30)
    key = request.param.generate()
    cert = issue_leaf(ca_key, ca, key.public_key(), "client", "app", [], 30)
    return key, cert, ca


@pytest.mark.parametrize("password", ["", "s3cret"])
def test_round_trip_with_cryptography(material, password):
    key, cert, ca = material
    bundle = load_pkcs12(serialize_pkcs12(key, cert, password, "user", (ca,)), password)
    assert crypto.same_public_key(bundle.key, key)
    assert bundle.cert.certificate == cert and bundle.cert.friendly_name == b"user"
    assert [c.certificate for c in bundle.additional_certs] == [ca]


def test_wrong_password_is_refused(material):
    key, cert, _unused = material
    with pytest.raises(ValueError):
        load_pkcs12(serialize_pkcs12(key, cert, "right", "user"), "wrong")


def test_openssl_reads_the_empty_password_file_as_it_writes_it(material, tmp_path):
    key, cert, ca = material
    path = tmp_path / "client.pfx"
    path.write_bytes(serialize_pkcs12(key, cert, "", "user", (ca,)))
    info = subprocess.run(["openssl", "pkcs12", "-in", path, "-passin", "pass:", "-info", "-noout"],
                          capture_output=True, text=True, check=False)
    assert info.returncode == 0, info.stderr  # the MAC verifies with the empty password
    assert "Shrouded Keybag: PBES2, PBKDF2, AES-256-CBC" in info.stderr + info.stdout
    assert "MAC: sha256" in info.stderr + info.stdout
    wrong = subprocess.run(["openssl", "pkcs12", "-in", path, "-passin", "pass:x", "-noout"], capture_output=True, check=False)
    assert wrong.returncode != 0


def test_every_file_is_salted_differently(material):
    key, cert, _unused = material
    assert serialize_pkcs12(key, cert, "", "user") != serialize_pkcs12(key, cert, "", "user")
