"""Moving a host from certmonger to certkeeper without re-issuing anything, against Debian's certmonger: its daemon
started here in private-socket mode (no D-Bus) with every directory in the test's own, requests made with getcert
from its local CA, from an external helper and self-signed, with pre/post-save commands; then the cert_track role
with cert_track_adopt_certmonger, as users run it (check mode first). Hand-written request files give the other
outcomes: an NSS database, an unknown CA, a SCEP CA (its certificates a person compares first: add-scep-ca)."""

from __future__ import annotations

import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import pytest
import yaml

from tests.integration.conftest import run_playbook

pytestmark = pytest.mark.integration
LOCAL_SUBMIT = "/usr/lib/certmonger/local-submit"


def faked(days: int) -> dict:
    library = glob.glob("/usr/lib/*/faketime/libfaketime.so.1")[0]
    return {"LD_PRELOAD": library, "FAKETIME": "+%dd" % days}


@pytest.fixture(scope="module")
def certmonger():
    base = tempfile.mkdtemp(prefix="certkeeper-certmonger-")
    cm = os.path.join(base, "certmonger")
    for name in ("requests", "cas", "local", "tmp"):
        os.makedirs(os.path.join(cm, name))
    out = os.path.join(base, "out")
    os.makedirs(out)
    env = dict(os.environ, CERTMONGER_REQUESTS_DIR=os.path.join(cm, "requests"), CERTMONGER_CAS_DIR=os.path.join(cm, "cas"),
               CERTMONGER_LOCAL_CA_DIR=os.path.join(cm, "local"), CERTMONGER_TMPDIR=os.path.join(cm, "tmp"),
               CERTMONGER_SYSTEM_LOCK_FILE=os.path.join(cm, "lock"), CERTMONGER_CONFIG_DIR=cm,
               CERTMONGER_PVT_ADDRESS="unix:path=" + os.path.join(cm, "socket"))
    log = open(os.path.join(base, "certmonger.log"), "w")
    daemon = subprocess.Popen(["certmonger", "-S", "-n", "-L", "-P", os.path.join(cm, "socket")], env=env,
                              stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)

    def getcert(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(["getcert", *args], env=env, capture_output=True, text=True, timeout=60, check=False)

    try:
        deadline = time.monotonic() + 30
        while getcert("list-cas").returncode != 0:
            assert time.monotonic() < deadline and daemon.poll() is None, open(log.name).read()
            time.sleep(0.3)
        helper = os.path.join(base, "company-submit")
        with open(helper, "w") as handle:
            handle.write("#!/bin/sh\nexec %s \"$@\"\n" % LOCAL_SUBMIT)
        os.chmod(helper, 0o755)
        made = [getcert("add-ca", "-c", "company", "-e", helper),
                getcert("add-scep-ca", "-c", "corp-scep", "-u", "http://127.0.0.1:9/scep"),
                getcert("request", "-c", "local", "-I", "app", "-f", out + "/app.crt", "-k", out + "/app.key",
                        "-N", "CN=app.example.test", "-D", "app.example.test", "-A", "127.0.0.11", "-U", "id-kp-serverAuth",
                        "-B", "touch %s/pre.ran" % out, "-C", "touch %s/post.ran" % out, "-w"),
                getcert("request", "-c", "company", "-I", "web", "-f", out + "/web.crt", "-k", out + "/web.key",
                        "-N", "CN=web-client", "-U", "id-kp-clientAuth", "-w"),
                getcert("request", "-c", "SelfSign", "-I", "self", "-f", out + "/self.crt", "-k", out + "/self.key",
                        "-N", "CN=self.example.test", "-D", "self.example.test", "-w")]
        for result in made:
            assert result.returncode == 0, result.stdout + result.stderr
        requests = os.path.join(cm, "requests")
        files = "key_storage_type=FILE\nkey_storage_location=%s/app.key\ncert_storage_type=FILE\ncert_storage_location=%s/app.crt\n" % (out, out)
        hand_written = {
            "nssreq": "id=nssreq\nkey_storage_type=NSSDB\nkey_storage_location=/etc/pki/nssdb\nkey_nickname=Server-Cert\n"
                      "cert_storage_type=NSSDB\ncert_storage_location=/etc/pki/nssdb\nca_name=local\n",
            "orphan": "id=orphan\n" + files + "ca_name=gone\ntemplate_subject=CN=orphan\n",
            "scepreq": "id=scepreq\n" + files + "ca_name=corp-scep\ntemplate_subject=CN=scep\n",
        }
        for name, text in hand_written.items():
            with open(os.path.join(requests, "29990101000000-" + name), "w") as handle:
                handle.write(text)
        yield dict(base=base, cm=cm, out=out, env=env, getcert=getcert)
    finally:
        daemon.terminate()
        daemon.wait(timeout=30)
        log.close()
        shutil.rmtree(base, ignore_errors=True)


def tracked_by_certmonger(certmonger) -> list:
    listed = certmonger["getcert"]("list")
    return [line.split("'")[1] for line in listed.stdout.splitlines() if line.startswith("Request ID")]


def snapshot(directory: str) -> dict:
    return {name: open(os.path.join(directory, name), "rb").read() for name in sorted(os.listdir(directory))}


def inventory(certmonger, **extra) -> str:
    base = certmonger["base"]
    host = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable,
            "cert_track_bin": os.path.join(base, "certkeeper"), "cert_track_python": sys.executable,
            "cert_track_store": os.path.join(base, "store"), "cert_track_scheduler": "systemd",
            "cert_track_systemd_dir": os.path.join(base, "units"), "cert_track_systemd_start": False,
            "cert_track_adopt_certmonger": True, "cert_track_certmonger_dir": certmonger["cm"]}
    host.update(extra)
    os.makedirs(os.path.join(base, "units"), exist_ok=True)
    path = os.path.join(base, "inventory.yml")
    with open(path, "w") as handle:
        yaml.safe_dump({"all": {"hosts": {"h1": host}}}, handle)
    return path


