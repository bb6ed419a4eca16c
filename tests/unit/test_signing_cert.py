"""signing_cert without Ansible: real files, real keys, the PFX opened as consumers open it."""

from __future__ import annotations

import base64
import os
import stat

import pytest
from cryptography.x509.oid import NameOID

from ansible_collections.certkeeper.pki.plugins.module_utils._core import crypto
from ansible_collections.certkeeper.pki.plugins.module_utils._core.crypto import CertError, KeySpec
from ansible_collections.certkeeper.pki.plugins.module_utils._core.pkcs12 import load_pkcs12
from ansible_collections.certkeeper.pki.plugins.module_utils._signing_cert.run import (
    parse_subject,
    run_signing_cert,
    validate_friendly_name,
)

PASSWORD = "correct-horse-battery"
SEED = dict(state="present", path=None, friendly_name="YSoft SafeQ Signing Certificate", subject="YSoft SafeQ",
            subject_alt_names=["*.company.com", "1.2.3.4"], password=PASSWORD, allow_empty_password=False,
            profile="ssl", allow_no_san=False, valid_days=365, renew_before=30, key_type="rsa", key_size=None,
            ca_cert_path=None, ca_key_path=None, owner="root", group="root", mode="0600", public_formats=[],
            force=False, pfx_content=None)


def run(check_mode=False, **options):
    return run_signing_cert(dict(SEED, **options), check_mode=check_mode)


def pfx_path(directory):
    return os.path.join(directory, SEED["friendly_name"] + ".pfx")


def snapshot(directory):
    return {n: (open(os.path.join(directory, n), "rb").read(), os.stat(os.path.join(directory, n)).st_mode)
            for n in sorted(os.listdir(directory))} if os.path.isdir(directory) else {}


@pytest.fixture
def made(tmp_path):
    directory = str(tmp_path / "safeq")
    return directory, run(path=directory)


def test_the_seed_example(made):
    directory, result = made
    bundle = load_pkcs12(open(pfx_path(directory), "rb").read(), PASSWORD)
    cert = bundle.cert.certificate
    assert bundle.cert.friendly_name == b"YSoft SafeQ Signing Certificate"
    assert crypto.common_name_of(cert) == "YSoft SafeQ"
    assert result["subject_alt_names"] == ["DNS:*.company.com", "IP:1.2.3.4"]
    assert result["key_usage"] == ["digitalSignature", "keyEncipherment"]
    assert result["extended_key_usage"] == ["serverAuth", "clientAuth"]
    assert len(result["thumbprint_sha1"]) == 40 and result["thumbprint_sha1"].isupper()
    assert crypto.issued_by(cert, cert)  # self-signed by default
    assert stat.S_IMODE(os.stat(pfx_path(directory)).st_mode) == 0o600


def test_rerun_changes_nothing(made):
    directory, first = made
    before = snapshot(directory)
    again = run(path=directory)
    assert not again["changed"] and again["thumbprint_sha256"] == first["thumbprint_sha256"]
    assert snapshot(directory) == before


@pytest.mark.parametrize("change, reason", [
    (dict(subject="CN=YSoft SafeQ,O=YSoft,C=CZ"), "subject is CN=YSoft SafeQ, CN=YSoft SafeQ,O=YSoft,C=CZ requested"),
    (dict(subject_alt_names=["*.company.com"]), "SANs are [DNS:*.company.com, IP:1.2.3.4], [DNS:*.company.com] requested"),
    (dict(profile="signing"), "key usage is digitalSignature+keyEncipherment+serverAuth+clientAuth, not what the signing profile sets"),
    (dict(key_type="ecdsa"), "key is RSA-2048, ECDSA P-256 requested"),
    (dict(renew_before=380, valid_days=400), "within the renewal window of 380 days"),
    (dict(force=True), "force: true"),
])
def test_what_regenerates_and_why(made, change, reason):
    directory, first = made
    result = run(path=directory, **change)
    assert result["changed"] and reason in result["changes"][0]["reason"]
    assert result["thumbprint_sha256"] != first["thumbprint_sha256"]


def test_check_mode_reports_and_writes_nothing(made):
    directory, _unused = made
    before = snapshot(directory)
    result = run(check_mode=True, path=directory, subject="Other")
    assert result["changed"] and snapshot(directory) == before


def test_a_wrong_password_is_reported_never_overwritten(made):
    directory, _unused = made
    before = snapshot(directory)
    with pytest.raises(CertError, match="cannot be opened with the given password .* force: true to replace it"):
        run(path=directory, password="another-long-password")
    assert snapshot(directory) == before
    replaced = run(path=directory, password="another-long-password", force=True)
    assert replaced["changed"]
    load_pkcs12(open(pfx_path(directory), "rb").read(), "another-long-password")


def test_public_formats_follow_the_certificate(made):
    directory, result = made
    run(path=directory, public_formats=["cer", "crt"])
    der = open(os.path.join(directory, SEED["friendly_name"] + ".cer"), "rb").read()
    pem = open(os.path.join(directory, SEED["friendly_name"] + ".crt"), "rb").read()
    assert crypto.load_certificate(der) == crypto.load_certificate(pem)
    assert crypto.fingerprint_sha256(crypto.load_certificate(der)).replace(":", "") == result["thumbprint_sha256"]


