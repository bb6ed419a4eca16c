"""The store as Prometheus metrics (`certkeeper report --prometheus FILE`): the moments of each tracked certificate and
CRL as Unix timestamps, statuses as labelled gauges, written atomically; promtool (Debian's prometheus) checks the
format. The stores are those of the crl_lab fixture (conftest.py): a CA host that serves, and a client."""

from __future__ import annotations

import datetime
import os
import re
import stat
import subprocess

import pytest

from ansible_collections.certkeeper.pki.plugins.module_utils._ca import revocation
from ansible_collections.certkeeper.pki.plugins.module_utils._core import crypto
from ansible_collections.certkeeper.pki.plugins.module_utils._core.crypto import CertError
from ansible_collections.certkeeper.pki.plugins.module_utils._host.cli import main
from ansible_collections.certkeeper.pki.plugins.module_utils._tracking.metrics import METRICS, prometheus_text
from ansible_collections.certkeeper.pki.plugins.module_utils._tracking.store import Store
from ansible_collections.certkeeper.pki.plugins.module_utils._tracking.verbs import listing, renew, report_prometheus
from tests.unit.test_crl_tracking import IN_WINDOW
from tests.unit.test_pg_mtls_revocation import read

NOW = datetime.datetime(2027, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc)


def samples(text: str) -> dict:
    """{series: value} of a metrics text, comments left out."""
    found = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            series, value = line.rsplit(" ", 1)
            found[series] = float(value)
    return found


def series_of(found: dict, name: str, **labels) -> float:
    """The value of the one series of ``name`` whose labels include ``labels``."""
    wanted = ['%s="%s"' % item for item in labels.items()]
    (value,) = [v for s, v in found.items() if s.startswith(name + "{") and all(w in s for w in wanted)]
    return value


def test_each_certificate_and_crl_gives_its_moments_and_status(crl_lab):
    store = Store(crl_lab["stores"]["db1"])
    renew(store, now=NOW)  # the timer's pass: the last check
    items = listing(store)
    found = samples(prometheus_text(items, store.last_check()))
    server = [i for i in items if i["kind"] == "certificate"][0]
    cert = crypto.load_certificate(read(server["cert_location"]))
    request = dict(id=server["request_id"])
    assert series_of(found, "certkeeper_certificate_not_after_timestamp_seconds", **request) == \
        cert.not_valid_after_utc.timestamp()
    assert series_of(found, "certkeeper_certificate_not_before_timestamp_seconds", **request) == \
        cert.not_valid_before_utc.timestamp()
    assert series_of(found, "certkeeper_certificate_renew_at_timestamp_seconds", **request) == \
        datetime.datetime.fromisoformat(server["renew_at"]).timestamp() < cert.not_valid_after_utc.timestamp()
    labelled = [s for s in found if s.startswith("certkeeper_certificate_not_after_timestamp_seconds{")][0]
    assert 'subject="CN=db1.example.com"' in labelled and 'ca="local"' in labelled
    assert 'serial="%s"' % server["certificate"]["serial_number"] in labelled
    assert series_of(found, "certkeeper_request_status", status="MONITORING", **request) == 1
    assert series_of(found, "certkeeper_request_status", status="NEED_CA", **request) == 0
    assert series_of(found, "certkeeper_request_stuck", **request) == 0
    crl = [i for i in items if i["kind"] == "crl" and i["crl_location"].startswith(str(crl_lab["tmp"] / "db1"))][0]
    assert series_of(found, "certkeeper_crl_next_update_timestamp_seconds", id=crl["request_id"]) == \
        revocation.load_crl(read(crl["crl_location"])).next_update_utc.timestamp()
    assert found["certkeeper_last_check_timestamp_seconds"] == NOW.timestamp()