def certkeeper(certmonger, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([os.path.join(certmonger["base"], "certkeeper"), "--store",
                           os.path.join(certmonger["base"], "store"), *args],
                          env=dict(certmonger["env"], **(env or {})), capture_output=True, text=True, check=False)


@pytest.fixture(scope="module")
def adopted(certmonger):
    assert tracked_by_certmonger(certmonger) == ["app", "web", "self"]
    files_before = snapshot(certmonger["out"])
    installed = run_playbook("certkeeper.pki.cert_track", inventory(certmonger, cert_track_adopt_certmonger=False),
                             tmp_dir=certmonger["base"], env=certmonger["env"])
    assert installed.returncode == 0, installed.output
    path = inventory(certmonger)
    # check mode: the mapping (certkeeper adopt-certmonger --dry-run), nothing changed
    check = run_playbook("certkeeper.pki.cert_track", path, "--check", "-v", tmp_dir=certmonger["base"],
                         env=certmonger["env"])
    assert check.returncode == 0 and check.changed == {}, check.output
    records = os.path.join(certmonger["base"], "store", "requests")
    store_after_check = sorted(os.listdir(records)) if os.path.isdir(records) else []
    tracked_after_check = tracked_by_certmonger(certmonger)
    dry_run = certkeeper(certmonger, "adopt-certmonger", "--dry-run", "--json", "--requests-dir",
                         os.path.join(certmonger["cm"], "requests"), "--cas-dir", os.path.join(certmonger["cm"], "cas"))
    assert dry_run.returncode == 0, dry_run.stdout + dry_run.stderr
    first = run_playbook("certkeeper.pki.cert_track", path, "-v", tmp_dir=certmonger["base"], env=certmonger["env"])
    assert first.returncode == 0, first.output
    return dict(check=check, first=first, files_before=files_before, path=path, store_after_check=store_after_check,
                tracked_after_check=tracked_after_check, dry_run=json.loads(dry_run.stdout))


def test_check_mode_shows_the_mapping_and_changes_nothing(certmonger, adopted):
    assert adopted["store_after_check"] == [] and adopted["tracked_after_check"] == ["app", "web", "self"]
    outcomes = {entry["id"]: entry["outcome"] for entry in adopted["dry_run"]}
    assert outcomes == {"app": "would adopt", "web": "would adopt", "self": "would adopt", "nssreq": "not adopted",
                        "orphan": "not adopted", "scepreq": "not adopted"}
    mapping = {entry["id"]: dict(entry["mapping"]) for entry in adopted["dry_run"]}
    assert mapping["app"]["CA"] == "helper %s (certmonger's local)" % LOCAL_SUBMIT
    assert mapping["self"]["CA"] == "self_sign (certmonger's SelfSign, INTERNAL:SELF)"
    assert mapping["web"]["profile"] == "client (template_eku 1.3.6.1.5.5.7.3.2)"
    # the role in check mode ran the same dry run and names what stays with certmonger
    assert "nssreq" in adopted["check"].output and "What was not adopted, and why" in adopted["check"].output


def test_the_requests_move_with_the_same_ids_and_files_and_certmonger_lets_go(certmonger, adopted):
    listed = json.loads(certkeeper(certmonger, "list", "--json").stdout)
    by_id = {item["request_id"]: item for item in listed}
    assert set(by_id) == {"app", "web", "self"}
    assert by_id["app"]["ca"] == "helper" and by_id["self"]["ca"] == "self_sign"
    assert by_id["app"]["dns"] == ["app.example.test"] and by_id["app"]["ip"] == ["127.0.0.11"]
    assert by_id["app"]["eku"] == ["id-kp-serverAuth"] and by_id["web"]["eku"] == ["id-kp-clientAuth"]
    assert by_id["app"]["post_save_command"] == "touch %s/post.ran" % certmonger["out"]
    assert by_id["app"]["status"] == "MONITORING"
    assert tracked_by_certmonger(certmonger) == []  # certmonger no longer tracks them
    assert snapshot(certmonger["out"]) == adopted["files_before"]  # nothing re-issued, byte for byte
    output = adopted["first"].output
    for request_id, reason in (("nssreq", "stored in an NSS database (key_storage_type=NSSDB, /etc/pki/nssdb)"),
                               ("orphan", "its CA 'gone' is not one of certmonger's CAs"),
                               ("scepreq", "not adopted: its CA 'corp-scep' is a SCEP CA")):
        assert request_id in output and reason in output, output
    assert "h1" in adopted["first"].changed


def test_a_rerun_changes_nothing(certmonger, adopted):
    rerun = run_playbook("certkeeper.pki.cert_track", adopted["path"], tmp_dir=certmonger["base"], env=certmonger["env"])
    assert rerun.returncode == 0 and rerun.changed == {}, rerun.output


def test_a_due_renewal_goes_through_certkeeper_with_the_certmonger_helper_and_runs_the_commands(certmonger, adopted):
    out = certmonger["out"]
    for name in ("pre.ran", "post.ran"):  # certmonger ran them when it issued
        if os.path.exists(os.path.join(out, name)):
            os.unlink(os.path.join(out, name))
    not_due = certkeeper(certmonger, "renew", "--all", "--json")
    assert {o["action"] for o in json.loads(not_due.stdout)} == {"not due"}, not_due.stdout
    before = snapshot(out)
    renewed = certkeeper(certmonger, "renew", "--all", "--json", env=faked(300))
    assert renewed.returncode == 0, renewed.stdout + renewed.stderr
    outcomes = {o["id"]: o["action"] for o in json.loads(renewed.stdout)}
    assert outcomes == {"app": "renewed", "web": "renewed", "self": "renewed"}, renewed.stdout
    after = snapshot(out)
    assert after["app.crt"] != before["app.crt"] and after["app.key"] == before["app.key"]  # certmonger keeps keys
    assert os.path.exists(os.path.join(out, "pre.ran")) and os.path.exists(os.path.join(out, "post.ran"))
    issuer = subprocess.run(["openssl", "x509", "-in", os.path.join(out, "app.crt"), "-noout", "-issuer"],
                            capture_output=True, text=True, check=True).stdout
    assert "Local Signing Authority" in issuer  # certmonger's local CA, through its own helper
