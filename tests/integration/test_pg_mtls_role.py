"""The pg_mtls playbook end to end: a real PostgreSQL, real clients (psql, psycopg, JDBC, openssl)."""

from __future__ import annotations

import os
import pwd
import stat
import subprocess

import psycopg
import pytest

pytestmark = pytest.mark.integration

CLIENT_FILES = [".certkeeper-stamp.json", "client.crt", "client.key", "client.pem.pk8", "client.pfx", "client.pk8",
                "root.crl", "root.crt"]


@pytest.fixture(scope="module")
def first_run(lab):
    run = lab.run("-vvv")
    assert run.returncode == 0, run.output
    return run


def libpq(lab, files_of: str, user: str, **override) -> str:
    directory = lab.client_dir(files_of)
    params = dict(host="localhost", port=str(lab.cluster.port), dbname="postgres", user=user, sslmode="verify-full",
                  sslrootcert=os.path.join(directory, "root.crt"), sslcert=os.path.join(directory, "client.crt"),
                  sslkey=os.path.join(directory, "client.key"))
    params.update(override)
    return " ".join("%s=%s" % item for item in params.items())


def psql(conninfo: str) -> subprocess.CompletedProcess:
    return subprocess.run(["psql", conninfo, "-Atc",
                           "select current_user, version from pg_stat_ssl where pid = pg_backend_pid()"],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, check=False)


def test_first_run_costs_two_tasks_per_client_and_four_on_the_ca_host(first_run):
    # clients: keys + CSR, then certificate install; db1: CA, own files signed locally, one batched signing, reload
    assert first_run.invocations == {"db1": 4, "app1": 2, "app2": 2}, first_run.output
    # and the reload handler ran exactly once, on the server only
    assert "RUNNING HANDLER [certkeeper.pki.pg_mtls : Reload PostgreSQL with the reload command]" in first_run.output


def test_first_run_does_every_call_on_the_host_without_a_module_run(first_run):
    # with pipelining each call is one short program on the host (the stamp reader, then the work from the zip sent):
    # db1 the CA, its own files (signed there), the batched signing; app1 and app2 a CSR, then the install
    assert first_run.output.count("pg_mtls_certs: done on the host without a module run") == 7, first_run.output
    assert "pg_mtls_certs.py" not in first_run.output  # never "Using module file .../pg_mtls_certs.py"


def test_files_have_the_seed_names_owners_and_modes(lab, first_run):
    for host in ("app1", "app2"):
        assert sorted(os.listdir(lab.client_dir(host))) == CLIENT_FILES
        for name in ("client.key", "client.pk8", "client.pem.pk8", "client.pfx"):
            st = os.stat(os.path.join(lab.client_dir(host), name))
            assert (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid) == (0o640, 0, 0), name
    postgres = pwd.getpwnam("postgres")
    st = os.stat(os.path.join(lab.ssl_dir, "server.key"))
    assert (stat.S_IMODE(st.st_mode), st.st_uid) == (0o600, postgres.pw_uid)
    assert sorted(os.listdir(lab.ssl_dir)) == [".certkeeper-stamp.json", "root.crl", "root.crt", "server.crt",
                                               "server.key"]
    for directory in (lab.ssl_dir, lab.client_dir("app1"), lab.ca_dir):  # the stamps of the verified state
        st = os.stat(os.path.join(directory, ".certkeeper-stamp.json"))
        assert (stat.S_IMODE(st.st_mode), st.st_uid) == (0o600, 0)
    st = os.stat(lab.ca_dir)
    assert (stat.S_IMODE(st.st_mode), st.st_uid) == (0o700, 0)
    assert stat.S_IMODE(os.stat(os.path.join(lab.ca_dir, "root.key")).st_mode) == 0o600


def test_the_ca_key_stays_on_the_ca_host_and_no_server_key_is_copied(lab, first_run):
    ca_key = open(os.path.join(lab.ca_dir, "root.key"), "rb").read()
    server_key = open(os.path.join(lab.ssl_dir, "server.key"), "rb").read()
    for host in ("app1", "app2"):
        for name in os.listdir(lab.client_dir(host)):
            data = open(os.path.join(lab.client_dir(host), name), "rb").read()
            assert ca_key not in data and server_key not in data
    assert not os.path.exists(os.path.join(lab.client_dir("app1"), "server.key"))


def test_each_client_connects_over_mutual_tls_with_psql(lab, first_run):
    for host in ("app1", "app2"):
        result = psql(libpq(lab, host, host))
        assert result.returncode == 0, result.stdout
        assert result.stdout.strip() in ("%s|TLSv1.3" % host, "%s|TLSv1.2" % host)


def test_each_client_connects_with_psycopg(lab, first_run):
    for host in ("app1", "app2"):
        with psycopg.connect(libpq(lab, host, host)) as conn:
            user, ssl, client_dn = conn.execute(
                "select current_user, ssl, client_dn from pg_stat_ssl where pid = pg_backend_pid()").fetchone()
        assert (user, ssl, client_dn) == (host, True, "/CN=%s" % host)


