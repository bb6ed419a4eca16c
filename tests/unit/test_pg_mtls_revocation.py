"""Revocation through pg_mtls_certs: the CA's index and CRL (role=ca), and a leaf given the CRL (option crl).
Real files in a temp directory, real keys, certificates and CRLs; openssl reads what the CA wrote."""

from __future__ import annotations

import datetime
import json
import os
import stat
import subprocess

import pytest

from ansible_collections.certkeeper.pki.plugins.module_utils._ca import revocation
from ansible_collections.certkeeper.pki.plugins.module_utils._ca.revocation import CAIndex
from ansible_collections.certkeeper.pki.plugins.module_utils._core import crypto
from ansible_collections.certkeeper.pki.plugins.module_utils._core.crypto import CertError
from ansible_collections.certkeeper.pki.plugins.module_utils._core.stamp import recorded_result
from ansible_collections.certkeeper.pki.plugins.module_utils._pg_mtls import arguments
from ansible_collections.certkeeper.pki.plugins.module_utils._pg_mtls.run import run_pg_mtls_certs
from tests.support.pg_mtls_options import DEFAULTS
from tests.unit.test_pg_mtls import reasons, run, snapshot

NOW = datetime.datetime.now(datetime.timezone.utc)


def client_request(name: str, csr: str) -> dict:
    return dict(name=name, csr=csr, profile="client", common_name="user_" + name, subject_alt_names=[])


@pytest.fixture
def pki(tmp_path):
    """A CA (its own directory) and two clients app1 and app2 (CN user_app1, user_app2) holding their certificates."""
    ca = str(tmp_path / "ca")
    ca_certificate = run(role="ca", path=ca)["ca_certificate"]
    clients = {name: dict(role="client", path=str(tmp_path / name), common_name="user_" + name,
                          ca_certificate=ca_certificate) for name in ("app1", "app2")}
    csrs = {name: run(**options)["csr"] for name, options in clients.items()}
    signed = run(role="ca", path=ca, sign=[client_request(name, csr) for name, csr in csrs.items()])
    for name, options in clients.items():
        run(certificate=signed["certificates"][name], **options)
    return dict(ca=ca, clients=clients, ca_certificate=ca_certificate)


def serial_of(directory: str, name: str = "client.crt") -> str:
    with open(os.path.join(directory, name), "rb") as handle:
        return "%x" % crypto.load_certificate(handle.read()).serial_number


def index_of(ca: str) -> CAIndex:
    with open(os.path.join(ca, "index.json"), "rb") as handle:
        return CAIndex.parse(handle.read(), "index.json")


def read(path: str) -> bytes:
    with open(path, "rb") as handle:
        return handle.read()


def openssl_crl_text(ca: str) -> str:
    checked = subprocess.run(["openssl", "crl", "-in", os.path.join(ca, "root.crl"), "-CAfile",
                              os.path.join(ca, "root.crt"), "-noout", "-text"],
                             capture_output=True, text=True, check=True)
    assert "verify OK" in checked.stderr, checked.stderr
    return checked.stdout


def test_the_ca_keeps_a_root_only_index_and_a_public_crl_from_its_first_call(tmp_path):
    ca = str(tmp_path / "ca")
    result = run(role="ca", path=ca)
    assert reasons(result)["index.json"] == "missing: new CA index; CRL number 1 signed"
    assert reasons(result)["root.crl"] == "missing: sign CRL number 1"
    assert stat.S_IMODE(os.stat(os.path.join(ca, "index.json")).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(os.path.join(ca, "root.crl")).st_mode) == 0o644
    assert result["crl"] == read(os.path.join(ca, "root.crl")).decode() and result["revoked"] == []
    assert datetime.datetime.fromisoformat(result["crl_next_update"]) > NOW + datetime.timedelta(days=29)
    assert "No Revoked Certificates." in openssl_crl_text(ca)


