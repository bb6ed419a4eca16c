"""The fleet report as users run it: `certkeeper.pki.cert_report` over an inventory whose hosts track certificates
(the cert_track role) and list certificate files (cert_report_paths), then the page opened in a real browser
(Debian's chromium, headless, no network): the rendered DOM is read and a screenshot saved to
.work/artifacts/cert-report.png. A certificate name from a host is hostile markup, shown as text."""

from __future__ import annotations

import datetime
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

import pytest
import yaml
from tests.integration.conftest import ROOT, run_playbook
from tests.support.certificates import certificate_file

pytestmark = pytest.mark.integration
HOSTILE_CN = '</script><img src=x onerror="document.title=1">'
ARTIFACTS = os.path.join(ROOT, ".work", "artifacts")


@pytest.fixture(scope="module")
def fleet():
    base = tempfile.mkdtemp(prefix="certkeeper-report-")
    now = datetime.datetime.now(datetime.timezone.utc)
    files = {host: os.path.join(base, host + "-files") for host in ("h2", "h3")}
    for directory in files.values():
        os.makedirs(directory)
    certificate_file(os.path.join(files["h2"], "old.crt"), "old.example", now - datetime.timedelta(days=400),
                     now - datetime.timedelta(days=35))
    certificate_file(os.path.join(files["h2"], "hostile.pem"), HOSTILE_CN, now - datetime.timedelta(days=1),
                     now + datetime.timedelta(days=200))
    with open(os.path.join(files["h2"], "junk.crt"), "w") as handle:
        handle.write("not a certificate\n")
    with open(os.path.join(files["h2"], "app.key"), "w") as handle:  # never read
        handle.write("-----BEGIN PRIVATE KEY-----\nSECRET-KEY-MATERIAL\n-----END PRIVATE KEY-----\n")
    certificate_file(os.path.join(files["h3"], "fine.crt"), "fine.example", now - datetime.timedelta(days=1),
                     now + datetime.timedelta(days=300))
    common = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}
    hosts = {
        "h1": dict(common, cert_track_bin=os.path.join(base, "certkeeper"), cert_track_python=sys.executable,
                   cert_track_store=os.path.join(base, "store-h1"), cert_track_scheduler="systemd",
                   cert_track_systemd_dir=os.path.join(base, "units"), cert_track_systemd_start=False,
                   cert_track_requests=[
                       {"id": "web", "cert_path": os.path.join(base, "web.crt"),
                        "key_path": os.path.join(base, "web.key"), "subject": "CN=web.example",
                        "subject_alt_names": ["web.example"], "valid_days": 90},
                       {"id": "broken", "cert_path": os.path.join(base, "broken.crt"),
                        "key_path": os.path.join(base, "broken.key"), "subject": "CN=broken.example"}]),
        "h2": dict(common, cert_report_store=os.path.join(base, "store-h2"), cert_report_paths=[files["h2"]]),
        "h3": dict(common, cert_report_store=os.path.join(base, "store-h3"),
                   cert_report_paths=[os.path.join(files["h3"], "fine.crt")]),
    }
    # groups in any order, the CA-less hosts first
    inventory = {"all": {"children": {"files": {"hosts": {"h3": hosts["h3"], "h2": hosts["h2"]}},
                                      "tracked": {"hosts": {"h1": hosts["h1"]}}}}}
    os.makedirs(os.path.join(base, "units"))
    path = os.path.join(base, "inventory.yml")
    with open(path, "w") as handle:
        yaml.safe_dump(inventory, handle)
    tracked = run_playbook("certkeeper.pki.cert_track", path, "--limit", "h1", tmp_dir=base)
    assert tracked.returncode == 0, tracked.output
    os.unlink(os.path.join(base, "broken.key"))
    certkeeper = subprocess.run([os.path.join(base, "certkeeper"), "--store", os.path.join(base, "store-h1"), "renew",
                                 "--all"], capture_output=True, text=True, check=False)
    assert certkeeper.returncode == 1  # broken: NEED_GUIDANCE, stuck
    report_dir = os.path.join(base, "report")
    try:
        yield dict(base=base, inventory=path, report_dir=report_dir, now=now)
    finally:
        shutil.rmtree(base, ignore_errors=True)


def report(fleet, *args, report_dir=None):
    return run_playbook("certkeeper.pki.cert_report", fleet["inventory"], "-e",
                        "cert_report_dir=" + (report_dir or fleet["report_dir"]), *args, tmp_dir=fleet["base"])


@pytest.fixture(scope="module")
def written(fleet):
    run = report(fleet)
    assert run.returncode == 0, run.output
    with open(os.path.join(fleet["report_dir"], "certkeeper-report.json")) as handle:
        return run, json.load(handle)


