"""cert_track end to end: the role installs certkeeper and its timer units; one `certkeeper renew --all`
renews a due server and two due client certificates; PostgreSQL serves the new one after a reload."""

from __future__ import annotations

import json
import os
import pwd
import subprocess
import sys

import psycopg
import pytest
import yaml

from tests.integration.conftest import run_playbook
from tests.integration.test_pg_mtls_role import file_fingerprint, libpq, psql, served_fingerprint

pytestmark = pytest.mark.integration
PFX_PASSWORDS = {"app1": "", "app2": "Tracked-pfx-pw-42"}  # app1 as pgjdbc reads it, app2 to prove it stays hidden


@pytest.fixture(scope="module")
def tracked(lab):
    first = lab.run()
    assert first.returncode == 0, first.output
    base = lab.base
    ca = dict(ca="local", ca_cert_path=os.path.join(lab.ca_dir, "root.crt"),
              ca_key_path=os.path.join(lab.ca_dir, "root.key"), renew_before=400, valid_days=500)  # all due now
    requests = [dict(id="postgresql-server", cert_path=os.path.join(lab.ssl_dir, "server.crt"),
                     key_path=os.path.join(lab.ssl_dir, "server.key"), key_owner="postgres", key_group="postgres",
                     post_save_command=lab.cluster.reload_command, **ca)]
    for host in ("app1", "app2"):
        directory = lab.client_dir(host)
        requests.append(dict(
            id="client-" + host, cert_path=os.path.join(directory, "client.crt"),
            key_path=os.path.join(directory, "client.key"), profile="client", key_mode="0640",
            chain_path=os.path.join(directory, "root.crt"),
            outputs=[dict(path=os.path.join(directory, "client.pk8"), format="pkcs8_der"),
                     dict(path=os.path.join(directory, "client.pem.pk8"), format="pkcs8_pem"),
                     dict(path=os.path.join(directory, "client.pfx"), format="pkcs12",
                          password=PFX_PASSWORDS[host])], **ca))
    requests.append(dict(id="not-due", cert_path=os.path.join(base, "nd.crt"), key_path=os.path.join(base, "nd.key"),
                         subject="CN=not-due.example", subject_alt_names=["not-due.example"]))
    inventory = {"all": {"hosts": {"db1": {
        "ansible_connection": "local", "ansible_python_interpreter": sys.executable,
        "cert_track_bin": os.path.join(base, "certkeeper"),
        "cert_track_store": os.path.join(base, "store"), "cert_track_python": sys.executable,
        "cert_track_scheduler": "systemd", "cert_track_systemd_dir": os.path.join(base, "units"),
        "cert_track_systemd_start": False, "cert_track_requests": requests}}}}
    os.makedirs(os.path.join(base, "units"))
    path = os.path.join(base, "track.yml")
    with open(path, "w") as handle:
        yaml.safe_dump(inventory, handle)
    run = run_playbook("certkeeper.pki.cert_track", path, tmp_dir=base)
    assert run.returncode == 0, run.output
    lab.track_inventory = path
    return lab


def certkeeper(lab, *args):
    return subprocess.run([os.path.join(lab.base, "certkeeper"), "--store", os.path.join(lab.base, "store"), *args],
                          capture_output=True, text=True, check=False)


def test_the_role_is_idempotent_and_keeps_pfx_passwords_out_of_its_output(tracked):
    rerun = run_playbook("certkeeper.pki.cert_track", tracked.track_inventory, "-vvv", tmp_dir=tracked.base)
    assert rerun.returncode == 0 and rerun.changed == {}, rerun.output
    assert PFX_PASSWORDS["app2"] not in rerun.output
    records = [open(os.path.join(tracked.base, "store", "requests", n)).read()
               for n in os.listdir(os.path.join(tracked.base, "store", "requests"))]
    assert any(PFX_PASSWORDS["app2"] in r for r in records)  # kept where renewal needs it: the root-only store
    assert oct(os.stat(os.path.join(tracked.base, "store", "requests")).st_mode & 0o777) == "0o700"


def test_the_timer_units_are_valid(tracked):
    units = [os.path.join(tracked.base, "units", n) for n in ("certkeeper-renew.service", "certkeeper-renew.timer")]
    verify = subprocess.run(["systemd-analyze", "verify", *units], capture_output=True, text=True, check=False)
    assert verify.returncode == 0 and verify.stderr == "", verify.stderr
    timer = open(units[1]).read()
    assert "Persistent=true" in timer and "RandomizedDelaySec=1h" in timer
    calendar = [line.split("=", 1)[1] for line in timer.splitlines() if line.startswith("OnCalendar=")][0]
    assert subprocess.run(["systemd-analyze", "calendar", calendar], capture_output=True, check=False).returncode == 0
    assert "renew --all" in open(units[0]).read()


