"""The fleet report's two halves without Ansible: what one host holds (_report/host.py: the store's records, their CA
certificates, certificate files under the paths; never a key) and the document, summary and gate the controller builds
from every host (_report/fleet.py, standard library only). Real certificates and stores (test_crl_tracking's crl_lab)."""

from __future__ import annotations

import datetime
import os
import subprocess
import sys

import pytest

from ansible_collections.certkeeper.pki.plugins.module_utils._core.crypto import CertError
from ansible_collections.certkeeper.pki.plugins.module_utils._report.fleet import fleet_document, gate_problems
from ansible_collections.certkeeper.pki.plugins.module_utils._report.host import host_report
from ansible_collections.certkeeper.pki.plugins.module_utils._tracking.store import Store
from ansible_collections.certkeeper.pki.plugins.module_utils._tracking.verbs import renew
from tests.support.certificates import certificate_file

NOW = datetime.datetime.now(datetime.timezone.utc)
DAY = datetime.timedelta(days=1)


def rows_by_name(report: dict) -> dict:
    return {os.path.basename(row["path"]): row for row in report["certificates"]}


def test_a_host_reports_its_tracked_certificates_their_ca_and_its_crl(crl_lab):
    report = host_report(crl_lab["stores"]["app1"], [])
    rows = rows_by_name(report)
    assert set(rows) == {"client.crt", "root.crt"}
    assert rows["client.crt"]["source"] == "tracked" and rows["client.crt"]["status"] == "MONITORING"
    assert rows["client.crt"]["renew_at"] < rows["client.crt"]["certificate"]["not_after"]
    assert rows["root.crt"]["source"] == "ca" and rows["root.crt"]["certificate"]["subject"] == (
        "CN=certkeeper.pki PostgreSQL CA")
    assert [crl["crl_location"] for crl in report["crls"]] == [str(crl_lab["tmp"] / "app1" / "root.crl")]
    assert report["last_check"] == ""  # the timer never went through this store
    checked = NOW.replace(microsecond=0)
    renew(Store(crl_lab["stores"]["app1"]), now=checked)
    assert host_report(crl_lab["stores"]["app1"], [])["last_check"] == checked.isoformat()
    document = fleet_document({"app1": host_report(crl_lab["stores"]["app1"], [])}, [], NOW)
    assert {row["last_check"] for row in document["certificates"] + document["crls"]} == {checked.isoformat()}


def test_files_under_a_path_a_bundle_a_der_file_junk_and_a_key(tmp_path):
    certs = tmp_path / "certs"
    (certs / "sub").mkdir(parents=True)
    certificate_file(str(certs / "a.pem"), "a.example", NOW - DAY, NOW + 30 * DAY)
    certificate_file(str(certs / "b.pem"), "b.example", NOW - DAY, NOW + 60 * DAY)
    (certs / "bundle.crt").write_bytes((certs / "a.pem").read_bytes() + (certs / "b.pem").read_bytes())
    subprocess.run(["openssl", "x509", "-in", str(certs / "a.pem"), "-outform", "DER", "-out", str(certs / "sub" / "a.der")],
                   check=True)
    (certs / "junk.cert").write_text("junk")
    (certs / "csr.pem").write_text("-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n")
    (certs / "notes.txt").write_text("ignored: not a certificate file name")
    (certs / "app.key").write_text("-----BEGIN PRIVATE KEY-----\nSECRET\n-----END PRIVATE KEY-----\n")
    os.symlink("/etc/passwd", certs / "link.crt")
    report = host_report(str(tmp_path / "no-store"), [str(certs)])
    names = [(os.path.relpath(row["path"], certs), (row["certificate"] or {}).get("subject"), row["error"][:26])
             for row in report["certificates"]]
    assert names == [
        ("a.pem", "CN=a.example", ""),
        ("b.pem", "CN=b.example", ""),
        ("bundle.crt", "CN=a.example", ""),
        ("bundle.crt", "CN=b.example", ""),
        ("csr.pem", None, "not a certificate (PEM or "),
        ("junk.cert", None, "not a certificate (PEM or "),
        ("sub/a.der", "CN=a.example", ""),
    ]
    assert "SECRET" not in repr(report) and report["crls"] == []
    # a key named directly is not opened either
    (row,) = host_report(str(tmp_path / "no-store"), [str(certs / "app.key")])["certificates"]
    assert row["error"] == "a key file: not read" and row["certificate"] is None


def test_a_relative_path_is_refused(tmp_path):
    with pytest.raises(CertError, match=r"paths\[1\] must be an absolute path"):
        host_report(str(tmp_path), [str(tmp_path), "etc/ssl"])


def _row(path, not_after, **extra):
    row = dict(source="file", path=path, certificate=dict(subject="CN=" + path, issuer="CN=ca", serial_number="1",
                                                          not_before=(NOW - 10 * DAY).isoformat(),
                                                          not_after=not_after.isoformat(), subject_alt_names=[]))
    row.update(extra)
    return row


def test_the_document_sorts_by_expiry_states_each_row_and_summarises():
    results = {
        "b": {"certificates": [_row("/late", NOW + 300 * DAY),
                               _row("/window", NOW + 20 * DAY, source="tracked", status="MONITORING",
                                    renew_at=(NOW - DAY).isoformat())],
              "crls": [dict(crl_location="/root.crl", request_id="crl-1", status="NEED_CA", stuck=False, ca="ansible",
                            issuer="CN=ca", next_update=(NOW + 2 * DAY).isoformat(), last_update=NOW.isoformat())]},
        "a": {"certificates": [_row("/gone", NOW - DAY), _row("/stuck", NOW + 100 * DAY, source="tracked",
                                                              status="NEED_GUIDANCE", stuck=True, last_error="key gone"),
                               dict(source="file", path="/junk", certificate=None, error="not a certificate")],
              "crls": []},
    }
    document = fleet_document(results, ["c"], NOW)
    assert [(r["host"], r["path"], r["state"]) for r in document["certificates"]] == [
        ("a", "/gone", "expired"), ("b", "/window", "renewal window"), ("a", "/stuck", "stuck"),
        ("b", "/late", "ok"), ("a", "/junk", "error")]
    summary = document["summary"]
    assert summary["states"] == {"expired": 1, "renewal window": 1, "stuck": 1, "ok": 1, "error": 1}
    assert summary["soonest"]["path"] == "/gone" and summary["soonest_crl"]["path"] == "/root.crl"
    assert document["unreachable"] == ["c"] and summary["unreachable"] == 1
    assert document["crls"][0]["state"] == "renewal window" and document["certificates"][3]["status"] == "UNTRACKED"
    assert gate_problems(document, 7) == [
        "a /gone expires %s (-1.0 days)" % (NOW - DAY).isoformat(),
        "a /stuck is stuck (NEED_GUIDANCE): key gone",
        "b /root.crl expires %s (2.0 days)" % (NOW + 2 * DAY).isoformat(),
    ]
    assert len(gate_problems(document, 30)) == 4 and gate_problems(document, 0)[0].startswith("a /gone")


def test_the_controller_side_needs_no_cryptography():
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    probe = ("import sys; import ansible_collections.certkeeper.pki.plugins.filter.cert_report_document, "
             "ansible_collections.certkeeper.pki.plugins.filter.cert_report_gate; "
             "print(sorted(m for m in sys.modules if m.startswith('cryptography')))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True,
                         env=dict(os.environ, PYTHONPATH=os.path.join(root, ".work", "collections")))
    assert out.stdout.strip() == "[]", out.stdout + out.stderr
