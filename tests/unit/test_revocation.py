# -*- coding: utf-8 -*-
# Copyright (c) certkeeper.pki contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The CA's index of what it issued and the CRL signed from it (_ca/revocation.py)."""

from __future__ import annotations

import datetime
import json
import subprocess

import pytest
from cryptography import x509

from ansible_collections.certkeeper.pki.plugins.module_utils._ca import local, revocation
from ansible_collections.certkeeper.pki.plugins.module_utils._ca.revocation import CAIndex
from ansible_collections.certkeeper.pki.plugins.module_utils._core import crypto
from ansible_collections.certkeeper.pki.plugins.module_utils._core.crypto import CertError, KeySpec

NOW = datetime.datetime(2027, 3, 1, 12, 0, tzinfo=datetime.timezone.utc)


@pytest.fixture(scope="module", params=[KeySpec("rsa", 2048), KeySpec("ecdsa", 256)], ids=str)
def ca(request):
    key = request.param.generate()
    return key, crypto.issue_ca_certificate(key, "Test CA", 3650, now=NOW - datetime.timedelta(days=1))


def issue(ca, cn, now=NOW, days=365):
    key = KeySpec("ecdsa", 256).generate()
    return local.sign(ca[0], ca[1], key.public_key(), crypto.common_name_subject(cn), [], "client", days, now)


def indexed(ca, *names):
    index = CAIndex()
    certs = {}
    for name in names:
        certs[name] = issue(ca, "user_" + name)
        index.record(certs[name], name, "client")
    return index, certs


def test_the_index_round_trips_byte_for_byte_and_a_corrupt_one_is_an_error():
    index = CAIndex()
    index.record(issue(CA_RSA, "app"), "app1", "client")
    data = index.serialize()
    assert CAIndex.parse(data, "/ca/index.json").serialize() == data
    assert CAIndex.parse(None, "/ca/index.json").certificates == []  # no index yet: a CA made before indexes
    with pytest.raises(CertError, match="cannot be read .* not started anew"):
        CAIndex.parse(b'{"certificates": [{"serial": 1}]', "/ca/index.json")


def test_an_identity_is_an_inventory_host_or_a_common_name(ca):
    index, certs = indexed(ca, "app1", "app2")
    assert [e.name for e in index.current("app1", NOW)] == ["app1"]
    assert [e.name for e in index.current("user_app2", NOW)] == ["app2"]
    assert index.current("nobody", NOW) == []
    assert index.current("app1", NOW + datetime.timedelta(days=400)) == []  # expired: nothing to revoke


def test_the_crl_lists_what_was_revoked_with_its_reason_and_verifies_with_openssl(ca, tmp_path):
    index, certs = indexed(ca, "app1", "app2")
    index.revoke(index.current("app2", NOW), "keyCompromise", NOW)
    crl = revocation.sign_crl(ca[0], ca[1], index.revoked(NOW), 1, NOW)
    entry = crl.get_revoked_certificate_by_serial_number(certs["app2"].serial_number)
    assert entry is not None and crl.get_revoked_certificate_by_serial_number(certs["app1"].serial_number) is None
    assert entry.extensions.get_extension_for_class(x509.CRLReason).value.reason == x509.ReasonFlags.key_compromise
    assert crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number == 1
    assert crl.next_update_utc == NOW + datetime.timedelta(days=revocation.DEFAULT_CRL_VALID_DAYS)
    (tmp_path / "ca.pem").write_bytes(crypto.certificate_pem(ca[1]))
    (tmp_path / "root.crl").write_bytes(revocation.crl_pem(crl))
    checked = subprocess.run(["openssl", "crl", "-in", str(tmp_path / "root.crl"), "-CAfile", str(tmp_path / "ca.pem"),
                              "-noout"], capture_output=True, text=True, check=False)
    assert checked.returncode == 0 and "verify OK" in checked.stderr, checked.stderr
    assert revocation.crl_problem(crl, ca[1], index.revoked(NOW), NOW) is None