def test_revoking_one_of_two_clients(pki):
    ca, app2 = pki["ca"], pki["clients"]["app2"]["path"]
    serial = serial_of(app2)
    result = run(role="ca", path=ca, revoke=[dict(name="app2", reason="keyCompromise")])
    assert result["revoked"] == [{"name": "app2", "serial": serial, "reason": "keyCompromise"}]
    assert reasons(result)["index.json"] == "revoke app2: serial %s (keyCompromise); CRL number 2 signed" % serial
    assert reasons(result)["root.crl"] == "lists [], the CA revoked [%s]: sign CRL number 2" % serial
    entries = {entry.name: entry for entry in index_of(ca).certificates}
    assert (entries["app2"].status, entries["app2"].reason, entries["app1"].status) == ("revoked", "keyCompromise",
                                                                                        "valid")
    text = openssl_crl_text(ca)
    assert "Serial Number: %s" % serial.upper().zfill(len(serial) + len(serial) % 2) in text
    assert "Key Compromise" in text and serial_of(pki["clients"]["app1"]["path"]).upper() not in text
    before = snapshot(ca)
    again = run(role="ca", path=ca, revoke=[dict(name="app2", reason="keyCompromise")])
    assert not again["changed"] and again["revoked"] == [] and again["crl"] == result["crl"]
    assert snapshot(ca) == before


def test_a_database_user_is_revoked_by_its_common_name(pki):
    result = run(role="ca", path=pki["ca"], revoke=[dict(name="user_app1", reason="unspecified")])
    assert [(r["name"], r["reason"]) for r in result["revoked"]] == [("app1", "unspecified")]


def test_a_certificate_issued_before_the_index_is_revoked_by_its_serial(pki):
    """A CA of version 0.1 kept no index: its first call of 0.2 starts one that knows nothing of app2's certificate."""
    os.unlink(os.path.join(pki["ca"], "index.json"))
    before = snapshot(pki["ca"])
    with pytest.raises(CertError, match=r"'app2' is no identity .* give its serial too: \{name: app2, serial: "):
        run(role="ca", path=pki["ca"], revoke=[dict(name="app2", reason="unspecified")])
    assert snapshot(pki["ca"]) == before
    app2_crt = os.path.join(pki["clients"]["app2"]["path"], "client.crt")
    printed = subprocess.run(["openssl", "x509", "-noout", "-serial", "-in", app2_crt],
                             capture_output=True, text=True, check=True).stdout.strip().split("=", 1)[1]
    assert printed.upper() == printed  # as users copy it
    result = run(role="ca", path=pki["ca"], revoke=[dict(name="app2", reason="cessationOfOperation", serial=printed)])
    serial = serial_of(pki["clients"]["app2"]["path"])
    assert result["revoked"] == [dict(name="app2", serial=serial, reason="cessationOfOperation")]
    assert "revoke app2: serial %s, issued before the CA kept an index (cessationOfOperation)" % serial in (
        reasons(result)["index.json"])
    crl = revocation.load_crl(read(os.path.join(pki["ca"], "root.crl")))
    assert revocation.listed_reason(crl, int(serial, 16)) == "cessationOfOperation"
    ca_not_after = crypto.load_certificate(read(os.path.join(pki["ca"], "root.crt"))).not_valid_after_utc
    (entry,) = [e for e in index_of(pki["ca"]).certificates if e.serial == serial]
    assert (entry.name, entry.status, entry.not_after) == ("app2", "revoked", ca_not_after.isoformat())
    assert not run(role="ca", path=pki["ca"], revoke=[dict(name="app2", reason="cessationOfOperation",
                                                           serial=printed)])["changed"]
    # the leaf finds itself in the CRL and asks for a new key and certificate, which the CA refuses while listed
    leaf = run(crl=result["crl"], **pki["clients"]["app2"])
    assert leaf["certificate_needed"] and leaf["certificate_reasons"] == ["revoked (cessationOfOperation) by the CA"]


def test_a_serial_the_index_holds_for_another_identity_is_refused(pki):
    app1 = serial_of(pki["clients"]["app1"]["path"])
    before = snapshot(pki["ca"])
    with pytest.raises(CertError, match=r"revoke\[app2\]\.serial: %s was issued to app1, not app2" % app1):
        run(role="ca", path=pki["ca"], revoke=[dict(name="app2", reason="unspecified", serial=app1)])
    assert snapshot(pki["ca"]) == before
    # and given for its own identity, a known serial revokes just that certificate
    result = run(role="ca", path=pki["ca"], revoke=[dict(name="app1", reason="superseded", serial=app1.upper())])
    assert [r["serial"] for r in result["revoked"]] == [app1]