def test_no_certificate_is_rejected(lab, first_run):
    result = psql(libpq(lab, "app1", "app1", sslcert="/nonexistent", sslkey="/nonexistent"))
    assert result.returncode != 0
    assert "connection requires a valid client certificate" in result.stdout
    with pytest.raises(psycopg.OperationalError, match="valid client certificate"):
        psycopg.connect(libpq(lab, "app1", "app1", sslcert="/nonexistent", sslkey="/nonexistent"))


def test_one_clients_certificate_for_another_user_is_rejected(lab, first_run):
    result = psql(libpq(lab, "app1", "app2"))
    assert result.returncode != 0
    assert 'certificate authentication failed for user "app2"' in result.stdout


def test_a_certificate_from_a_foreign_ca_is_rejected(lab, first_run, tmp_path):
    rogue = tmp_path
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", rogue / "ca.key",
                    "-out", rogue / "ca.crt", "-subj", "/CN=certkeeper.pki PostgreSQL CA", "-days", "30",
                    "-addext", "basicConstraints=critical,CA:TRUE"], check=True, capture_output=True)
    subprocess.run(["openssl", "req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", rogue / "client.key",
                    "-out", rogue / "client.csr", "-subj", "/CN=app1"], check=True, capture_output=True)
    subprocess.run(["openssl", "x509", "-req", "-in", rogue / "client.csr", "-CA", rogue / "ca.crt", "-CAkey",
                    rogue / "ca.key", "-CAcreateserial", "-days", "30", "-out", rogue / "client.crt"],
                   check=True, capture_output=True)
    os.chmod(rogue / "client.key", 0o600)
    result = psql(libpq(lab, "app1", "app1", sslcert=rogue / "client.crt", sslkey=rogue / "client.key"))
    assert result.returncode != 0
    # the rogue CA even carries our CA's name: the signature check, not the name, rejects it
    assert any(m in result.stdout for m in ("decrypt error", "unknown ca", "certificate verify failed")), result.stdout


def test_jdbc_connects_with_pk8_and_with_pfx(lab, first_run, jdbc_probe):
    directory = lab.client_dir("app1")
    url = "jdbc:postgresql://localhost:%d/postgres" % lab.cluster.port
    common = dict(user="app1", sslmode="verify-full", sslrootcert=os.path.join(directory, "root.crt"))
    with_pk8 = jdbc_probe(url, sslcert=os.path.join(directory, "client.crt"),
                          sslkey=os.path.join(directory, "client.pk8"), **common)
    assert with_pk8.returncode == 0, with_pk8.stdout
    assert with_pk8.stdout.strip().startswith("app1|TLSv1.")
    with_pfx = jdbc_probe(url, sslkey=os.path.join(directory, "client.pfx"), sslpassword="", **common)
    assert with_pfx.returncode == 0, with_pfx.stdout
    assert with_pfx.stdout.strip().startswith("app1|TLSv1.")


def test_openssl_reads_every_client_format(lab, first_run):
    directory = lab.client_dir("app1")
    pfx = subprocess.run(["openssl", "pkcs12", "-in", os.path.join(directory, "client.pfx"), "-passin", "pass:",
                          "-nodes"], capture_output=True, text=True, check=False)
    assert pfx.returncode == 0, pfx.stderr
    assert "friendlyName: user" in pfx.stdout and "BEGIN PRIVATE KEY" in pfx.stdout
    der = subprocess.run(["openssl", "pkey", "-inform", "DER", "-in", os.path.join(directory, "client.pk8"),
                          "-pubout"], capture_output=True, text=True, check=False)
    pem = subprocess.run(["openssl", "pkey", "-in", os.path.join(directory, "client.pem.pk8"), "-pubout"],
                         capture_output=True, text=True, check=False)
    cert = subprocess.run(["openssl", "x509", "-in", os.path.join(directory, "client.crt"), "-pubkey", "-noout"],
                          capture_output=True, text=True, check=False)
    assert der.stdout == pem.stdout == cert.stdout != ""
    assert open(os.path.join(directory, "client.pem.pk8"), "rb").read().startswith(b"-----BEGIN PRIVATE KEY-----")
    verify = subprocess.run(["openssl", "verify", "-CAfile", os.path.join(directory, "root.crt"), "-purpose",
                             "sslclient", os.path.join(directory, "client.crt")], capture_output=True, text=True, check=False)
    assert verify.returncode == 0, verify.stdout + verify.stderr


def test_user_configuration_is_kept_and_the_block_is_placed_right(lab, first_run):
    hba = open(os.path.join(lab.cluster.data, "pg_hba.conf")).read().splitlines()
    assert hba[0].startswith("# BEGIN certkeeper.pki pg_mtls")
    assert "hostssl all all 127.0.0.1/32 cert clientcert=verify-full" in hba
    assert hba[-2:] == ["# the user's own rules", "local all all trust"]
    conf = open(os.path.join(lab.cluster.data, "postgresql.conf")).read()
    assert "port = %d" % lab.cluster.port in conf
    assert conf.rstrip().endswith("# END certkeeper.pki pg_mtls")
    assert lab.cluster.sql("show ssl") == "on"
    assert lab.cluster.sql("show ssl_ca_file") == os.path.join(lab.ssl_dir, "root.crt")


