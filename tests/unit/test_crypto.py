from __future__ import annotations

import datetime
import ipaddress

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from ansible_collections.certkeeper.pki.plugins.module_utils._core import crypto
from ansible_collections.certkeeper.pki.plugins.module_utils._core.crypto import CertError, KeySpec


@pytest.mark.parametrize("entry, expected", [
    ("DNS:db1.example.com", x509.DNSName("db1.example.com")),
    ("dns:DB1.Example.com", x509.DNSName("db1.example.com")),
    ("*.example.com", x509.DNSName("*.example.com")),
    ("localhost", x509.DNSName("localhost")),
    ("IP:10.0.0.5", x509.IPAddress(ipaddress.ip_address("10.0.0.5"))),
    ("127.0.0.1", x509.IPAddress(ipaddress.ip_address("127.0.0.1"))),
    ("::1", x509.IPAddress(ipaddress.ip_address("::1"))),
    ("IP:fe80::1", x509.IPAddress(ipaddress.ip_address("fe80::1"))),
])
def test_subject_alt_names_are_parsed(entry, expected):
    assert crypto.parse_subject_alt_names([entry]) == [expected]


@pytest.mark.parametrize("entry, message", [
    ("IP:999.1.1.1", "not a valid IP address"),
    ("URI:https://x", "unknown prefix"),
    ("foo.*.example.com", "not a valid DNS name"),
    ("*.com", "at least two labels"),
    ("bad_name!", "not a valid DNS name"),
    ("a" * 64 + ".example.com", "not a valid DNS name"),
    ("", "non-empty string"),
    ("DNS:-leading.example.com", "not a valid DNS name"),
])
def test_bad_subject_alt_names_name_the_option(entry, message):
    with pytest.raises(CertError, match=message) as info:
        crypto.parse_subject_alt_names([entry], "pg_mtls_server_sans")
    assert "pg_mtls_server_sans" in str(info.value)


def test_duplicate_subject_alt_names_are_kept_once():
    assert crypto.parse_subject_alt_names(["DNS:a.example", "a.example"]) == [x509.DNSName("a.example")]


@pytest.mark.parametrize("cn, message", [("", "non-empty"), ("   ", "non-empty"), ("x" * 65, "64 characters"),
                                         ("app\n1", "control characters"), (None, "non-empty")])
def test_bad_common_names(cn, message):
    with pytest.raises(CertError, match=message):
        crypto.validate_common_name(cn, "common_name")


@pytest.mark.parametrize("kind, size", [("rsa", 1024), ("rsa", 8192), ("ecdsa", 521), ("dsa", 2048)])
def test_unsupported_key_specs_are_refused(kind, size):
    with pytest.raises(CertError, match="key_type|key_size"):
        KeySpec(kind, size)


@pytest.mark.parametrize("spec", [KeySpec("rsa", 2048), KeySpec("ecdsa", 256), KeySpec("ecdsa", 384)])
def test_key_spec_round_trip(spec):
    key = spec.generate()
    assert KeySpec.of(key) == spec
    assert KeySpec.of(crypto.load_private_key(crypto.pkcs8_der(key))) == spec


