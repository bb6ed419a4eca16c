"""The cert_track role with a SCEP CA (cert_track_cas) and a request through it, as an inventory states them:
check mode changes nothing, the run issues through the real server, a rerun changes nothing, the PIN never shows
(not even at -vvv), and a thumbprint that is not the server's stops the run before anything is trusted."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import yaml

from tests.integration.conftest import run_playbook
from tests.support.scep_server import ScepServer

pytestmark = pytest.mark.integration


def sha256_thumbprint(path: str) -> str:
    out = subprocess.run(["openssl", "x509", "-in", path, "-noout", "-fingerprint", "-sha256"], capture_output=True,
                         text=True, check=True).stdout
    return out.strip().split("=", 1)[1]  # AB:CD:... as openssl prints it: the role takes it as it is


@pytest.fixture(scope="module")
def scep_lab(tmp_path_factory):
    base = tmp_path_factory.mktemp("scep-role")
    with ScepServer(base / "server") as server:
        yield {"base": str(base), "server": server}


def inventory(lab, **overrides) -> str:
    base, server = lab["base"], lab["server"]
    host = {
        "ansible_connection": "local", "ansible_python_interpreter": sys.executable,
        "cert_track_bin": os.path.join(base, "certkeeper"), "cert_track_python": sys.executable,
        "cert_track_store": os.path.join(base, "store"), "cert_track_scheduler": "none",
        "cert_track_cas": [{"name": "corp", "url": server.url, "renewal_challenge": True,
                            "thumbprint": sha256_thumbprint(server.ca_pem)}],
        "cert_track_requests": [{"id": "app1-client", "cert_path": os.path.join(base, "app1", "client.crt"),
                                 "key_path": os.path.join(base, "app1", "client.key"), "ca": "scep",
                                 "scep_ca": "corp", "challenge": server.challenge, "subject": "CN=app1",
                                 "profile": "client", "renew_before": 30}],
    }
    host.update(overrides)
    os.makedirs(os.path.join(base, "app1"), exist_ok=True)
    path = os.path.join(base, "inventory.yml")
    with open(path, "w") as handle:
        yaml.safe_dump({"all": {"hosts": {"h1": host}}}, handle)
    return path


def test_check_mode_then_the_run_then_a_rerun(scep_lab):
    path, base, pin = inventory(scep_lab), scep_lab["base"], scep_lab["server"].challenge
    cert = os.path.join(base, "app1", "client.crt")
    checked = run_playbook("certkeeper.pki.cert_track", path, "--check", "--diff", tmp_dir=base)
    assert checked.returncode == 0, checked.output
    assert "add SCEP CA" in checked.output and not os.path.exists(cert)
    assert not os.path.exists(os.path.join(base, "store", "cas"))

    first = run_playbook("certkeeper.pki.cert_track", path, "-vvv", tmp_dir=base)
    assert first.returncode == 0, first.output
    verified = subprocess.run(["openssl", "verify", "-CAfile", scep_lab["server"].ca_pem, cert], capture_output=True,
                              text=True, check=False)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert pin not in first.output

    rerun = run_playbook("certkeeper.pki.cert_track", path, "-vvv", "--diff", tmp_dir=base)
    assert rerun.returncode == 0 and rerun.changed == {}, rerun.output
    assert pin not in rerun.output
    listed = json.loads(subprocess.run([os.path.join(base, "certkeeper"), "--store", os.path.join(base, "store"),
                                        "list-cas", "--json"], capture_output=True, text=True, check=True).stdout)
    assert [(ca["name"], ca["renewal_challenge"]) for ca in listed] == [("corp", True)]


def test_a_thumbprint_that_is_not_the_servers_stops_the_run(scep_lab):
    path = inventory(scep_lab, cert_track_cas=[{"name": "other", "url": scep_lab["server"].url,
                                                "thumbprint": "00" * 32}], cert_track_requests=[])
    run = run_playbook("certkeeper.pki.cert_track", path, tmp_dir=scep_lab["base"])
    assert run.returncode != 0
    assert "none of its certificates has the SHA-256 thumbprint" in run.output and "nothing changed" in run.output
    assert not os.path.exists(os.path.join(scep_lab["base"], "store", "cas", "other.json"))