def test_list_reads_like_getcert_list(tracked):
    result = certkeeper(tracked, "list")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Number of certificates and requests being tracked: 4.")
    assert "Request ID 'postgresql-server':" in result.stdout and "\tCA: local" in result.stdout
    items = json.loads(certkeeper(tracked, "list", "--json").stdout)
    assert {i["request_id"]: i["status"] for i in items} == dict.fromkeys(
        ["client-app1", "client-app2", "not-due", "postgresql-server"], "MONITORING")


def test_renew_all_renews_exactly_the_due_ones_and_postgres_serves_the_new_one(tracked):
    lab = tracked
    server_crt = os.path.join(lab.ssl_dir, "server.crt")
    pid = open(os.path.join(lab.cluster.data, "postmaster.pid")).readline().strip()
    old_served = served_fingerprint(lab)
    assert old_served == file_fingerprint(server_crt)
    not_due = open(os.path.join(lab.base, "nd.crt"), "rb").read()
    before = {h: {n: open(os.path.join(lab.client_dir(h), n), "rb").read() for n in os.listdir(lab.client_dir(h))}
              for h in ("app1", "app2")}

    session = psycopg.connect(libpq(lab, "app1", "app1"))  # a client connected across the renewal

    result = certkeeper(lab, "renew", "--all", "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    outcomes = {o["id"]: (o["action"], o["status"]) for o in json.loads(result.stdout)}
    assert outcomes == {"client-app1": ("renewed", "MONITORING"), "client-app2": ("renewed", "MONITORING"),
                        "postgresql-server": ("renewed", "MONITORING"), "not-due": ("not due", "MONITORING")}
    assert open(os.path.join(lab.base, "nd.crt"), "rb").read() == not_due

    # PostgreSQL serves the renewed certificate after the post-save reload, without a restart
    assert served_fingerprint(lab) == file_fingerprint(server_crt) != old_served
    assert open(os.path.join(lab.cluster.data, "postmaster.pid")).readline().strip() == pid
    assert session.execute("select current_user").fetchone() == ("app1",)  # and its session lived on
    session.close()
    # every client file was regenerated and the clients connect with them
    for host in ("app1", "app2"):
        after = {n: open(os.path.join(lab.client_dir(host), n), "rb").read() for n in os.listdir(lab.client_dir(host))}
        changed = sorted(n for n in after if after[n] != before[host][n])
        assert changed == ["client.crt", "client.key", "client.pem.pk8", "client.pfx", "client.pk8"]
        check = psql(libpq(lab, host, host))
        assert check.returncode == 0 and check.stdout.startswith(host + "|"), check.stdout
    assert os.stat(os.path.join(lab.ssl_dir, "server.key")).st_uid == pwd.getpwnam("postgres").pw_uid

    items = json.loads(certkeeper(lab, "list", "--json").stdout)
    assert all(i["status"] == "MONITORING" and not i["stuck"] for i in items)
    again = json.loads(certkeeper(lab, "renew", "--all", "--json").stdout)
    assert {o["action"] for o in again} == {"not due"}


def test_jdbc_reads_the_renewed_pfx(tracked, jdbc_probe):
    directory = tracked.client_dir("app1")
    result = jdbc_probe("jdbc:postgresql://localhost:%d/postgres" % tracked.cluster.port, user="app1",
                        sslmode="verify-full", sslrootcert=os.path.join(directory, "root.crt"),
                        sslkey=os.path.join(directory, "client.pfx"), sslpassword="")
    assert result.returncode == 0 and result.stdout.startswith("app1|"), result.stdout


def test_the_pg_mtls_role_registered_its_certificates(tracked):
    store = os.path.join(tracked.base, "store-db1")
    out = subprocess.run([os.path.join(tracked.base, "certkeeper"), "--store", store, "list", "--json"],
                         capture_output=True, text=True, check=False)
    items = {i["cert_location"]: i for i in json.loads(out.stdout)}
    server = items[os.path.join(tracked.ssl_dir, "server.crt")]
    assert server["request_id"].startswith("pg_mtls-server-")  # one record per certificate, named after its path
    assert server["ca"] == "local" and server["post_save_command"] == tracked.cluster.reload_command
    out = subprocess.run([os.path.join(tracked.base, "certkeeper"), "--store", os.path.join(tracked.base, "store-app1"),
                          "list", "--json"], capture_output=True, text=True, check=False)
    client = json.loads(out.stdout)[0]
    assert client["ca"] == "ansible"
    assert [o["format"] for o in client["outputs"]] == ["pkcs8_der", "pkcs8_pem", "pkcs12"]