def test_garbage_is_not_a_key():
    with pytest.raises(CertError):
        crypto.load_private_key(b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")


@pytest.fixture(scope="module")
def ca():
    key = KeySpec().generate()
    return key, crypto.issue_ca_certificate(key, "Test CA", 3650)


def test_ca_certificate_is_a_ca_for_signing_only(ca):
    key, cert = ca
    assert crypto.is_ca_certificate(cert)
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.key_cert_sign and usage.crl_sign and not usage.digital_signature
    assert crypto.issued_by(cert, cert)


def test_server_and_client_profiles(ca):
    ca_key, ca_cert = ca
    leaf_key = KeySpec("ecdsa", 256).generate()
    sans = crypto.parse_subject_alt_names(["db1.example.com", "IP:10.0.0.5"])
    server = issue_leaf(ca_key, ca_cert, leaf_key.public_key(), "server", "db1.example.com", sans, 365)
    client = issue_leaf(ca_key, ca_cert, leaf_key.public_key(), "client", "app", [], 365)
    assert crypto.extended_key_usages_of(server) == [ExtendedKeyUsageOID.SERVER_AUTH]
    assert crypto.extended_key_usages_of(client) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    assert crypto.subject_alt_names_of(server) == sans and crypto.subject_alt_names_of(client) == []
    assert not crypto.is_ca_certificate(client)  # the seed's `req -x509 -CA` made clients CA:TRUE
    assert crypto.issued_by(client, ca_cert) and crypto.common_name_of(client) == "app"
    assert server.serial_number != client.serial_number


def test_a_leaf_never_outlives_its_ca(ca):
    ca_key, _ca_cert = ca
    short_ca = crypto.issue_ca_certificate(ca_key, "Short CA", 10)
    leaf = issue_leaf(ca_key, short_ca, KeySpec().generate().public_key(), "client", "app", [], 365)
    assert leaf.not_valid_after_utc == short_ca.not_valid_after_utc


def test_a_same_named_foreign_ca_is_not_the_issuer(ca):
    ca_key, ca_cert = ca
    rogue_key = KeySpec().generate()
    rogue = crypto.issue_ca_certificate(rogue_key, "Test CA", 30)
    leaf = issue_leaf(rogue_key, rogue, KeySpec().generate().public_key(), "client", "app", [], 30)
    assert not crypto.issued_by(leaf, ca_cert)


def test_csr_proves_possession_and_is_checked():
    key = KeySpec().generate()
    csr = crypto.build_csr(key, "app")
    assert crypto.load_csr(crypto.csr_pem(csr)).public_key() == key.public_key()
    with pytest.raises(CertError, match="not a PEM certificate signing request"):
        crypto.load_csr("garbage")


def test_certificate_facts_are_public_facts_with_iso_8601_utc_dates(ca):
    _ca_key, cert = ca
    facts = certificate_facts(cert)
    assert facts["subject"] == "CN=Test CA" and len(facts["fingerprint_sha256"]) == 95
    assert facts["key_usage"] == ["keyCertSign", "crlSign"] and facts["extended_key_usage"] == []
    for moment in ("not_before", "not_after"):
        assert datetime.datetime.fromisoformat(facts[moment]).utcoffset() == datetime.timedelta(0)
    assert datetime.datetime.fromisoformat(facts["not_after"]) > datetime.datetime.now(datetime.timezone.utc)


# --- hygiene -------------------------------------------------------------------------------


from ansible_collections.certkeeper.pki.plugins.module_utils._ca import local  # noqa: E402
from ansible_collections.certkeeper.pki.plugins.module_utils._core.facts import certificate_facts  # noqa: E402
from ansible_collections.certkeeper.pki.plugins.module_utils._core.policy import server_validity_warning  # noqa: E402
from tests.support.weak_material import rsa_1024, self_signed_ca, sha1_ca  # noqa: E402


def issue_leaf(ca_key, ca_cert, public_key, profile, common_name, sans, days):
    """A leaf of ``profile`` signed by the CA, the way every certkeeper CA signs (_ca/local.sign)."""
    return local.sign(ca_key, ca_cert, public_key, crypto.common_name_subject(common_name), sans, profile, days)


def test_rsa_below_2048_is_neither_made_nor_trusted():
    with pytest.raises(CertError, match="key_size 1024 is not supported for rsa keys; use one of 2048"):
        KeySpec("rsa", 1024)
    assert crypto.weak_key_problem(rsa_1024()) == "is RSA-1024; RSA keys must have at least 2048 bits"
    key, cert = self_signed_ca(rsa_1024())
    with pytest.raises(CertError, match="ca_certificate is RSA-1024"):
        crypto.check_ca(cert, key, "ca_certificate")


def test_a_sha1_ca_certificate_is_refused():
    key_pem, cert_pem = sha1_ca()
    with pytest.raises(CertError, match="ca_cert_path x is signed with SHA1, which clients refuse; reissue it with SHA-256"):
        crypto.check_ca(crypto.load_certificate(cert_pem), crypto.load_private_key(key_pem), "ca_cert_path x")
    crypto.check_ca(self_signed_ca()[1], None, "a SHA-256 CA passes")


def test_a_ca_certificate_is_never_a_leaf_and_a_leaf_never_a_ca():
    ca_key, ca = self_signed_ca()
    assert crypto.leaf_problem(ca).startswith("it is a CA certificate (CA:TRUE)")
    with pytest.raises(CertError, match="is not a CA certificate"):
        crypto.check_ca(self_signed_ca(ca=False)[1], None, "ca_certificate")
    leaf = issue_leaf(ca_key, ca, KeySpec().generate().public_key(), "server", "db", [], 30)
    assert crypto.leaf_problem(leaf) is None and not crypto.is_ca_certificate(leaf)


def test_serials_are_random_and_longer_than_128_bits():
    key = KeySpec("ecdsa", 256).generate()
    ca = crypto.issue_ca_certificate(key, "CA", 30)
    serials = [issue_leaf(key, ca, key.public_key(), "client", "u", [], 30).serial_number
               for _attempt in range(8)] + [ca.serial_number]
    assert len(set(serials)) == len(serials)
    assert all(s > 0 for s in serials) and max(s.bit_length() for s in serials) > 128
    assert sum(s.bit_length() > 128 for s in serials) >= 7  # 159 random bits: almost always above 128


def test_server_validity_beyond_the_maximum_is_a_warning():
    assert server_validity_warning(365, 398) is None
    assert server_validity_warning(825, 398).startswith("valid_days is 825 days, beyond the 398 days")
    assert server_validity_warning(825, 0) is None