def test_check_mode_reports_the_revocation_and_writes_nothing(pki):
    before = snapshot(pki["ca"])
    result = run(check_mode=True, role="ca", path=pki["ca"], revoke=[dict(name="app1", reason="superseded")])
    assert result["changed"] and set(reasons(result)) == {"index.json", "root.crl"}
    assert result["revoked"][0]["name"] == "app1"
    assert all("BEGIN" not in diff["before"] + diff["after"] for diff in result["diff"])
    assert "CRL number 2 of CN=certkeeper.pki PostgreSQL CA, 1 revoked" in result["diff"][1]["after"]
    assert snapshot(pki["ca"]) == before


@pytest.mark.parametrize("options, message", [
    (dict(revoke=[dict(name="app9", reason="unspecified")]),
     r"revoke: 'app9' is no identity the CA issued a certificate to \(an inventory host or a database user\)"),
    (dict(revoke=[dict(name="app1", reason="unspecified"), dict(name="app2", reason="stolen")]),
     r"revoke\[app2\]\.reason must be one of unspecified, keyCompromise, .* got 'stolen'"),
    (dict(revoke=[dict(name="certkeeper.pki PostgreSQL CA", reason="unspecified")]),
     r"revoke: 'certkeeper.pki PostgreSQL CA' is the CA itself"),
    (dict(rekey=[dict(name="certkeeper.pki PostgreSQL CA", token="t")]), r"rekey: .* is the CA itself"),
    (dict(revoke=[dict(name="app2", reason="unspecified", serial="12:zz")]),
     r"revoke\[app2\]\.serial must be a certificate's serial number in hex \(openssl x509 -noout -serial\), got '12:zz'"),
    (dict(revoke=[dict(name="app2", reason="unspecified", serial="0")]), r"revoke\[app2\]\.serial must be"),
])
def test_a_bad_revocation_fails_and_writes_nothing(pki, options, message):
    before = snapshot(pki["ca"])
    with pytest.raises(CertError, match=message):
        run(role="ca", path=pki["ca"], **options)
    assert snapshot(pki["ca"]) == before


CORRUPT_INDEXES = [b'{"certificates": [{"serial": 1}]', b"", b'{"certificates": [], "crl_number": 1, "rekeyed": {"app1": 5}}']


@pytest.mark.parametrize("damage", CORRUPT_INDEXES)
def test_a_corrupt_index_is_an_error_never_a_new_empty_one(pki, damage):
    with open(os.path.join(pki["ca"], "index.json"), "wb") as handle:
        handle.write(damage)
    before = snapshot(pki["ca"])
    with pytest.raises(CertError, match="index.json cannot be read .* It is not started anew"):
        run(role="ca", path=pki["ca"])
    assert snapshot(pki["ca"]) == before


def test_an_index_left_without_its_ca_key_is_not_taken_over_by_a_new_ca(pki):
    os.unlink(os.path.join(pki["ca"], "root.key"))
    os.unlink(os.path.join(pki["ca"], "root.crt"))
    with pytest.raises(CertError, match="index.json exists but its key .* is missing; .* move root.crt, index.json "
                                        "and root.crl away to start a new CA"):
        run(role="ca", path=pki["ca"])


def test_a_crl_entering_its_renewal_window_is_signed_anew_and_not_before(pki):
    ca = pki["ca"]
    key, cert = crypto.load_private_key(read(os.path.join(ca, "root.key"))), crypto.load_certificate(
        read(os.path.join(ca, "root.crt")))
    for age, resigned in ((19, False), (21, True)):  # 30 days: re-signed once less than 10 days are left
        crl = revocation.sign_crl(key, cert, [], index_of(ca).crl_number, NOW - datetime.timedelta(days=age))
        with open(os.path.join(ca, "root.crl"), "wb") as handle:
            handle.write(revocation.crl_pem(crl))
        result = run(role="ca", path=ca)
        assert result["changed"] == resigned
    assert reasons(result)["root.crl"].endswith("inside its renewal window: sign CRL number 2")
    assert datetime.datetime.fromisoformat(result["crl_next_update"]) > NOW + datetime.timedelta(days=29)


