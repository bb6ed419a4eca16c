"""Revocation with the pg_mtls role, against a real PostgreSQL and real clients (psql, pgjdbc): revoke a client and
PostgreSQL refuses it in the same run, rekey a client after a compromise, the checks that stop a run before anything
changes, libpq's sslcrl, and what an expired CRL does (why the role keeps it fresh).

One lab for the module (conftest.lab): a first run, then the scenarios in order, each starting where the last ended."""

from __future__ import annotations

import datetime
import os
import shutil
import subprocess
import time

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from ansible_collections.certkeeper.pki.plugins.module_utils._ca import revocation

pytestmark = pytest.mark.integration
REVOKED_MARKS = ("certificate revoked", "alert certificate revoked")


@pytest.fixture(scope="module")
def first_run(lab):
    run = lab.run()
    assert run.returncode == 0, run.output
    return run


def inventory(lab, name: str, *, clients=("app1", "app2"), all_vars=None, **host_vars) -> str:
    """A variant of the lab's inventory: only ``clients`` left in pg_clients, extra variables for all and for hosts."""
    data = yaml.safe_load(open(lab.inventory))
    group = data["all"]["children"]["pg_clients"]["hosts"]
    for host in list(group):
        if host not in clients:
            del group[host]
    data["all"]["vars"].update(all_vars or {})
    for host, values in host_vars.items():
        for members in data["all"]["children"].values():
            if host in members["hosts"]:
                members["hosts"][host].update(values)
    path = os.path.join(lab.base, name)
    with open(path, "w") as handle:
        yaml.safe_dump(data, handle)
    return path


def conninfo(lab, user: str, directory: str, **override) -> str:
    params = dict(host="localhost", port=str(lab.cluster.port), dbname="postgres", user=user, sslmode="verify-full",
                  sslrootcert=os.path.join(directory, "root.crt"), sslcert=os.path.join(directory, "client.crt"),
                  sslkey=os.path.join(directory, "client.key"))
    params.update(override)
    return " ".join("%s=%s" % item for item in params.items())


def psql(lab, user: str, directory: str | None = None, **override) -> subprocess.CompletedProcess:
    return subprocess.run(["psql", conninfo(lab, user, directory or lab.client_dir(user), **override), "-Atc",
                           "select current_user"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          timeout=60, check=False)


def server_log_since(lab, offset: int) -> str:
    with open(lab.cluster.log, "rb") as handle:
        handle.seek(offset)
        return handle.read().decode("utf-8", "replace")


def log_size(lab) -> int:
    return os.path.getsize(lab.cluster.log)


def refused_as_revoked(lab, user: str, directory: str | None = None) -> str:
    """Log in, expect a refusal, and return what the client and the server said about it."""
    offset = log_size(lab)
    login = psql(lab, user, directory)
    assert login.returncode != 0, login.stdout
    said = login.stdout + server_log_since(lab, offset)
    assert any(mark in said for mark in REVOKED_MARKS), said
    return said


def serial(path: str) -> int:
    return x509.load_pem_x509_certificate(open(path, "rb").read()).serial_number


def crl(path: str) -> x509.CertificateRevocationList:
    return x509.load_pem_x509_crl(open(path, "rb").read())


def reasons(path: str) -> dict:
    """serial -> reason (None when the entry has no reason code: unspecified) of the CRL in ``path``."""
    found = {}
    for entry in crl(path):
        try:
            found[entry.serial_number] = entry.extensions.get_extension_for_class(x509.CRLReason).value.reason.name
        except x509.ExtensionNotFound:
            found[entry.serial_number] = None
    return found


def crl_files(lab, *clients: str) -> list:
    return [os.path.join(lab.ssl_dir, "root.crl"), *(os.path.join(lab.client_dir(h), "root.crl") for h in clients)]


def ca_material(lab):
    key = serialization.load_pem_private_key(open(os.path.join(lab.ca_dir, "root.key"), "rb").read(), None)
    return key, x509.load_pem_x509_certificate(open(os.path.join(lab.ca_dir, "root.crt"), "rb").read())


def until(predicate, seconds: float = 20.0):
    """PostgreSQL applies a reload (SIGHUP) a moment after pg_ctl returns."""
    deadline = time.monotonic() + seconds
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.3)


