"""pg_hba.conf under attack, with the real PostgreSQL 15 of the lab deciding each login (issue 21, item 4).

Before the guard, ``pg_mtls_hba_rules`` was pasted raw: ``address: "127.0.0.1/32 trust #"`` wrote a ``trust`` rule
(a superuser login without a certificate), a line break in ``options`` added a plain ``host ... trust`` rule; a
managed block found below a user's ``trust`` rule stayed there (changed=0), and a stray BEGIN/END pair deleted the
user's lines between them. Each case here is one of those attacks through the role, as a user's inventory gives it.
"""

from __future__ import annotations

import os
import subprocess

import pytest

from tests.unit.test_pg_hba import VALID

pytestmark = pytest.mark.integration

BEGIN = "# BEGIN certkeeper.pki pg_mtls (managed: edits inside this block are replaced)"
END = "# END certkeeper.pki pg_mtls"
USER_TRUST = "host all all 127.0.0.1/32 trust"


@pytest.fixture(scope="module")
def working(lab):
    run = lab.run()
    assert run.returncode == 0, run.output
    return lab


def hba_path(lab) -> str:
    return os.path.join(lab.cluster.data, "pg_hba.conf")


def hba_bytes(lab) -> bytes:
    with open(hba_path(lab), "rb") as handle:
        return handle.read()


def write_hba(lab, data: bytes, reload: bool = True) -> None:
    with open(hba_path(lab), "wb") as handle:
        handle.write(data)
    if reload:
        lab.cluster.pg_ctl("reload")
        lab.cluster.sql("select pg_sleep(0.5)")  # the postmaster re-reads pg_hba.conf on SIGHUP, asynchronously


def login(lab, user="postgres", sslmode="require", files_of=None) -> subprocess.CompletedProcess:
    """psql over TCP to the lab's cluster; without ``files_of`` no client certificate is offered at all."""
    nothing = os.path.join(lab.base, "no-such-file")
    directory = lab.client_dir(files_of) if files_of else None
    conninfo = "host=127.0.0.1 port=%d dbname=postgres user=%s sslmode=%s sslcert=%s sslkey=%s" % (
        lab.cluster.port, user, sslmode, os.path.join(directory, "client.crt") if directory else nothing,
        os.path.join(directory, "client.key") if directory else nothing)
    return subprocess.run(["psql", "-w", conninfo, "-Atc", "select current_user"], stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, check=False, env=dict(os.environ, PGPASSWORD=""))


def assert_no_login_without_certificate(lab):
    for sslmode in ("require", "disable"):
        result = login(lab, sslmode=sslmode)
        assert result.returncode != 0, "postgres logged in without a certificate (sslmode=%s): %s" % (
            sslmode, result.stdout)
    assert "connection requires a valid client certificate" in login(lab).stdout


# (case, the rule as the inventory gives it, the bad value the message must name)
INJECTIONS = [
    ("trust-after-address", {"address": "127.0.0.1/32 trust #"}, "127.0.0.1/32 trust #"),
    ("host-line-in-options", {"address": "127.0.0.1/32", "options": "clientcert=verify-full\n" + USER_TRUST},
     "'%s'" % USER_TRUST),
    ("trust-in-user", {"address": "127.0.0.1/32", "user": "all 127.0.0.1/32 trust #"}, "all 127.0.0.1/32 trust #"),
    ("user-all-trust", {"address": "127.0.0.1/32", "user": "all trust"}, "all all trust 127.0.0.1/32 cert"),
    ("trust-in-database", {"address": "127.0.0.1/32", "database": "all all 127.0.0.1/32 trust"},
     "the method field (5th) is 'trust'"),
    ("carriage-return-in-options", {"address": "127.0.0.1/32", "options": "clientcert=verify-full\rhost all all "
                                    "127.0.0.1/32 trust"}, "the character '\\\\r'"),  # as JSON prints it
    ("verify-ca", {"address": "127.0.0.1/32", "options": "clientcert=verify-ca"}, "'clientcert=verify-ca'"),
    ("address-without-mask", {"address": "127.0.0.1"}, "'127.0.0.1' needs a CIDR mask"),
]


@pytest.mark.parametrize("rule, bad", [case[1:] for case in INJECTIONS], ids=[case[0] for case in INJECTIONS])
def test_an_injected_rule_is_refused_and_pg_hba_stays_as_it_was(working, rule, bad):
    lab = working
    before, hba = lab.snapshot(), hba_bytes(lab)
    try:
        run = lab.run(inventory=lab.write_inventory("hba-injection.yml", db1={"pg_mtls_hba_rules": [rule]}))
        assert_no_login_without_certificate(lab)  # what the attack is after, asked first
        assert run.returncode != 0, run.output
        failure = next(line for line in run.output.splitlines() if line.startswith("fatal: [db1]"))
        assert "pg_mtls_hba_rules: " in failure and failure.rstrip('"}').endswith("(host db1)"), failure
        assert bad in failure, failure
        assert hba_bytes(lab) == hba and lab.snapshot() == before
    finally:
        if hba_bytes(lab) != hba:  # only when the guard failed: the next case starts from the good file
            write_hba(lab, hba)