def test_a_foreign_or_corrupt_crl_in_the_ca_directory_is_replaced(pki, tmp_path):
    other = run(role="ca", path=str(tmp_path / "other-ca"))
    with open(os.path.join(pki["ca"], "root.crl"), "w") as handle:
        handle.write(other["crl"])
    assert reasons(run(role="ca", path=pki["ca"]))["root.crl"] == "not signed by the CA key: sign CRL number 2"
    with open(os.path.join(pki["ca"], "root.crl"), "wb") as handle:
        handle.write(b"garbage")
    assert reasons(run(role="ca", path=pki["ca"]))["root.crl"] == "corrupt (not a CRL): sign CRL number 3"


def test_rekey_revokes_once_per_token_and_does_not_block_signing(pki):
    ca, app1 = pki["ca"], pki["clients"]["app1"]
    first = run(role="ca", path=ca, rekey=[dict(name="app1", token="2027-03")])
    assert [(r["name"], r["reason"]) for r in first["revoked"]] == [("app1", "keyCompromise")]
    assert reasons(first)["index.json"].startswith("rekey app1 (token '2027-03'): serial ")
    assert index_of(ca).rekeyed == {"app1": "2027-03"}
    assert not run(role="ca", path=ca, rekey=[dict(name="app1", token="2027-03")])["changed"]
    leaf = run(crl=first["crl"], **app1)
    signed = run(role="ca", path=ca, rekey=[dict(name="app1", token="2027-03")],
                 sign=[client_request("app1", leaf["csr"])])
    assert signed["refused"] == {} and signed["revoked"] == []
    run(certificate=signed["certificates"]["app1"], crl=signed["crl"], **app1)
    again = run(role="ca", path=ca, rekey=[dict(name="app1", token="2027-04")])
    assert again["revoked"] == [{"name": "app1", "serial": serial_of(app1["path"]), "reason": "keyCompromise"}]


def test_rekey_of_a_host_without_a_certificate_yet_notes_the_token(pki):
    result = run(role="ca", path=pki["ca"], rekey=[dict(name="app3", token="t1")])
    assert result["revoked"] == []
    assert reasons(result)["index.json"] == "rekey app3 (token 't1'): no current certificate to revoke"


@pytest.mark.parametrize("rotate_key", [True, False])
def test_a_leaf_whose_certificate_the_crl_lists_gets_a_new_key_and_a_csr(pki, rotate_key):
    app2 = dict(pki["clients"]["app2"], rotate_key=rotate_key)
    old_key = read(os.path.join(app2["path"], "client.key"))
    revoked = run(role="ca", path=pki["ca"], revoke=[dict(name="app2", reason="keyCompromise")])
    # the host is taken off the revoke list (a new certificate for it is wanted), the CRL still lists the old one
    leaf = run(crl=revoked["crl"], **app2)
    assert leaf["certificate_needed"] and leaf["certificate_reasons"] == ["revoked (keyCompromise) by the CA"]
    assert reasons(leaf)["client.crt"] == "revoked (keyCompromise) by the CA: request a certificate from the CA"
    assert reasons(leaf)["root.crl"] == "missing"
    assert read(os.path.join(app2["path"], "root.crl")).decode() == revoked["crl"]
    pending = read(os.path.join(app2["path"], "client.key.pending"))
    assert pending != old_key
    csr = crypto.load_csr(leaf["csr"])
    assert crypto.same_public_key(csr.public_key(), crypto.load_private_key(pending))
    signed = run(role="ca", path=pki["ca"], sign=[client_request("app2", leaf["csr"])])
    installed = run(certificate=signed["certificates"]["app2"], crl=signed["crl"], **app2)
    assert not installed["certificate_needed"] and read(os.path.join(app2["path"], "client.key")) == pending
    assert not run(crl=signed["crl"], **app2)["changed"]