def test_the_first_run_publishes_the_crl_to_every_host_and_postgresql_reads_it(lab, first_run):
    now = datetime.datetime.now(datetime.timezone.utc)
    _key, ca_cert = ca_material(lab)
    for path in crl_files(lab, "app1", "app2"):
        published = crl(path)
        assert published.issuer == ca_cert.subject and published.is_signature_valid(ca_cert.public_key()), path
        assert len(published) == 0, path
        assert datetime.timedelta(days=29) < published.next_update_utc - now <= datetime.timedelta(days=30), path
    assert open(os.path.join(lab.ca_dir, "root.crl"), "rb").read() == open(crl_files(lab)[0], "rb").read()
    assert lab.cluster.sql("show ssl_crl_file") == os.path.join(lab.ssl_dir, "root.crl")
    for host in ("app1", "app2"):
        login = psql(lab, host)
        assert login.returncode == 0 and login.stdout.strip() == host, login.stdout
        # libpq checks the server's certificate against the client's copy of the CRL
        login = psql(lab, host, sslcrl=os.path.join(lab.client_dir(host), "root.crl"))
        assert login.returncode == 0 and login.stdout.strip() == host, login.stdout


def test_revoking_app2_refuses_it_in_the_same_run_and_app1_still_logs_in(lab, first_run, jdbc_probe):
    app2_serial = serial(os.path.join(lab.client_dir("app2"), "client.crt"))
    revoke = inventory(lab, "revoke.yml", clients=("app1",), all_vars={"pg_mtls_revoked": ["app2"]})
    before = lab.snapshot()
    check = lab.run("--check", "--diff", inventory=revoke)  # says what it would do, writes nothing
    assert check.returncode == 0, check.output
    assert os.path.join(lab.ssl_dir, "root.crl") in check.output, check.output
    assert lab.snapshot() == before
    assert psql(lab, "app2").returncode == 0
    run = lab.run(inventory=revoke)
    assert run.returncode == 0, run.output
    # the revocation is the CA call's (one call whatever the length of pg_mtls_revoked), then one call per host, and
    # the server's reload
    assert run.invocations == {"db1": 3, "app1": 1}, run.output
    assert "RUNNING HANDLER [certkeeper.pki.pg_mtls : Reload PostgreSQL with the reload command]" in run.output
    for path in crl_files(lab, "app1"):
        assert reasons(path) == {app2_serial: None}, path  # unspecified: no reason code (RFC 5280)
    refused_as_revoked(lab, "app2")
    login = psql(lab, "app1")
    assert login.returncode == 0 and login.stdout.strip() == "app1", login.stdout
    directory = lab.client_dir("app1")
    url = "jdbc:postgresql://localhost:%d/postgres" % lab.cluster.port
    common = dict(user="app1", sslmode="verify-full", sslrootcert=os.path.join(directory, "root.crt"))
    with_pk8 = jdbc_probe(url, sslcert=os.path.join(directory, "client.crt"),
                          sslkey=os.path.join(directory, "client.pk8"), **common)
    assert with_pk8.returncode == 0 and with_pk8.stdout.strip().startswith("app1|TLSv1."), with_pk8.stdout
    with_pfx = jdbc_probe(url, sslkey=os.path.join(directory, "client.pfx"), sslpassword="", **common)
    assert with_pfx.returncode == 0 and with_pfx.stdout.strip().startswith("app1|TLSv1."), with_pfx.stdout
    # and pgjdbc with app2's files is refused just as psql is (Java may see the closed socket before the alert)
    app2 = lab.client_dir("app2")
    offset = log_size(lab)
    refused = jdbc_probe(url, user="app2", sslmode="verify-full", sslrootcert=os.path.join(app2, "root.crt"),
                         sslcert=os.path.join(app2, "client.crt"), sslkey=os.path.join(app2, "client.pk8"))
    assert refused.returncode != 0 and "PSQLException: SSL error" in refused.stdout, refused.stdout
    assert "could not accept SSL connection: certificate verify failed" in server_log_since(lab, offset)


