"""A new CA key across the fleet with no failed connection: the pg_mtls playbook's three runs of a CA rollover
(RSA generation 1 to ECDSA P-256 generation 2) against a real PostgreSQL, while psql (app1, app2, with sslcrl) and a
JVM with pgjdbc and client.pfx open a new connection about every 100 ms through every run. The CA settings are host
variables of the CA host db1, as the docs tell users to set them; each step is looked at with --check --diff first."""

from __future__ import annotations

import contextlib
import glob
import io
import json
import os

import pytest
import yaml
from cryptography import x509

from ansible_collections.certkeeper.pki.plugins.module_utils._host.cli import main as certkeeper
from ansible_collections.certkeeper.pki.plugins.module_utils._report.host import host_report
from tests.support.connection_loops import ConnectionLoops

pytestmark = pytest.mark.integration
ROLLOVER = {"pg_mtls_ca_generation": 2, "pg_mtls_ca_key_type": "ecdsa"}


def on_ca_host(lab, name: str, **variables) -> str:
    """The lab's inventory with ``variables`` set on the CA host db1 only."""
    data = yaml.safe_load(open(lab.inventory))
    data["all"]["children"]["pg_servers"]["hosts"]["db1"].update(variables)
    path = os.path.join(lab.base, name)
    with open(path, "w") as handle:
        yaml.safe_dump(data, handle)
    return path


def none_failed(results: dict, during: str) -> None:
    """Print what each loop attempted (the closing note's numbers) and assert that no connection failed."""
    print("\nconnections during %s:" % during)
    for result in results.values():
        print("  %-10s attempted %5d  failed %d" % (result.name, result.attempted, result.failed))
    for result in results.values():
        assert result.failed == 0, result.failures
        assert result.attempted >= 100, result  # about 10 a second: the loops ran through every run


def conninfo(lab, user: str) -> str:
    directory = lab.client_dir(user)
    return ("host=localhost port=%d dbname=postgres user=%s sslmode=verify-full connect_timeout=10 "
            "sslrootcert=%s/root.crt sslcert=%s/client.crt sslkey=%s/client.key sslcrl=%s/root.crl"
            % (lab.cluster.port, user, directory, directory, directory, directory))


def pem_certificates(path: str) -> list:
    return x509.load_pem_x509_certificates(open(path, "rb").read())


def crl_count(path: str) -> int:
    return open(path).read().count("BEGIN X509 CRL")


def issuer(path: str) -> str:
    return x509.load_pem_x509_certificate(open(path, "rb").read()).issuer.rfc4514_string()


def leaves(lab) -> dict:
    return {"db1": os.path.join(lab.ssl_dir, "server.crt"),
            **{user: os.path.join(lab.client_dir(user), "client.crt") for user in ("app1", "app2")}}


def trust_files(lab) -> list:
    return [lab.ssl_dir, lab.client_dir("app1"), lab.client_dir("app2")]


G1 = "CN=certkeeper.pki PostgreSQL CA"
G2 = "CN=certkeeper.pki PostgreSQL CA,OU=generation 2"


def listed(lab, host: str, *args: str) -> str:
    """certkeeper list on ``host``'s store, as the command prints it."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert certkeeper(["--store", os.path.join(lab.base, "store-" + host), "list", *args]) == 0
    return out.getvalue()


def cas_reported(lab, host: str) -> list:
    """The CA certificates the fleet report's host part finds on ``host``."""
    rows = host_report(os.path.join(lab.base, "store-" + host), [])["certificates"]
    return sorted({row["certificate"]["subject"] for row in rows if row["source"] == "ca"})


def crl_issuers(lab, host: str) -> list:
    """The issuers of the CRLs ``host`` serves, as certkeeper list --json shows them (not the CA's own CRL)."""
    served = os.path.join(lab.ssl_dir if host == "db1" else lab.client_dir(host), "root.crl")
    (crl,) = [item for item in json.loads(listed(lab, host, "--crls", "--json")) if item.get("crl_location") == served]
    return sorted(entry["issuer"] for entry in crl["crls"])