def test_a_leaf_keeps_root_crl_byte_for_byte_and_rewrites_it_only_when_it_differs(pki):
    app1 = pki["clients"]["app1"]
    crl = run(role="ca", path=pki["ca"])["crl"]
    assert reasons(run(crl=crl, **app1)) == {"root.crl": "missing"}
    before = snapshot(app1["path"])
    assert not run(crl=crl, **app1)["changed"]
    assert snapshot(app1["path"]) == before
    os.chmod(os.path.join(app1["path"], "root.crl"), 0o600)
    assert reasons(run(crl=crl, **app1)) == {"root.crl": "CRL: root:root 0600, should be root:root 0644"}
    newer = run(role="ca", path=pki["ca"], revoke=[dict(name="app2", reason="superseded")])["crl"]
    assert reasons(run(crl=newer, **app1)) == {"root.crl": "differs from the CA's current CRL"}


@pytest.mark.parametrize("which", ["foreign", "corrupt"])
def test_a_crl_the_ca_did_not_sign_is_refused_by_a_leaf(pki, tmp_path, which):
    crl = run(role="ca", path=str(tmp_path / "other-ca"))["crl"] if which == "foreign" else "-----BEGIN X509 CRL-----"
    app1 = pki["clients"]["app1"]
    before = snapshot(app1["path"])
    with pytest.raises(CertError, match=r"^crl is not a CRL of the CA in ca_certificate \(corrupt or foreign\); "
                                        r"nothing was changed$"):
        run(crl=crl, **app1)
    assert snapshot(app1["path"]) == before


def test_an_expired_crl_is_installed_with_a_warning(pki):
    ca = pki["ca"]
    key, cert = crypto.load_private_key(read(os.path.join(ca, "root.key"))), crypto.load_certificate(
        read(os.path.join(ca, "root.crt")))
    stale = revocation.crl_pem(revocation.sign_crl(key, cert, [], 1, NOW - datetime.timedelta(days=31))).decode()
    result = run(crl=stale, **pki["clients"]["app1"])
    assert any(w.startswith("crl expired on ") and "PostgreSQL refuses every certificate" in w
               for w in result["warnings"])


def test_sign_refuses_a_listed_identity_and_a_revoked_key_and_signs_the_others(pki, tmp_path):
    app1, app2 = pki["clients"]["app1"], pki["clients"]["app2"]
    run(role="ca", path=pki["ca"], revoke=[dict(name="app2", reason="unspecified")])
    run(role="ca", path=pki["ca"], rekey=[dict(name="app1", token="t")])
    csr1 = run(**dict(app1, rotate_key=False, renew_before=400, valid_days=500))["csr"]  # app1's revoked key
    csr2 = run(**dict(app2, renew_before=400, valid_days=500))["csr"]
    app3 = run(role="client", path=str(tmp_path / "app3"), common_name="user_app3",
               ca_certificate=pki["ca_certificate"])
    result = run(role="ca", path=pki["ca"], revoke=[dict(name="app2", reason="unspecified")],
                 sign=[client_request("app1", csr1), client_request("app2", csr2), client_request("app3", app3["csr"])])
    assert list(result["certificates"]) == ["app3"]
    assert result["refused"]["app2"] == "app2 is listed in revoke: no new certificate while it stays listed"
    assert result["refused"]["app1"].startswith("request 'app1': the CSR's key is that of certificate ")
    assert "revoked (keyCompromise); the CA does not certify it again: make a new key" in result["refused"]["app1"]
    assert [entry.name for entry in index_of(pki["ca"]).certificates] == ["app1", "app2", "app3"]


def test_the_ca_hosts_own_call_records_what_it_signs_and_keeps_the_crl(tmp_path):
    ca = str(tmp_path / "ca")
    server = dict(role="server", path=str(tmp_path / "srv"), ca_path=ca, common_name="db1.example.com")
    result = run(**server)
    assert {"index.json", "root.crl"} <= set(reasons(result))
    assert [(e.name, e.profile) for e in index_of(ca).certificates] == [("db1.example.com", "server")]
    revoked = run(role="ca", path=ca, rekey=[dict(name="db1.example.com", token="t")])
    assert len(revoked["revoked"]) == 1
    renewed = run(crl=revoked["crl"], **server)
    assert renewed["certificate_reasons"] == ["revoked (keyCompromise) by the CA"] and not renewed["certificate_needed"]
    assert reasons(renewed)["root.crl"] == "missing"
    assert [e.status for e in index_of(ca).certificates] == ["revoked", "valid"]
    assert not run(crl=revoked["crl"], **server)["changed"]


