"""Prometheus through node_exporter's textfile collector, as users run it: the cert_track role with
cert_track_prometheus_textfile_dir, the renewal command exactly as its systemd unit runs it, and Debian's
prometheus-node-exporter started on a loopback port with only the textfile collector on that directory; the test
scrapes /metrics over HTTP, and promtool (Debian's prometheus) checks what node_exporter serves."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request

import pytest
import yaml
from cryptography import x509

from tests.integration.conftest import run_playbook
from tests.support.throwaway_pg import free_port

pytestmark = pytest.mark.integration
NODE_EXPORTER = "/usr/bin/prometheus-node-exporter"


@pytest.fixture(scope="module")
def metrics_lab():
    base = tempfile.mkdtemp(prefix="certkeeper-metrics-")
    textfiles = os.path.join(base, "node-exporter")  # created by the role
    inventory = {"all": {"hosts": {"h1": {
        "ansible_connection": "local", "ansible_python_interpreter": sys.executable,
        "cert_track_bin": os.path.join(base, "certkeeper"), "cert_track_python": sys.executable,
        "cert_track_store": os.path.join(base, "store"), "cert_track_scheduler": "systemd",
        "cert_track_systemd_dir": os.path.join(base, "units"), "cert_track_systemd_start": False,
        "cert_track_prometheus_textfile_dir": textfiles,
        "cert_track_requests": [
            {"id": "web", "cert_path": os.path.join(base, "web.crt"), "key_path": os.path.join(base, "web.key"),
             "subject": "CN=web.example", "subject_alt_names": ["web.example"], "valid_days": 90},
            {"id": "broken", "cert_path": os.path.join(base, "broken.crt"),
             "key_path": os.path.join(base, "broken.key"), "subject": "CN=broken.example"}]}}}}
    os.makedirs(os.path.join(base, "units"))
    path = os.path.join(base, "inventory.yml")
    with open(path, "w") as handle:
        yaml.safe_dump(inventory, handle)
    run = run_playbook("certkeeper.pki.cert_track", path, tmp_dir=base)
    assert run.returncode == 0, run.output
    try:
        yield {"base": base, "textfiles": textfiles, "inventory": path}
    finally:
        shutil.rmtree(base, ignore_errors=True)


def exec_start(base: str) -> list:
    """The renewal command as certkeeper-renew.service runs it."""
    unit = open(os.path.join(base, "units", "certkeeper-renew.service")).read()
    (line,) = [line for line in unit.splitlines() if line.startswith("ExecStart=")]
    return shlex.split(line.split("=", 1)[1])


@pytest.fixture
def node_exporter(metrics_lab):
    port = free_port()
    process = subprocess.Popen([NODE_EXPORTER, "--web.listen-address=127.0.0.1:%d" % port,
                                "--collector.disable-defaults", "--collector.textfile",
                                "--collector.textfile.directory=" + metrics_lab["textfiles"]],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = "http://127.0.0.1:%d/metrics" % port
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                with urllib.request.urlopen(url, timeout=5) as response:
                    response.read()
                break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise
                time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=20)


def scrape(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.read().decode("utf-8")


def value(text: str, name: str, **labels) -> float:
    wanted = ['%s="%s"' % item for item in labels.items()]
    (found,) = [line.rsplit(" ", 1)[1] for line in text.splitlines()
                if line.startswith(name + "{") and all(w in line for w in wanted)]
    return float(found)


def test_the_unit_runs_the_renewal_then_writes_the_textfile(metrics_lab):
    command = exec_start(metrics_lab["base"])
    assert command[-2:] == ["--prometheus", os.path.join(metrics_lab["textfiles"], "certkeeper.prom")], command
    assert oct(os.stat(metrics_lab["textfiles"]).st_mode & 0o777) == "0o755"
    unit = os.path.join(metrics_lab["base"], "units", "certkeeper-renew.service")
    verify = subprocess.run(["systemd-analyze", "verify", unit], capture_output=True, text=True, check=False)
    assert verify.returncode == 0 and verify.stderr == "", verify.stderr


def test_node_exporter_serves_each_certificate_with_its_values(metrics_lab, node_exporter):
    base = metrics_lab["base"]
    os.unlink(os.path.join(base, "broken.key"))  # a tracked key gone: this request needs a person
    ran = subprocess.run(exec_start(base), capture_output=True, text=True, check=False)
    assert ran.returncode == 1, ran.stdout + ran.stderr  # one failure, and the metrics are written all the same
    text = scrape(node_exporter)
    web = x509.load_pem_x509_certificate(open(os.path.join(base, "web.crt"), "rb").read())
    assert value(text, "certkeeper_certificate_not_after_timestamp_seconds", id="web") == \
        web.not_valid_after_utc.timestamp()
    renew_at = value(text, "certkeeper_certificate_renew_at_timestamp_seconds", id="web")
    assert web.not_valid_before_utc.timestamp() < renew_at < web.not_valid_after_utc.timestamp()
    assert value(text, "certkeeper_request_status", id="web", status="MONITORING") == 1
    assert value(text, "certkeeper_request_stuck", id="web") == 0
    assert value(text, "certkeeper_request_status", id="broken", status="NEED_GUIDANCE") == 1
    assert value(text, "certkeeper_request_stuck", id="broken") == 1
    assert time.time() - float([line.rsplit(" ", 1)[1] for line in text.splitlines()
                                if line.startswith("certkeeper_last_check_timestamp_seconds ")][0]) < 120
    assert 'node_textfile_scrape_error 0' in text  # node_exporter read the file without complaint
    checked = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, text=True,
                             check=False)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "certkeeper_" not in checked.stdout + checked.stderr, checked.stdout + checked.stderr


def test_a_relative_textfile_directory_fails_before_anything_is_installed(metrics_lab, tmp_path):
    inventory = yaml.safe_load(open(metrics_lab["inventory"]))
    host = inventory["all"]["hosts"]["h1"]
    host.update(cert_track_prometheus_textfile_dir="node-exporter", cert_track_bin=str(tmp_path / "bin" / "certkeeper"))
    path = tmp_path / "bad.yml"
    path.write_text(yaml.safe_dump(inventory))
    run = run_playbook("certkeeper.pki.cert_track", str(path), tmp_dir=str(tmp_path))
    assert run.returncode != 0 and "cert_track_prometheus_textfile_dir (node-exporter" in run.output, run.output
    assert not (tmp_path / "bin").exists()