def test_a_crl_due_on_a_host_without_the_ca_shows_need_ca(crl_lab):
    store = Store(crl_lab["stores"]["app1"])
    renew(store, now=IN_WINDOW)
    items = listing(store)
    found = samples(prometheus_text(items, store.last_check()))
    crl_id = [i for i in items if i["kind"] == "crl"][0]["request_id"]
    assert series_of(found, "certkeeper_crl_status", id=crl_id, status="NEED_CA") == 1
    assert series_of(found, "certkeeper_crl_status", id=crl_id, status="MONITORING") == 0


def test_label_values_are_escaped():
    item = dict(kind="certificate", request_id="a", status="MONITORING", stuck=False, ca="local",
                cert_location='/etc/"x"\\y\nz', renew_at="2027-01-01T00:00:00+00:00", last_renewed="",
                certificate=dict(subject="CN=a", issuer="CN=b", serial_number="01",
                                 not_after="2027-02-01T00:00:00+00:00", not_before="2026-02-01T00:00:00+00:00"))
    text = prometheus_text([item], "")
    assert "certkeeper_last_check_timestamp_seconds" not in text  # no timer pass yet: no moment to show
    assert 'path="/etc/\\"x\\"\\\\y\\nz"' in text


def test_the_textfile_is_written_atomically_readable_by_all_and_checked_by_promtool(crl_lab, tmp_path):
    (tmp_path / "textfiles").mkdir()
    path = tmp_path / "textfiles" / "certkeeper.prom"
    assert main(["--store", crl_lab["stores"]["db1"], "report", "--prometheus", str(path)]) == 0
    # no temp file left where node_exporter reads
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o644 and os.listdir(path.parent) == ["certkeeper.prom"]
    checked = subprocess.run(["promtool", "check", "metrics"], input=path.read_text(), capture_output=True, text=True,
                             check=False)
    assert checked.returncode == 0 and checked.stdout + checked.stderr == "", checked.stdout + checked.stderr


def test_renew_writes_the_textfile_even_when_a_renewal_fails(crl_lab, tmp_path):
    os.unlink(str(crl_lab["tmp"] / "app1" / "root.crt"))  # the CRL can no longer be checked: NEED_GUIDANCE
    path = tmp_path / "certkeeper.prom"
    assert main(["--store", crl_lab["stores"]["app1"], "renew", "--all", "--prometheus", str(path)]) == 1
    found = samples(path.read_text())
    assert [s for s, v in found.items() if s.startswith("certkeeper_crl_status{") and 'NEED_GUIDANCE' in s] and \
        all(v == 1 for s, v in found.items() if s.startswith("certkeeper_crl_status{") and "NEED_GUIDANCE" in s)


@pytest.mark.parametrize("path, message", [
    ("relative.prom", "--prometheus must be an absolute path"),
    ("/tmp/certkeeper.txt", "reads only files named \\*.prom"),
])
def test_a_textfile_path_it_cannot_use_is_refused(crl_lab, path, message):
    with pytest.raises(CertError, match=message):
        report_prometheus(Store(crl_lab["stores"]["db1"]), path)


def test_the_documented_alert_rules_are_valid_and_fire_when_they_should():
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    rules = os.path.join(root, "docs", "prometheus", "certkeeper-alerts.yml")
    checked = subprocess.run(["promtool", "check", "rules", rules], capture_output=True, text=True, check=False)
    assert checked.returncode == 0 and "SUCCESS: 4 rules found" in checked.stdout, checked.stdout + checked.stderr
    tested = subprocess.run(["promtool", "test", "rules", "certkeeper-alerts-test.yml"],
                            cwd=os.path.join(root, "tests", "prometheus"), capture_output=True, text=True, check=False)
    assert tested.returncode == 0 and "SUCCESS" in tested.stdout, tested.stdout + tested.stderr
    # each metric an alert uses is one certkeeper writes
    used = set(re.findall(r"certkeeper_[a-z_]+", open(rules).read()))
    assert used and used <= set(METRICS), used - set(METRICS)