def test_the_ca_hosts_own_certificate_is_recorded_under_its_identity_where_rekey_finds_it(tmp_path):
    ca = str(tmp_path / "ca")
    server = dict(role="server", path=str(tmp_path / "srv"), ca_path=ca, common_name="db1.example.com", identity="db1")
    old = run(**server)["certificate"]["serial_number"]
    assert [(e.name, e.subject) for e in index_of(ca).certificates] == [("db1", "CN=db1.example.com")]
    rekeyed = run(role="ca", path=ca, rekey=[dict(name="db1", token="incident-7")])
    assert [(r["name"], r["reason"]) for r in rekeyed["revoked"]] == [("db1", "keyCompromise")]
    assert rekeyed["revoked"][0]["serial"] == old.replace(":", "").lower().lstrip("0")
    renewed = run(crl=rekeyed["crl"], **server)
    assert renewed["certificate_reasons"] == ["revoked (keyCompromise) by the CA"] and not renewed["certificate_needed"]
    with pytest.raises(CertError, match=r"identity applies with ca_path only"):
        run(role="client", path=str(tmp_path / "c"), common_name="app", identity="app1",
            ca_certificate=rekeyed["ca_certificate"])


@pytest.mark.parametrize("options, message", [
    (dict(role="client", common_name="app", revoke=[dict(name="x", reason="unspecified")]),
     "revoke applies to role=ca only"),
    (dict(role="client", common_name="app", rekey=[dict(name="x", token="t")]), "rekey applies to role=ca only"),
    (dict(role="ca", crl="-----BEGIN X509 CRL-----"), "crl does not apply to role=ca"),
    (dict(role="ca", crl_valid_days=0), "crl_valid_days must be a number of days between 1 and"),
])
def test_revocation_options_in_the_wrong_place_fail(tmp_path, options, message):
    with pytest.raises(CertError, match=message):
        run(path=str(tmp_path / "x"), **options)
    assert not os.path.exists(tmp_path / "x")


def test_the_argument_spec_offers_the_reasons_and_the_default_validity_of_the_ca():
    spec = arguments.ARGUMENT_SPEC
    assert spec["revoke"]["options"]["reason"]["choices"] == list(revocation.REASONS)
    assert spec["crl_valid_days"]["default"] == revocation.DEFAULT_CRL_VALID_DAYS == 30


def test_an_index_written_before_rekeys_existed_is_read(pki):
    path = os.path.join(pki["ca"], "index.json")
    data = json.loads(read(path))
    del data["rekeyed"]
    with open(path, "w") as handle:
        json.dump(data, handle)
    result = run(role="ca", path=pki["ca"], rekey=[dict(name="app1", token="t")])
    assert len(result["revoked"]) == 1 and index_of(pki["ca"]).rekeyed == {"app1": "t"}


def test_a_batch_leaves_the_answer_of_the_plain_ca_call_in_the_stamp(pki, tmp_path):
    """The batch writes the index the CA call's stamp covers: it records the plain call's answer, never its own."""
    options = dict(DEFAULTS, role="ca", path=pki["ca"])
    plain = run_pg_mtls_certs(options, check_mode=False)
    app3 = run(role="client", path=str(tmp_path / "app3"), common_name="user_app3",
               ca_certificate=pki["ca_certificate"])
    signed = run(role="ca", path=pki["ca"], sign=[client_request("app3", app3["csr"])])
    assert signed["certificates"] and signed["changed"]
    recorded = recorded_result(pki["ca"], options)
    assert recorded == dict(plain, changed=False, changes=[], diff=[], warnings=[], certificates={}, refused={})
    assert recorded_result(pki["ca"], dict(options, sign=[client_request("app3", app3["csr"])])) is None
