"""``ca: scep`` through the certkeeper command against a real SCEP server (Debian's ``scep``: micromdm's scepserver,
in a network namespace of its own), following seed 004's steps: add-scep-ca, list-cas with the thumbprints, a
request with a one-time PIN, renewal when due, and a PostgreSQL client certificate issued through SCEP logging in."""

from __future__ import annotations

import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile

import pytest

from ansible_collections.certkeeper.pki.plugins.action.certkeeper_command import build_zipapp
from tests.support.scep_server import ScepServer
from tests.support.throwaway_pg import ThrowawayPostgres

pytestmark = pytest.mark.integration


def faked(hours: int) -> dict:
    """libfaketime for the certkeeper command: its clock ``hours`` ahead (the SCEP server's stays real)."""
    return {"LD_PRELOAD": glob.glob("/usr/lib/*/faketime/libfaketime.so.1")[0], "FAKETIME": "+%dh" % hours}


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    base = tmp_path_factory.mktemp("scep")
    command = base / "certkeeper"
    command.write_bytes(build_zipapp(sys.executable))
    command.chmod(0o755)
    os.chmod(base, 0o700)
    with ScepServer(base / "server") as server:
        yield {"base": str(base), "command": str(command), "store": str(base / "store"), "server": server}


def certkeeper(lab, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([lab["command"], "--store", lab["store"], *args], env=dict(os.environ, **(env or {})),
                          capture_output=True, text=True, check=False, timeout=120)


def openssl_fingerprint(path: str, digest: str) -> str:
    out = subprocess.run(["openssl", "x509", "-in", path, "-noout", "-fingerprint", "-" + digest],
                         capture_output=True, text=True, check=True).stdout
    hexes = out.strip().split("=", 1)[1].replace(":", "")
    return " ".join(hexes[i:i + 8] for i in range(0, len(hexes), 8))


def record(lab, request_id: str) -> dict:
    with open(os.path.join(lab["store"], "requests", request_id + ".json")) as handle:
        return json.load(handle)


def start_tracking(lab, request_id: str, pin: str, *extra: str) -> subprocess.CompletedProcess:
    files = os.path.join(lab["base"], request_id)
    os.makedirs(files, exist_ok=True)
    return certkeeper(lab, "start-tracking", "-i", request_id, "-f", files + "/client.crt", "-k", files + "/client.key",
                      "-c", "scep", "--scep-ca", "lab", "-L", pin, "-N", "CN=" + request_id, "--profile", "client",
                      *extra)


def test_add_scep_ca_shows_the_thumbprints_to_compare(lab):
    server = lab["server"]
    added = certkeeper(lab, "add-scep-ca", "-c", "lab", "-u", server.url, "--renewal-challenge")
    assert added.returncode == 0, added.stderr
    assert "add SCEP CA" in added.stdout and "CA 'lab':" in added.stdout
    for label, digest in (("MD5", "md5"), ("SHA1", "sha1"), ("SHA256", "sha256")):
        assert "thumbprint (%s): %s" % (label, openssl_fingerprint(server.ca_pem, digest)) in added.stdout
    listed = json.loads(certkeeper(lab, "list-cas", "--json").stdout)
    assert [(ca["name"], ca["url"], ca["renewal_challenge"]) for ca in listed] == [("lab", server.url, True)]
    assert "RENEWAL" in listed[0]["capabilities"] and len(listed[0]["certificates"]) == 1
    again = certkeeper(lab, "add-scep-ca", "-c", "lab", "-u", server.url, "--renewal-challenge")
    assert again.returncode == 0 and "add SCEP CA" not in again.stdout and "update" not in again.stdout
    assert certkeeper(lab, "list-cas", "-c", "nosuch").returncode == 1


def test_a_wrong_pin_is_rejected_and_nothing_is_written(lab):
    refused = start_tracking(lab, "wrongpin", "not-the-pin")
    assert refused.returncode == 1
    assert "CA_REJECTED" in refused.stdout + refused.stderr and "badRequest" in refused.stdout + refused.stderr
    assert not os.path.exists(os.path.join(lab["base"], "wrongpin", "client.crt"))
    assert record(lab, "wrongpin")["status"] == "CA_REJECTED"
    # a new PIN, given the same way, is a change and is used at once
    fixed = start_tracking(lab, "wrongpin", lab["server"].challenge)
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    assert "a new challenge password" in fixed.stdout
    assert certkeeper(lab, "stop-tracking", "-i", "wrongpin").returncode == 0


@pytest.fixture(scope="module")
def issued(lab):
    """app1's certificate through SCEP with the PIN, from a server whose certificates last three days (due after
    two: a third of its lifetime, renew_before 1)."""
    server = lab["server"]
    if certkeeper(lab, "list-cas", "-c", "lab").returncode:
        assert certkeeper(lab, "add-scep-ca", "-c", "lab", "-u", server.url, "--renewal-challenge").returncode == 0
    server.stop()
    server.start(valid_days=3)
    marker = os.path.join(lab["base"], "post-save-ran")
    made = start_tracking(lab, "app1", server.challenge, "-C", "echo saved >> " + marker, "--renew-before", "1")
    assert made.returncode == 0, made.stdout + made.stderr
    return {"dir": os.path.join(lab["base"], "app1"), "marker": marker}


def test_the_certificate_is_issued_by_the_scep_ca_for_the_key_on_disk(lab, issued):
    cert = os.path.join(issued["dir"], "client.crt")
    verified = subprocess.run(["openssl", "verify", "-CAfile", lab["server"].ca_pem, cert], capture_output=True,
                              text=True, check=False)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    subject = subprocess.run(["openssl", "x509", "-in", cert, "-noout", "-subject"], capture_output=True, text=True,
                             check=True).stdout
    assert "CN = app1" in subject or "CN=app1" in subject
    key_modulus = subprocess.run(["openssl", "rsa", "-in", os.path.join(issued["dir"], "client.key"), "-noout",
                                  "-modulus"], capture_output=True, text=True, check=True).stdout
    cert_modulus = subprocess.run(["openssl", "x509", "-in", cert, "-noout", "-modulus"], capture_output=True,
                                  text=True, check=True).stdout
    assert key_modulus == cert_modulus
    assert os.stat(os.path.join(issued["dir"], "client.key")).st_mode & 0o777 == 0o600
    listed = {item["request_id"]: item for item in json.loads(certkeeper(lab, "list", "--json").stdout)}
    assert listed["app1"]["status"] == "MONITORING" and (listed["app1"]["ca"], listed["app1"]["ca_name"]) == ("scep", "lab")
    assert "\tCA: scep (lab)\n" in certkeeper(lab, "list", "-i", "app1").stdout
    assert "challenge" not in json.dumps(listed["app1"])  # never shown, not even its digest


def test_the_pin_is_kept_only_when_renewals_must_carry_it(lab, issued):
    assert record(lab, "app1")["challenge"] == lab["server"].challenge  # the lab CA says renewals carry it
    # a CA configured as one-time-PIN (NDES): spent on the first certificate
    assert certkeeper(lab, "add-scep-ca", "-c", "otp", "-u", lab["server"].url).returncode == 0
    files = os.path.join(lab["base"], "otp1")
    os.makedirs(files)
    made = certkeeper(lab, "start-tracking", "-i", "otp1", "-f", files + "/c.crt", "-k", files + "/c.key", "-c", "scep",
                      "--scep-ca", "otp", "-L", lab["server"].challenge, "-N", "CN=otp1", "--profile", "client",
                      "--renew-before", "1")
    assert made.returncode == 0, made.stdout + made.stderr
    kept = record(lab, "otp1")
    assert kept["challenge"] == "" and kept["challenge_digest"] and lab["server"].challenge not in json.dumps(kept)
    # the same PIN given again (a playbook rerun) is no change
    rerun = certkeeper(lab, "start-tracking", "-i", "otp1", "-f", files + "/c.crt", "-k", files + "/c.key", "-c",
                       "scep", "--scep-ca", "otp", "-L", lab["server"].challenge, "-N", "CN=otp1", "--profile", "client",
                       "--renew-before", "1")
    assert rerun.returncode == 0 and rerun.stdout == "", rerun.stdout
    # the CA is in use: it cannot be removed
    used = certkeeper(lab, "remove-ca", "-c", "otp")
    assert used.returncode == 1 and "otp1" in used.stderr
    assert certkeeper(lab, "stop-tracking", "-i", "otp1").returncode == 0
    assert certkeeper(lab, "remove-ca", "-c", "otp").returncode == 0
    assert [ca["name"] for ca in json.loads(certkeeper(lab, "list-cas", "--json").stdout)] == ["lab"]


def test_renewal_when_due_survives_a_server_outage(lab, issued):
    server = lab["server"]
    cert_path = os.path.join(issued["dir"], "client.crt")
    before = open(cert_path, "rb").read()
    not_due = certkeeper(lab, "renew", "-i", "app1", "--json")
    assert json.loads(not_due.stdout)[0]["action"] == "not due"
    # 60 hours on, the three-day certificate is due; the server is down
    server.stop()
    down = certkeeper(lab, "renew", "--all", "--json", env=faked(60))
    outcome = {o["id"]: o for o in json.loads(down.stdout)}["app1"]
    assert down.returncode == 1 and outcome["status"] == "CA_UNREACHABLE", down.stdout
    assert open(cert_path, "rb").read() == before and open(issued["marker"]).read() == "saved\n"  # the first save's
    # the server is back (its certificates now last a year): the next tick renews, signed with the current key
    server.start(valid_days=365)
    back = certkeeper(lab, "renew", "--all", "--json", env=faked(60))
    outcome = {o["id"]: o for o in json.loads(back.stdout)}["app1"]
    assert back.returncode == 0 and outcome["action"] == "renewed", back.stdout + back.stderr
    after = open(cert_path, "rb").read()
    assert after != before and open(issued["marker"]).read() == "saved\nsaved\n"
    assert open(server.log, errors="replace").read().count('scep_message_type="RenewalReq (17)"') == 1
    verified = subprocess.run(["openssl", "verify", "-CAfile", server.ca_pem, cert_path], capture_output=True,
                              text=True, check=False)
    assert verified.returncode == 0
    assert record(lab, "app1")["status"] == "MONITORING"


def test_another_ca_at_the_url_issues_nothing(lab, issued, tmp_path):
    """A server swapped in at the configured URL (another CA) cannot answer a request encrypted to the CA the
    configuration holds: nothing is saved, and the request waits for the real server."""
    server = lab["server"]
    cert_path = os.path.join(issued["dir"], "client.crt")
    before = open(cert_path, "rb").read()
    server.stop()
    with ScepServer(tmp_path) as impostor:
        impostor.stop()
        impostor.port = server.port  # the same URL
        impostor.start(challenge=server.challenge)
        try:
            swapped = certkeeper(lab, "resubmit", "-i", "app1")
        finally:
            impostor.stop()
    server.start()
    assert swapped.returncode == 1, swapped.stdout
    assert "CA_UNREACHABLE" in swapped.stdout or "CA_REJECTED" in swapped.stdout
    assert open(cert_path, "rb").read() == before


def test_a_postgresql_client_certificate_through_scep_logs_in(lab, issued):
    """Seed 004's use case end to end: the server trusts the SCEP CA (its root.crt bundle), app1 logs in with the
    certificate SCEP issued (CN = the database user)."""
    pg_base = tempfile.mkdtemp(prefix="certkeeper-scep-pg-")  # outside pytest's root-only directory: postgres reads it
    os.chmod(pg_base, 0o755)
    server_dir = os.path.join(pg_base, "ssl")
    os.makedirs(server_dir)
    made = certkeeper(lab, "start-tracking", "-i", "pgserver", "-f", server_dir + "/server.crt", "-k",
                      server_dir + "/server.key", "-c", "self_sign", "-N", "CN=localhost")
    assert made.returncode == 0, made.stdout + made.stderr
    server_key = os.path.join(server_dir, "postgres.key")  # PostgreSQL reads its key as its own user
    with open(server_key, "wb") as handle:
        handle.write(open(os.path.join(server_dir, "server.key"), "rb").read())
    os.chmod(server_key, 0o600)
    subprocess.run(["chown", "postgres:postgres", server_key], check=True)
    bundle = os.path.join(server_dir, "root.crt")
    with open(bundle, "w") as handle:
        handle.write(open(os.path.join(server_dir, "server.crt")).read() + open(lab["server"].ca_pem).read())
    os.chmod(server_dir, 0o755)
    cluster = ThrowawayPostgres(os.path.join(pg_base, "pg")).start(roles=["app1"])
    try:
        with open(os.path.join(cluster.data, "postgresql.conf"), "a") as conf:
            conf.write("ssl = on\nssl_cert_file = '%s/server.crt'\nssl_key_file = '%s'\n"
                       "ssl_ca_file = '%s'\n" % (server_dir, server_key, bundle))
        with open(os.path.join(cluster.data, "pg_hba.conf"), "w") as hba:
            hba.write("local all all trust\nhostssl all all 127.0.0.1/32 cert\n")
        cluster.pg_ctl("-w", "restart", "-l", cluster.log)
        key_copy = os.path.join(lab["base"], "app1-client.key")  # libpq wants the key 0600 and its user's
        with open(key_copy, "wb") as handle:
            handle.write(open(os.path.join(issued["dir"], "client.key"), "rb").read())
        os.chmod(key_copy, 0o600)
        login = subprocess.run(
            ["psql", "host=127.0.0.1 port=%d dbname=postgres user=app1 sslmode=require sslcert=%s sslkey=%s"
             % (cluster.port, os.path.join(issued["dir"], "client.crt"), key_copy), "-Atc", "select current_user"],
            capture_output=True, text=True, check=False, timeout=30)
        assert login.returncode == 0 and login.stdout.strip() == "app1", login.stderr
        stranger = subprocess.run(
            ["psql", "host=127.0.0.1 port=%d dbname=postgres user=app1 sslmode=require" % cluster.port, "-Atc",
             "select 1"], capture_output=True, text=True, check=False, timeout=30)
        assert stranger.returncode != 0  # without the SCEP certificate: refused
    finally:
        cluster.stop()
        shutil.rmtree(pg_base, ignore_errors=True)