def test_the_json_report_holds_every_certificate_of_every_host_sorted_by_expiry(fleet, written):
    run, document = written
    assert document["schema"] == "certkeeper-report/1" and document["hosts"] == ["h1", "h2", "h3"]
    rows = document["certificates"]
    assert rows[0]["path"].endswith("old.crt") and rows[0]["state"] == "expired" and rows[0]["days_left"] < -34
    dated = [row["not_after"] for row in rows if row["not_after"]]
    assert dated == sorted(dated)
    by_path = {os.path.basename(row["path"]): row for row in rows}
    assert by_path["web.crt"]["source"] == "tracked" and by_path["web.crt"]["status"] == "MONITORING"
    assert by_path["web.crt"]["state"] == "ok" and by_path["web.crt"]["renew_at"] < by_path["web.crt"]["not_after"]
    assert by_path["broken.crt"]["state"] == "error" or by_path["broken.crt"]["state"] == "stuck"
    assert by_path["broken.crt"]["stuck"] and by_path["broken.crt"]["status"] == "NEED_GUIDANCE"
    assert by_path["junk.crt"]["state"] == "error" and "not a certificate" in by_path["junk.crt"]["error"]
    assert by_path["fine.crt"]["host"] == "h3" and by_path["fine.crt"]["status"] == "UNTRACKED"
    assert "app.key" not in by_path
    text = open(os.path.join(fleet["report_dir"], "certkeeper-report.json")).read()
    assert "SECRET-KEY-MATERIAL" not in text and "PRIVATE KEY" not in text
    summary = document["summary"]
    assert summary["expired"] == 1 and summary["stuck"] == 1 and summary["soonest"]["path"].endswith("old.crt")
    assert summary["certificates"] == len(rows) == 6  # web, broken, old, hostile, junk, fine


def test_a_rerun_changes_nothing_and_publishes_the_summary_for_awx(fleet, written):
    rerun = run_playbook("certkeeper.pki.cert_report", fleet["inventory"], "-e", "cert_report_dir=" + fleet["report_dir"],
                         tmp_dir=fleet["base"], env={"ANSIBLE_SHOW_CUSTOM_STATS": "true"})
    assert rerun.returncode == 0 and rerun.changed == {}, rerun.output
    # one cert_report_info call per host; the controller's writes (directory, JSON, page) count on the play's first host
    assert {host: count for host, count in rerun.invocations.items() if host != "h2"} == {"h1": 1, "h3": 1}
    assert rerun.invocations["h2"] == 1 + 4, rerun.output  # and the directory, the JSON, the page, the summary
    stats = rerun.output[rerun.output.index("CUSTOM STATS"):]
    assert "certkeeper_report" in stats and '"expired": 1' in stats.replace("'", '"'), stats


def test_the_gate_fails_naming_what_expires_and_what_is_stuck_after_writing_the_report(fleet, written):
    gated_dir = os.path.join(fleet["base"], "gated")
    gated = report(fleet, "-e", "cert_report_fail_within_days=14", report_dir=gated_dir)
    assert gated.returncode != 0
    failed = [line for line in gated.output.splitlines() if "cert_report_fail_within_days is 14" in line]
    assert failed and "old.crt expires" in failed[0] and "broken.crt is stuck (NEED_GUIDANCE)" in failed[0], gated.output
    assert "web.crt" not in failed[0] and "fine.crt" not in failed[0]
    assert os.path.exists(os.path.join(gated_dir, "certkeeper-report.html"))
    passed = report(fleet, "--limit", "h3", "-e", "cert_report_fail_within_days=14", report_dir=gated_dir)
    assert passed.returncode == 0, passed.output


def test_bad_input_is_named(fleet, tmp_path):
    inventory = yaml.safe_load(open(fleet["inventory"]))
    inventory["all"]["children"]["files"]["hosts"]["h3"]["cert_report_paths"] = ["relative/dir"]
    bad = tmp_path / "bad.yml"
    bad.write_text(yaml.safe_dump(inventory))
    run = run_playbook("certkeeper.pki.cert_report", str(bad), "-e", "cert_report_dir=%s" % (tmp_path / "r"),
                       tmp_dir=str(tmp_path))
    assert run.returncode != 0 and "cert_report_paths of h3 must be absolute paths: 'relative/dir'" in run.output
    blocked = tmp_path / "a-file"
    blocked.write_text("")
    run = report(fleet, report_dir=str(blocked / "report"))
    assert run.returncode != 0 and str(blocked / "report") in run.output