def test_a_block_below_a_users_trust_rule_is_moved_above_it(working):
    lab = working
    original = hba_bytes(lab)
    lines = original.decode().splitlines()
    assert lines[0] == BEGIN
    end = lines.index(END)
    # the user puts a trust rule at the top, above the managed block
    planted = "\n".join(["# the user's trust rule, above the block", USER_TRUST, *lines]) + "\n"
    write_hba(lab, planted.encode())
    try:
        # the threat: with the user's rule first, TLS without any certificate logs in as the superuser
        before_move = login(lab)
        assert before_move.returncode == 0 and before_move.stdout.strip() == "postgres", before_move.stdout

        check = lab.run("--check", "--diff")
        assert check.returncode == 0, check.output
        assert check.changed == {"db1": 1}, check.output
        reason = "move the certkeeper.pki block above the first rule (line 2)"
        assert "%s (%s)" % (hba_path(lab), reason) in check.output, check.output
        assert "-# (lines 3-%d, below the rule on line 2)" % (end + 3) in check.output
        assert "+# (lines 1-%d, above every rule)" % (end + 1) in check.output
        assert USER_TRUST not in check.output  # --diff shows the block, never the user's lines
        assert hba_bytes(lab) == planted.encode()

        run = lab.run("--diff")
        assert run.returncode == 0, run.output
        assert run.changed == {"db1": 2}, run.output  # the pg_hba.conf change and the reload it notified
        assert "%s (%s)" % (hba_path(lab), reason) in run.output
        moved = hba_bytes(lab).decode().splitlines()
        assert moved == lines[: end + 1] + ["# the user's trust rule, above the block", USER_TRUST] + lines[end + 1 :]

        # now the hostssl cert rule matches first: TLS without a certificate is refused, with one a client logs in
        refused = login(lab)
        assert refused.returncode != 0 and "connection requires a valid client certificate" in refused.stdout
        app1 = login(lab, user="app1", sslmode="require", files_of="app1")
        assert app1.returncode == 0 and app1.stdout.strip() == "app1", app1.stdout
        # (the user's own rule still admits what the block does not match: a connection without TLS)
        assert login(lab, sslmode="disable").returncode == 0

        rerun = lab.run()
        assert rerun.returncode == 0 and rerun.changed == {}, rerun.output
    finally:
        write_hba(lab, original)
    assert_no_login_without_certificate(lab)


def damaged(lines: list, case: str) -> list:
    end = lines.index(END)
    if case == "begin-without-end":
        return lines[:end] + lines[end + 1 :]
    if case == "end-before-begin":
        return ["local all all peer", END] + lines
    if case == "nested-begin":
        return lines[:1] + [BEGIN] + lines[1:]
    if case == "stray-pair-around-user-rules":  # no managed block: the user's lines between a BEGIN and an END
        return ["# the user's own rules", BEGIN, USER_TRUST.replace("trust", "scram-sha-256"), END] + lines[end + 1 :]
    raise AssertionError(case)


MARKER_CASES = [
    ("begin-without-end", "BEGIN on line 1 has no END (marker lines: 1)"),
    ("end-before-begin", "END on line 2 without a BEGIN before it (marker lines: 2, 3, {end3})"),
    ("nested-begin", "BEGIN on line 2 inside the block opened on line 1 (marker lines: 1, 2, {end2})"),
    ("stray-pair-around-user-rules", "lines 2-4 between the certkeeper.pki markers hold lines this collection does "
                                     "not write (line 3: 'host all all 127.0.0.1/32 scram-sha-256')"),
]


@pytest.mark.parametrize("case, problem", MARKER_CASES, ids=[case for case, _problem in MARKER_CASES])
def test_markers_out_of_order_fail_naming_the_lines_and_change_nothing(working, case, problem):
    lab = working
    original = hba_bytes(lab)
    lines = original.decode().splitlines()
    end = lines.index(END)
    bad = ("\n".join(damaged(lines, case)) + "\n").encode()
    write_hba(lab, bad, reload=False)
    try:
        before = lab.snapshot()
        for args in (("--check", "--diff"), ()):
            run = lab.run(*args)
            assert run.returncode != 0, run.output
            failure = next(line for line in run.output.splitlines() if line.startswith("fatal: [db1]"))
            assert "pg_hba.conf %s: " % hba_path(lab) in failure, failure
            assert problem.format(end2=end + 2, end3=end + 3) in failure, failure
            assert "nothing was changed" in failure
            assert hba_bytes(lab) == bad and lab.snapshot() == before
    finally:
        write_hba(lab, original, reload=False)


def test_postgresql_reads_every_rule_the_guard_lets_through(working):
    """The guard is no stricter in words than PostgreSQL: each rule it accepts parses without error
    (pg_hba_file_rules reads the file on disk; nothing is reloaded)."""
    lab = working
    original = hba_bytes(lab)
    write_hba(lab, ("local all all trust\n" + "\n".join(VALID) + "\n").encode(), reload=False)
    try:
        errors = lab.cluster.sql("select line_number || ': ' || error from pg_hba_file_rules where error is not null")
        parsed = lab.cluster.sql("select count(*) from pg_hba_file_rules where type = 'hostssl' and auth_method = "
                                 "'cert'")
    finally:
        write_hba(lab, original, reload=False)
    assert errors == "" and int(parsed) == len(VALID), errors