def test_rerun_changes_nothing_with_one_call_per_host_answered_by_the_stamps(lab, first_run):
    before = lab.snapshot()
    run = lab.run("-vvv")
    assert run.returncode == 0, run.output
    assert run.changed == {}
    assert run.invocations == {"db1": 2, "app1": 1, "app2": 1}  # db1: the CA, then its own files
    # every call answered on the host by the stamp reader alone: the module was never sent
    assert run.output.count("the stamp shows nothing moved; the module does not run") == 4, run.output
    assert "Using module file" not in run.output
    assert "RUNNING HANDLER" not in run.output
    assert lab.snapshot() == before  # bytes, modes, owners and inodes: nothing rewritten


def test_check_after_deletion_reports_exactly_that_and_writes_nothing(lab, first_run):
    pk8 = os.path.join(lab.client_dir("app1"), "client.pk8")
    os.unlink(pk8)
    before = lab.snapshot()
    run = lab.run("--check", "--diff")
    assert run.returncode == 0, run.output
    assert run.changed == {"app1": 1}
    assert "%s\n+++ after: %s" % (pk8, pk8) in run.output.replace("--- before: ", "")
    assert lab.snapshot() == before and not os.path.exists(pk8)
    repaired = lab.run()
    assert repaired.changed == {"app1": 1} and os.path.exists(pk8)


def test_deleted_certificate_is_reissued_through_the_ca(lab, first_run):
    crt = os.path.join(lab.client_dir("app2"), "client.crt")
    key_before = open(os.path.join(lab.client_dir("app2"), "client.key"), "rb").read()
    os.unlink(crt)
    check = lab.run("--check")
    assert check.returncode == 0 and not os.path.exists(crt)
    assert "missing: request a certificate from the CA" in lab.run("--check", "-v").output
    run = lab.run()
    assert run.returncode == 0, run.output
    assert run.changed == {"app2": 2, "db1": 1}  # CSR, install; one batched signature on the CA host
    # the key policy (pg_mtls_rotate_key) renews a certificate with a new key; a missing one is issued for the key
    # in place, as the certkeeper timer does
    assert open(os.path.join(lab.client_dir("app2"), "client.key"), "rb").read() == key_before
    assert not os.path.exists(os.path.join(lab.client_dir("app2"), "client.key.pending"))
    assert psql(libpq(lab, "app2", "app2")).returncode == 0


def served_fingerprint(lab) -> str:
    hello = subprocess.run(["openssl", "s_client", "-starttls", "postgres", "-connect", "127.0.0.1:%d" % lab.cluster.port,
                            "-CAfile", os.path.join(lab.ssl_dir, "root.crt"), "-verify_return_error"],
                           stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=30, check=False)
    return subprocess.run(["openssl", "x509", "-noout", "-fingerprint", "-sha256"], input=hello.stdout,
                          capture_output=True, text=True, check=False).stdout.strip()


def file_fingerprint(path: str) -> str:
    return subprocess.run(["openssl", "x509", "-noout", "-fingerprint", "-sha256", "-in", path],
                          capture_output=True, text=True, check=False).stdout.strip()


def test_certificates_in_the_renewal_window_are_reissued_and_served(lab, first_run):
    server_crt = os.path.join(lab.ssl_dir, "server.crt")
    assert served_fingerprint(lab) == file_fingerprint(server_crt) != ""
    keys_before = {h: open(os.path.join(lab.client_dir(h), "client.key"), "rb").read() for h in ("app1", "app2")}
    ca_before = open(os.path.join(lab.ca_dir, "root.crt"), "rb").read()
    # 366 days > the 365-day validity of the first run: every server and client certificate is due,
    # the CA (10 years) is not; the new ones are issued for 400 days
    # app2 keeps its key (pg_mtls_rotate_key: false); app1 gets a new one (the default)
    renew = lab.write_inventory("renew.yml", all={"pg_mtls_renew_before": 366, "pg_mtls_valid_days": 400},
                                app2={"pg_mtls_rotate_key": False})
    check = lab.run("--check", "--diff", inventory=renew)
    assert check.returncode == 0, check.output
    assert "rotate_key: a new key for the new certificate" in check.output  # --diff states the key policy
    run = lab.run("-v", inventory=renew)
    assert run.returncode == 0, run.output
    assert "within the renewal window of 366 days" in run.output
    assert run.invocations == {"db1": 4, "app1": 2, "app2": 2}  # renewal costs what a first run costs
    assert open(os.path.join(lab.ca_dir, "root.crt"), "rb").read() == ca_before
    for host in ("app1", "app2"):
        key_now = open(os.path.join(lab.client_dir(host), "client.key"), "rb").read()
        assert (key_now == keys_before[host]) == (host == "app2"), host
        assert psql(libpq(lab, host, host)).returncode == 0
    # the reload made PostgreSQL serve the renewed certificate
    assert served_fingerprint(lab) == file_fingerprint(server_crt)
    assert lab.run(inventory=renew).changed == {}