def test_a_ca_rollover_takes_three_runs_and_no_connection_fails(lab, java_classpath):
    first = lab.run()
    assert first.returncode == 0, first.output
    rollover = on_ca_host(lab, "rollover.yml", **ROLLOVER)
    keys = {user: [open(os.path.join(lab.client_dir(user), name), "rb").read() for name in ("client.key", "client.pk8")]
            for user in ("app1", "app2")}
    with ConnectionLoops() as loops:
        for user in ("app1", "app2"):
            loops.add_psql(user, conninfo(lab, user))
        app1 = lab.client_dir("app1")
        loops.add_jdbc("app1-jdbc", java_classpath, "jdbc:postgresql://localhost:%d/postgres" % lab.cluster.port,
                       user="app1", sslmode="verify-full", sslrootcert=os.path.join(app1, "root.crt"),
                       sslkey=os.path.join(app1, "client.pfx"), sslpassword="")
        loops.start()
        for step, says in ((1, "step 1 of 3"), (2, "step 2 of 3"), (3, "step 3 of 3")):
            before = lab.snapshot()
            check = lab.run("--check", "--diff", inventory=rollover)
            assert check.returncode == 0, check.output
            assert says in check.output, check.output
            assert lab.snapshot() == before, "step %d: check mode wrote" % step
            run = lab.run(inventory=rollover)
            assert run.returncode == 0, run.output
            assert says in run.output, run.output
            if step == 1:  # both CAs trusted everywhere, with a CRL of each; the old CA still signs
                for directory in trust_files(lab):
                    assert [c.subject.rfc4514_string() for c in pem_certificates(os.path.join(directory, "root.crt"))] \
                        == [G1, G2], directory
                    assert crl_count(os.path.join(directory, "root.crl")) == 2, directory
                assert all(issuer(path) == G1 for path in leaves(lab).values())
                assert os.stat(os.path.join(lab.ca_dir, "next", "root.key")).st_mode & 0o777 == 0o600
            if step == 2:  # the new CA signs: every leaf reissued by it, leaf keys kept; both CAs still trusted
                assert {name: issuer(path) for name, path in leaves(lab).items()} == dict.fromkeys(leaves(lab), G2)
                for user in ("app1", "app2"):  # the key and its PKCS#8 form stay: only the certificate moves
                    assert [open(os.path.join(lab.client_dir(user), name), "rb").read()
                            for name in ("client.key", "client.pk8")] == keys[user]
                assert len(pem_certificates(os.path.join(lab.ssl_dir, "root.crt"))) == 2
                assert os.path.exists(os.path.join(lab.ca_dir, "previous", "root.key"))
                # certkeeper list and the fleet report show both CAs while the rollover runs
                for host in ("db1", "app1"):
                    assert crl_issuers(lab, host) == sorted([G1, G2]), host
                    assert cas_reported(lab, host) == sorted([G1, G2]), host
                assert "CRLs: 2" in listed(lab, "app1", "--crls")
                assert "issuer: %s" % G2 in listed(lab, "app1")  # app1's certificate, from the new CA
            if step == 3:  # the old CA leaves every bundle; its key is archived root-only
                for directory in trust_files(lab):
                    assert [c.subject.rfc4514_string() for c in pem_certificates(os.path.join(directory, "root.crt"))] \
                        == [G2], directory
                    assert crl_count(os.path.join(directory, "root.crl")) == 1, directory
                archived = glob.glob(os.path.join(lab.ca_dir, "archive", "g1-*", "root.key"))
                assert len(archived) == 1 and os.stat(archived[0]).st_mode & 0o777 == 0o600
                assert not os.path.exists(os.path.join(lab.ca_dir, "previous", "root.key"))
                for host in ("db1", "app1"):
                    assert crl_issuers(lab, host) == [G2] and cas_reported(lab, host) == [G2], host
            assert loops.results_so_far()["app1"].failed == 0, loops.results_so_far()
        again = lab.run(inventory=rollover)
        assert again.returncode == 0, again.output
        assert again.changed == {}, again.output
        results = loops.stop()
    none_failed(results, "the rollover (3 runs, 3 check runs, a rerun)")
