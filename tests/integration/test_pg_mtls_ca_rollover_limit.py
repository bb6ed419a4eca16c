"""A CA rollover the way operators run it when not every host can move at once: step 2 with --limit to one client
moves that client only while the others keep working on the old CA, step 3 waits for them and says who holds it
back, a full run moves them, the next retires the old CA. Bad input on the way (another generation mid-way, a
generation taken back, a waiver naming no host) fails in the role variables' words and changes nothing.

psql as app2 and a JVM as app2 (client.pfx) keep connecting through every run: the hosts outside --limit must not
notice."""

from __future__ import annotations

import os

import pytest
from cryptography import x509

from tests.integration.test_pg_mtls_ca_rollover import G1, G2, ROLLOVER, conninfo, issuer, leaves, none_failed, \
    on_ca_host, pem_certificates
from tests.support.connection_loops import ConnectionLoops

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def loops(lab, java_classpath):
    first = lab.run()
    assert first.returncode == 0, first.output
    app2 = lab.client_dir("app2")
    with ConnectionLoops() as running:
        running.add_psql("app1", conninfo(lab, "app1"))
        running.add_psql("app2", conninfo(lab, "app2"))
        running.add_jdbc("app2-jdbc", java_classpath, "jdbc:postgresql://localhost:%d/postgres" % lab.cluster.port,
                         user="app2", sslmode="verify-full", sslrootcert=os.path.join(app2, "root.crt"),
                         sslkey=os.path.join(app2, "client.pfx"), sslpassword="")
        running.start()
        yield running


# A revocation stays listed through the rollover (the hosts' report is recorded alone, without it); a serial the
# index never knew is listed by both CAs' CRLs, since either may have issued it.
REVOKED = [{"name": "gone", "serial": "5eed", "reason": "superseded"}]


@pytest.fixture(scope="module")
def rollover(lab):
    return on_ca_host(lab, "rollover.yml", pg_mtls_revoked=REVOKED, **ROLLOVER)


def listed_serials(path: str) -> list:
    marker = "-----BEGIN X509 CRL-----"
    text = open(path).read()
    return [[entry.serial_number for entry in x509.load_pem_x509_crl((marker + part).encode())]
            for part in text.split(marker)[1:]]


def refused(lab, inventory: str, *words: str) -> None:
    """A run that fails naming ``words`` and changes no file."""
    before = lab.snapshot()
    run = lab.run(inventory=inventory)
    assert run.returncode != 0, run.output
    for word in words:
        assert word in run.output, run.output
    assert lab.snapshot() == before


def test_step_two_with_limit_moves_one_client_and_step_three_waits_for_the_others(lab, loops, rollover):
    step1 = lab.run(inventory=rollover)
    assert step1.returncode == 0 and "step 1 of 3" in step1.output, step1.output

    limited = lab.run("--limit", "app1", inventory=rollover)
    assert limited.returncode == 0 and "step 2 of 3" in limited.output, limited.output
    assert {name: issuer(path) for name, path in leaves(lab).items()} == {"db1": G1, "app1": G2, "app2": G1}
    for directory in (lab.ssl_dir, lab.client_dir("app2")):  # hosts outside --limit keep both CAs
        assert len(pem_certificates(os.path.join(directory, "root.crt"))) == 2
        assert listed_serials(os.path.join(directory, "root.crl")) == [[0x5EED], [0x5EED]]

    waiting = lab.run("--limit", "app1", inventory=rollover)
    assert waiting.returncode == 0, waiting.output
    assert "step 3 of 3 waits" in waiting.output and "db1 (serial" in waiting.output \
        and "app2 (serial" in waiting.output, waiting.output
    assert os.path.exists(os.path.join(lab.ca_dir, "previous", "root.key"))
    assert len(pem_certificates(os.path.join(lab.client_dir("app1"), "root.crt"))) == 2
    assert loops.results_so_far()["app2"].failed == 0


def test_another_generation_while_one_rolls_over_is_refused_in_the_role_variables_words(lab, loops):
    refused(lab, on_ca_host(lab, "generation3.yml", pg_mtls_ca_generation=3),
            "pg_mtls_ca_generation is 3 but the rollover to generation 2", "nothing was changed", "(host db1)")
    refused(lab, on_ca_host(lab, "rsa.yml", pg_mtls_ca_generation=2),
            "pg_mtls_ca_key_type and pg_mtls_ca_key_size ask for RSA", "nothing was changed")
    refused(lab, on_ca_host(lab, "waive.yml", pg_mtls_ca_rollover_waive=["app9"], **ROLLOVER),
            "pg_mtls_ca_rollover_waive names app9")


def test_a_full_run_moves_the_rest_the_next_retires_the_old_ca_and_a_rerun_changes_nothing(lab, loops, rollover):
    moved = lab.run(inventory=rollover)
    assert moved.returncode == 0, moved.output
    assert set(issuer(path) for path in leaves(lab).values()) == {G2}
    retired = lab.run(inventory=rollover)
    assert retired.returncode == 0 and "step 3 of 3: every server and client ran" in retired.output, retired.output
    for directory in (lab.ssl_dir, lab.client_dir("app1"), lab.client_dir("app2")):
        assert [c.subject.rfc4514_string() for c in pem_certificates(os.path.join(directory, "root.crt"))] == [G2]
    again = lab.run(inventory=rollover)
    assert again.returncode == 0 and again.changed == {}, again.output
    refused(lab, lab.inventory, "pg_mtls_ca_generation is 1 but the CA is at generation 2",
            "never taken back")
    none_failed(loops.stop(), "the --limit rollover")