def test_chromium_renders_the_page_with_the_soonest_expiry_first_and_hostile_names_as_text(fleet, written):
    page = os.path.join(fleet["report_dir"], "certkeeper-report.html")
    html = open(page).read()
    assert "http://" not in html.replace('"http://www.w3.org/2000/svg"', "") and "https://" not in html  # no network
    chromium = ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                "--proxy-server=127.0.0.1:9", "--user-data-dir=" + os.path.join(fleet["base"], "chromium")]
    dom = subprocess.run(chromium + ["--virtual-time-budget=3000", "--dump-dom", "file://" + page],
                         capture_output=True, text=True, timeout=120, check=False)
    assert dom.returncode == 0 and 'data-rendered="yes"' in dom.stdout, dom.stderr[-2000:]
    assert re.search(r'id="count-expired" data-count="1"', dom.stdout)
    assert re.search(r'id="count-stuck" data-count="1"', dom.stdout)
    rows = re.findall(r'<tr class="state-([a-z]+)" data-state="([^"]+)" data-host="([^"]+)">(.*?)</tr>', dom.stdout)
    assert len(rows) == 6
    assert rows[0][:3] == ("expired", "expired", "h2") and "old.crt" in rows[0][3]
    assert any(row[1] == "stuck" for row in rows)
    # the hostile CN is text in a cell, not an element; the page's title is untouched
    assert "&lt;img src=x onerror=" in dom.stdout and "<img" not in dom.stdout  # (RFC 4514 escapes it with \\)
    assert "<title>certkeeper report" in dom.stdout
    os.makedirs(ARTIFACTS, exist_ok=True)
    shot = os.path.join(ARTIFACTS, "cert-report.png")
    taken = subprocess.run(chromium + ["--virtual-time-budget=3000", "--window-size=1400,1000",
                                       "--screenshot=" + shot, "file://" + page],
                           capture_output=True, text=True, timeout=120, check=False)
    assert taken.returncode == 0 and os.path.getsize(shot) > 10000, taken.stderr[-2000:]


def synthetic_results(hosts: int, per_host: int, now) -> dict:
    """What cert_report_info returns on ``hosts`` hosts holding ``per_host`` certificates each (as a pg_mtls client
    with its chain and CRL would), expiries spread over a year."""
    results = {}
    for h in range(hosts):
        host, rows = "host%03d.example.com" % h, []
        for c in range(per_host):
            not_after = now + datetime.timedelta(days=(h * 7 + c * 61) % 400 - 20, hours=c)
            rows.append(dict(
                source="tracked" if c else "ca", path="/etc/certkeeper/postgresql/cert%d.crt" % c,
                id="pg_mtls-client-etc-certkeeper-postgresql-cert%d.crt-%08x" % (c, h * 31 + c),
                status="MONITORING", stuck=False, ca="ansible", renew_at=(not_after - datetime.timedelta(days=30)).isoformat(),
                last_renewed="", last_error="", outputs=["/etc/certkeeper/postgresql/client.pk8"], error="",
                certificate=dict(subject="CN=app%d-%s" % (c, host), issuer="CN=certkeeper.pki PostgreSQL CA",
                                 serial_number="%032x" % (h * 1000 + c), not_before=(now - datetime.timedelta(days=300)).isoformat(),
                                 not_after=not_after.isoformat(), subject_alt_names=["DNS:" + host],
                                 key_usage=["digitalSignature"], extended_key_usage=["clientAuth"],
                                 fingerprint_sha256="ab" * 32)))
        results[host] = {"certificates": rows, "crls": [dict(
            crl_location="/etc/certkeeper/postgresql/root.crl", request_id="crl-%d" % h, status="MONITORING", stuck=False,
            ca="ansible", issuer="CN=certkeeper.pki PostgreSQL CA", crl_number=4, revoked=1,
            last_update=now.isoformat(), next_update=(now + datetime.timedelta(days=25)).isoformat(), last_error="")]}
    return results


def test_the_page_of_200_hosts_with_6_certificates_each_stays_under_1_mb_and_renders(tmp_path):
    from ansible_collections.certkeeper.pki.plugins.module_utils._report.fleet import fleet_document

    now = datetime.datetime.now(datetime.timezone.utc)
    document = fleet_document(synthetic_results(200, 6, now), [], now)
    (tmp_path / "report.json").write_text(json.dumps({"__cert_report": document}))
    page = tmp_path / "certkeeper-report.html"
    playbook = tmp_path / "render.yml"
    playbook.write_text(yaml.safe_dump([{"hosts": "localhost", "gather_facts": False, "tasks": [{
        "ansible.builtin.template": {"src": os.path.join(ROOT, "roles", "cert_report", "templates",
                                                         "certkeeper-report.html.j2"), "dest": str(page)}}]}]))
    inventory = tmp_path / "inventory.yml"
    inventory.write_text(yaml.safe_dump({"all": {"hosts": {"localhost": {
        "ansible_connection": "local", "ansible_python_interpreter": sys.executable}}}}))
    run = run_playbook(str(playbook), str(inventory), "-e", "@" + str(tmp_path / "report.json"), tmp_dir=str(tmp_path))
    assert run.returncode == 0, run.output
    size = page.stat().st_size
    assert size < 1_000_000, size
    dom = subprocess.run(["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                          "--proxy-server=127.0.0.1:9", "--user-data-dir=" + str(tmp_path / "chromium"),
                          "--virtual-time-budget=5000", "--dump-dom", "file://" + str(page)],
                         capture_output=True, text=True, timeout=180, check=False)
    assert 'data-rendered="yes"' in dom.stdout, dom.stderr[-2000:]
    rows = re.findall(r'<tr class="state-[a-z]+" data-state="([^"]+)" data-host="([^"]+)">', dom.stdout)
    assert len(rows) == 1200 and rows[0][0] == "expired"
    print("page of 200 hosts x 6 certificates: %d bytes" % size)