def test_a_rerun_after_the_revocation_changes_nothing_with_one_call_per_host(lab, first_run):
    before = lab.snapshot()
    run = lab.run(inventory=os.path.join(lab.base, "revoke.yml"))
    assert run.returncode == 0, run.output
    assert run.changed == {}, run.output
    assert run.invocations == {"db1": 2, "app1": 1}, run.output
    assert "RUNNING HANDLER" not in run.output
    assert lab.snapshot() == before


def test_taking_app2_off_the_list_keeps_its_certificate_revoked(lab, first_run):
    app2_serial = serial(os.path.join(lab.client_dir("app2"), "client.crt"))
    gone = inventory(lab, "gone.yml", clients=("app1",))
    run = lab.run(inventory=gone)
    assert run.returncode == 0, run.output
    assert run.changed == {}, run.output
    for path in crl_files(lab, "app1"):
        assert app2_serial in reasons(path), path
    refused_as_revoked(lab, "app2")
    assert psql(lab, "app1").returncode == 0


def test_rekey_gives_app1_a_new_key_and_revokes_the_old_certificate_for_key_compromise(lab, first_run, tmp_path):
    old = str(tmp_path / "old-app1")
    os.makedirs(old)
    for name in ("client.crt", "client.key", "root.crt"):
        shutil.copy2(os.path.join(lab.client_dir("app1"), name), old)
    os.chmod(os.path.join(old, "client.key"), 0o600)
    assert psql(lab, "app1", old).returncode == 0  # the copy works before the rekey
    old_serial, old_key = serial(os.path.join(old, "client.crt")), open(os.path.join(old, "client.key"), "rb").read()
    rekey = inventory(lab, "rekey.yml", clients=("app1",), app1={"pg_mtls_rekey": "incident-1"})
    run = lab.run(inventory=rekey)
    assert run.returncode == 0, run.output
    assert "RUNNING HANDLER" in run.output  # the server's root.crl changed: PostgreSQL reloaded
    assert open(os.path.join(lab.client_dir("app1"), "client.key"), "rb").read() != old_key
    assert serial(os.path.join(lab.client_dir("app1"), "client.crt")) != old_serial
    for path in crl_files(lab, "app1"):
        assert reasons(path).get(old_serial) == "key_compromise", path
    refused_as_revoked(lab, "app1", old)
    login = psql(lab, "app1")
    assert login.returncode == 0 and login.stdout.strip() == "app1", login.stdout
    # the same word again does nothing
    rerun = lab.run(inventory=rekey)
    assert rerun.returncode == 0 and rerun.changed == {}, rerun.output
    assert rerun.invocations == {"db1": 2, "app1": 1}, rerun.output


def test_a_longer_crl_validity_re_signs_the_crl_everywhere_and_a_shorter_one_waits_for_its_window(lab, first_run):
    rekey = os.path.join(lab.base, "rekey.yml")
    listed = reasons(crl_files(lab)[0])
    longer = inventory(lab, "crl-90.yml", clients=("app1",), app1={"pg_mtls_rekey": "incident-1"},
                       all_vars={"pg_mtls_crl_valid_days": 90})
    run = lab.run(inventory=longer)
    assert run.returncode == 0, run.output
    now = datetime.datetime.now(datetime.timezone.utc)
    for path in crl_files(lab, "app1"):
        # 30 days left of a 90-day CRL: less than a third, re-signed, the same revocations
        assert crl(path).next_update_utc - now > datetime.timedelta(days=89), path
        assert reasons(path) == listed, path
    assert "RUNNING HANDLER" in run.output
    assert lab.run(inventory=longer).changed == {}
    published = [open(path, "rb").read() for path in crl_files(lab, "app1")]
    back = lab.run(inventory=rekey)  # 30 days again: the 90-day CRL has far more than 10 days left
    # only the CA host's tracking records take the new validity (its certkeeper timer signs with it)
    assert back.returncode == 0 and set(back.changed) == {"db1"}, back.output
    assert [open(path, "rb").read() for path in crl_files(lab, "app1")] == published
    assert lab.run(inventory=rekey).changed == {}
    assert psql(lab, "app1").returncode == 0