def test_installing_the_group_pfx_and_drift(made, tmp_path):
    directory, source = made
    content = base64.b64encode(open(pfx_path(directory), "rb").read()).decode()
    target = str(tmp_path / "target")
    installed = run(path=target, subject=None, subject_alt_names=[], pfx_content=content)
    assert installed["changed"] and installed["thumbprint_sha256"] == source["thumbprint_sha256"]
    assert open(pfx_path(target), "rb").read() == open(pfx_path(directory), "rb").read()  # the same bytes
    assert not run(path=target, subject=None, pfx_content=content)["changed"]
    run(path=target, force=True)  # the target drifts to a certificate of its own
    drift = run(path=target, subject=None, pfx_content=content)
    assert drift["changes"][0]["reason"].endswith("drift from the group's certificate")
    assert drift["thumbprint_sha256"] == source["thumbprint_sha256"]


def test_issued_by_a_ca_on_the_host(tmp_path):
    ca_key = KeySpec().generate()
    ca_cert = crypto.issue_ca_certificate(ca_key, "Company CA", 3650)
    (tmp_path / "ca.key").write_bytes(crypto.pkcs8_pem(ca_key))
    (tmp_path / "ca.crt").write_bytes(crypto.certificate_pem(ca_cert))
    options = dict(path=str(tmp_path / "out"), profile="signing", subject_alt_names=[],
                   ca_cert_path=str(tmp_path / "ca.crt"), ca_key_path=str(tmp_path / "ca.key"))
    result = run(**options)
    bundle = load_pkcs12(open(pfx_path(options["path"]), "rb").read(), PASSWORD)
    assert crypto.issued_by(bundle.cert.certificate, ca_cert) and bundle.additional_certs[0].certificate == ca_cert
    assert result["key_usage"] == ["digitalSignature"] and result["extended_key_usage"] == []
    assert not run(**options)["changed"]
    other = crypto.issue_ca_certificate(KeySpec().generate(), "Other CA", 10)
    (tmp_path / "ca.crt").write_bytes(crypto.certificate_pem(other))
    with pytest.raises(CertError, match="ca_key_path .* does not belong to ca_cert_path"):
        run(**options)


def test_absent_removes_the_files(made):
    directory, _unused = made
    run(path=directory, public_formats=["cer"])
    result = run(path=directory, state="absent")
    assert {c["action"] for c in result["changes"]} == {"remove"} and os.listdir(directory) == []
    assert not run(path=directory, state="absent")["changed"]


@pytest.mark.parametrize("options, message", [
    (dict(friendly_name="../etc/passwd"), "cannot be a file name"),
    (dict(friendly_name=".."), "cannot be a file name"),
    (dict(friendly_name="a\tb"), "cannot be a file name"),
    (dict(friendly_name="C:evil"), "cannot be a file name"),
    (dict(friendly_name=" padded"), "must not start or end with a space or dot"),
    (dict(friendly_name=""), "friendly_name must be a non-empty string"),
    (dict(subject_alt_names=["1.2.3.999"]), "not a valid IP address, and digits alone are not a DNS name"),
    (dict(subject_alt_names=["IP:1.2.3.999"]), "not a valid IP address"),
    (dict(subject_alt_names=["www.*.company.com"]), "wildcard is allowed only as the whole left-most label"),
    (dict(subject_alt_names=[]), "an ssl certificate needs subject_alt_names"),
    (dict(password=""), "password is empty"),
    (dict(subject=None), "subject is required"),
    (dict(subject="O=NoCN"), "must contain exactly one CN="),
    (dict(subject="CN=a,,"), "is not a distinguished name"),
    (dict(mode="0644"), "mode 0644 gives the PFX"),
    (dict(owner="no-such-user-ck"), "owner: user 'no-such-user-ck' does not exist"),
    (dict(valid_days=0), "valid_days must be a number of days"),
    (dict(renew_before=365), "renew_before \\(365 days\\) must be shorter than valid_days"),
    (dict(key_size=1024), "key_size 1024 is not supported"),
    (dict(pfx_content="!!!", subject=None), "pfx_content must be the PFX file's bytes in base64"),
    (dict(pfx_content=base64.b64encode(b"junk").decode(), subject=None), "pfx_content cannot be opened"),
    (dict(ca_cert_path="/nonexistent.crt", ca_key_path="/nonexistent.key"), "cannot be read: missing"),
])
def test_bad_input_fails_clearly_and_changes_nothing(made, options, message):
    directory, _unused = made
    before = snapshot(directory)
    with pytest.raises(CertError, match=message):
        run(path=directory, **options)
    assert snapshot(directory) == before


def test_no_san_is_allowed_when_asked_and_signing_needs_none(tmp_path):
    assert run(path=str(tmp_path / "a"), subject_alt_names=[], allow_no_san=True)["subject_alt_names"] == []
    assert run(path=str(tmp_path / "b"), subject_alt_names=[], profile="signing")["changed"]


def test_weak_and_empty_passwords(tmp_path):
    assert any("weak" in w for w in run(path=str(tmp_path / "a"), password="123456")["warnings"])
    empty = run(path=str(tmp_path / "b"), password="", allow_empty_password=True)
    load_pkcs12(open(pfx_path(str(tmp_path / "b")), "rb").read(), "")
    assert empty["warnings"] == []


def test_subjects_and_friendly_names():
    assert parse_subject("sq.company.com").get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "sq.company.com"
    assert parse_subject("CN=sq,O=Company,C=CZ").rfc4514_string() == "CN=sq,O=Company,C=CZ"
    assert validate_friendly_name("YSoft SafeQ Signing Certificate") == "YSoft SafeQ Signing Certificate"