def test_a_crl_is_signed_anew_only_for_a_reason(ca):
    index, _certs = indexed(ca, "app1", "app2")
    crl = revocation.sign_crl(ca[0], ca[1], [], 1, NOW)
    assert revocation.crl_problem(crl, ca[1], [], NOW) is None
    # a third of 30 days left: inside the renewal window
    assert "renewal window" in revocation.crl_problem(crl, ca[1], [], NOW + datetime.timedelta(days=20, seconds=1))
    assert revocation.crl_problem(crl, ca[1], [], NOW + datetime.timedelta(days=19)) is None
    index.revoke(index.current("app1", NOW), "cessationOfOperation", NOW)
    assert "the CA revoked" in revocation.crl_problem(crl, ca[1], index.revoked(NOW), NOW)
    other_key = KeySpec().generate()
    other = crypto.issue_ca_certificate(other_key, "Test CA", 30, now=NOW)  # same name, another key
    forged = revocation.sign_crl(other_key, other, [], 1, NOW)
    assert revocation.crl_problem(forged, ca[1], [], NOW) == "not signed by the CA key"


def test_an_expired_revoked_certificate_leaves_the_crl():
    index = CAIndex()
    cert = issue(CA_RSA, "app", days=10)
    index.record(cert, "app1", "client")
    index.revoke(index.current("app1", NOW), "superseded", NOW)
    assert [e.serial for e in index.revoked(NOW)] == ["%x" % cert.serial_number]
    assert index.revoked(NOW + datetime.timedelta(days=11)) == []


def test_an_unknown_reason_is_refused():
    index = CAIndex()
    with pytest.raises(CertError, match="reason must be one of unspecified, keyCompromise"):
        index.revoke([], "compromised", NOW)


_key = KeySpec().generate()
CA_RSA = (_key, crypto.issue_ca_certificate(_key, "Test CA", 3650, now=NOW - datetime.timedelta(days=1)))


def test_an_index_of_an_earlier_version_is_read_and_a_revoked_key_is_known_again(ca):
    index, certs = indexed(ca, "app1")
    raw = json.loads(index.serialize())
    del raw["rekeyed"]
    del raw["certificates"][0]["key_sha256"]
    older = CAIndex.parse(json.dumps(raw).encode(), "/ca/index.json")
    assert older.rekeyed == {} and older.certificates[0].key_sha256 == ""
    index.revoke(index.current("app1", NOW), "keyCompromise", NOW)
    assert index.revoked_key(certs["app1"].public_key()).serial == "%x" % certs["app1"].serial_number
    assert older.revoked_key(certs["app1"].public_key()) is None  # revoked or not, no digest: not known


def test_a_crl_says_which_serials_it_lists_and_why(ca):
    index, certs = indexed(ca, "app1", "app2", "app3")
    index.revoke(index.current("app1", NOW), "superseded", NOW)
    index.revoke(index.current("app2", NOW), "unspecified", NOW)
    crl = revocation.sign_crl(ca[0], ca[1], index.revoked(NOW), 1, NOW)
    assert [revocation.listed_reason(crl, certs[name].serial_number) for name in ("app1", "app2", "app3")] == [
        "superseded", "unspecified", None]


def test_crls_per_ca_takes_only_a_crl_the_ca_key_signed(ca):
    crl = revocation.crl_pem(revocation.sign_crl(ca[0], ca[1], [], 1, NOW))
    assert revocation.crls_per_ca(crl, [ca[1]], "crl", "ca_certificate")[0] is not None
    with pytest.raises(CertError, match=r"^crl is not a CRL of the CA in ca_certificate \(corrupt or foreign\)$"):
        revocation.crls_per_ca(b"-----BEGIN X509 CRL-----\n", [ca[1]], "crl", "ca_certificate")
    other_key = KeySpec().generate()
    other = crypto.issue_ca_certificate(other_key, "Test CA", 30, now=NOW)  # same name, another key
    with pytest.raises(CertError, match="is not a CRL of the CA in"):
        revocation.crls_per_ca(crl, [other], "crl", "ca_certificate")
    with pytest.raises(CertError, match="crl holds no CRL of CN=Test CA .*PostgreSQL refuses its certificates"):
        revocation.crls_per_ca(crl, [ca[1], other], "crl", "ca_bundle")  # a trusted CA without its CRL