def test_a_revoked_host_or_user_still_in_pg_clients_fails_naming_both_and_changes_nothing(lab, first_run):
    before = lab.snapshot()
    still = inventory(lab, "still.yml", all_vars={"pg_mtls_revoked": ["app2"]}, app1={"pg_mtls_rekey": "incident-1"})
    run = lab.run(inventory=still)
    assert run.returncode != 0
    assert "app2 is in pg_mtls_revoked and in pg_clients: remove it from one of them" in run.output, run.output
    as_user = inventory(lab, "still-user.yml", clients=("app1",), all_vars={"pg_mtls_revoked": ["app2"]},
                        app1={"pg_mtls_rekey": "incident-1", "pg_mtls_db_user": "app2"})
    run = lab.run(inventory=as_user)
    assert run.returncode != 0
    assert "app2 is in pg_mtls_revoked and is the pg_mtls_db_user of app1, in pg_clients" in run.output, run.output
    assert lab.snapshot() == before


BAD_VALUES = [
    ("unknown-name", {"pg_mtls_revoked": ["app2", "ghost"]}, {}, "pg_mtls_revoked", "ghost"),  # the module's words
    ("a-list", {"pg_mtls_revoked": [["app2"]]}, {}, "pg_mtls_revoked", "pg_mtls_revoked[0] is"),
    ("a-dict-with-other-keys", {"pg_mtls_revoked": [{"name": "app2", "why": "left"}]}, {}, "pg_mtls_revoked",
     "pg_mtls_revoked[0] is"),
    ("two-reasons", {"pg_mtls_revoked": [{"name": "app2", "reason": "keyCompromise"},
                                         {"name": "app2", "reason": "superseded"}]}, {}, "pg_mtls_revoked", "twice"),
    ("a-bad-reason", {"pg_mtls_revoked": [{"name": "app2", "reason": "stolen"}]}, {}, "pg_mtls_revoked", "stolen"),
    ("a-bad-serial", {"pg_mtls_revoked": [{"name": "app2", "serial": "12:zz"}]}, {}, "pg_mtls_revoked[app2].serial",
     "12:zz"),
    ("crl-valid-days-0", {"pg_mtls_crl_valid_days": 0}, {}, "pg_mtls_crl_valid_days", "(host db1)"),
    ("rekey-a-dict", {}, {"pg_mtls_rekey": {"when": "now"}}, "pg_mtls_rekey", "app1"),
]


@pytest.mark.parametrize("all_vars, app1_vars, variable, expect", [case[1:] for case in BAD_VALUES],
                         ids=[case[0] for case in BAD_VALUES])
def test_a_bad_revocation_setting_fails_naming_its_variable_and_changes_nothing(lab, first_run, all_vars, app1_vars,
                                                                                variable, expect):
    before = lab.snapshot()
    bad = inventory(lab, "bad-revocation.yml", clients=("app1",), all_vars={"pg_mtls_revoked": ["app2"], **all_vars},
                    app1={"pg_mtls_rekey": "incident-1", **app1_vars})
    run = lab.run(inventory=bad)
    assert run.returncode != 0
    failed = [line for line in run.output.splitlines() if "FAILED!" in line or "ERROR" in line]
    assert any(variable in line and expect in line for line in failed), run.output
    assert lab.snapshot() == before


def forged_crl(lab, serials: list, reason: str, **sign) -> bytes:
    """A CRL of the lab's CA (signed with its key, as root can) listing ``serials``."""
    key, cert = ca_material(lab)
    now = sign.pop("now", datetime.datetime.now(datetime.timezone.utc))
    entries = [revocation.IssuedCertificate(serial="%x" % s, subject="", name="", profile="", not_before="",
                                            not_after="", status=revocation.REVOKED, revoked_at=now.isoformat(),
                                            reason=reason) for s in serials]
    return revocation.crl_pem(revocation.sign_crl(key, cert, entries, 1000, now, **sign))


def test_libpq_with_sslcrl_refuses_a_server_certificate_the_ca_revoked(lab, first_run, tmp_path):
    client_crl = os.path.join(lab.client_dir("app1"), "root.crl")
    login = psql(lab, "app1", sslcrl=client_crl)
    assert login.returncode == 0 and login.stdout.strip() == "app1", login.stdout
    server_serial = serial(os.path.join(lab.ssl_dir, "server.crt"))
    forged = tmp_path / "server-revoked.crl"
    forged.write_bytes(forged_crl(lab, [server_serial], "keyCompromise"))
    refused = psql(lab, "app1", sslcrl=str(forged))
    assert refused.returncode != 0
    # libpq gives no reason ("SSL error: certificate verify failed"); the serial is the only difference from a CRL of
    # the same CA that lists nothing, which libpq accepts, and openssl names the reason for the same files
    assert "certificate verify failed" in refused.stdout, refused.stdout
    empty = tmp_path / "empty.crl"
    empty.write_bytes(forged_crl(lab, [], "unspecified"))
    assert psql(lab, "app1", sslcrl=str(empty)).returncode == 0
    verify = subprocess.run(["openssl", "verify", "-crl_check", "-CRLfile", str(forged), "-CAfile",
                             os.path.join(lab.client_dir("app1"), "root.crt"), os.path.join(lab.ssl_dir, "server.crt")],
                            capture_output=True, text=True, check=False)
    assert verify.returncode != 0 and "certificate revoked" in verify.stdout + verify.stderr, verify


def test_an_expired_crl_makes_postgresql_refuse_every_client_until_the_next_run(lab, first_run):
    server_crl = os.path.join(lab.ssl_dir, "root.crl")
    published = open(server_crl, "rb").read()
    past = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=10)
    try:
        with open(server_crl, "wb") as handle:  # in place: keeps the file's owner and mode
            handle.write(forged_crl(lab, [], "unspecified", now=past, valid_days=1))
        offset = log_size(lab)
        subprocess.run(lab.cluster.reload_command.split(), check=True, capture_output=True)
        refused = until(lambda: psql(lab, "app1").returncode != 0)
        assert refused, "PostgreSQL still accepts app1 with an expired CRL"
        said = psql(lab, "app1").stdout + server_log_since(lab, offset)
        assert "alert certificate expired" in said or "CRL has expired" in said, said
        # the next run puts the CA's CRL back and reloads PostgreSQL
        run = lab.run(inventory=os.path.join(lab.base, "rekey.yml"))
        assert run.returncode == 0, run.output
        assert open(server_crl, "rb").read() == published
        assert "RUNNING HANDLER" in run.output
        assert until(lambda: psql(lab, "app1").returncode == 0)
    finally:
        if open(server_crl, "rb").read() != published:
            with open(server_crl, "wb") as handle:
                handle.write(published)
            subprocess.run(lab.cluster.reload_command.split(), check=False, capture_output=True)


def test_rekey_of_the_ca_host_replaces_its_server_certificate_by_inventory_name(lab, first_run):
    """The CA host's own certificate (CN localhost here) is in the CA index under its inventory name, db1."""
    server_crt = os.path.join(lab.ssl_dir, "server.crt")
    old_serial = serial(server_crt)
    rekey = inventory(lab, "rekey-db1.yml", clients=("app1",), app1={"pg_mtls_rekey": "incident-1"},
                      db1={"pg_mtls_rekey": "db1-incident"})
    run = lab.run(inventory=rekey)
    assert run.returncode == 0, run.output
    assert serial(server_crt) != old_serial
    for path in crl_files(lab, "app1"):
        assert reasons(path).get(old_serial) == "key_compromise", path
    assert until(lambda: psql(lab, "app1").returncode == 0)  # verify-full: the new server certificate is accepted
    rerun = lab.run(inventory=rekey)
    assert rerun.returncode == 0 and rerun.changed == {}, rerun.output
