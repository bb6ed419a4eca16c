"""What a stamp covers comes from the plan that was applied: the files it was made from or changed, until the first
of its deadlines. A planner that reads one more file (the CRL) or verifies one more deadline (the CRL's renewal
window) is covered without a word in the stamp's code; nothing keeps a list of them by hand."""

from __future__ import annotations

import datetime
import json
import os

import pytest

from ansible_collections.certkeeper.pki.plugins.module_utils._ca import revocation
from ansible_collections.certkeeper.pki.plugins.module_utils._core import crypto, stamp_record
from ansible_collections.certkeeper.pki.plugins.module_utils._core.files import (
    ROOT_ONLY_FILE,
    Change,
    FileState,
    Plan,
    apply_plan,
    read_state,
)
from ansible_collections.certkeeper.pki.plugins.module_utils._core.policy import due_at
from ansible_collections.certkeeper.pki.plugins.module_utils._core.stamp import STAMP_NAME, recorded_result
from ansible_collections.certkeeper.pki.plugins.module_utils._pg_mtls import run as pg_mtls_run
from ansible_collections.certkeeper.pki.plugins.module_utils._pg_mtls.plan import CARequest, ca_paths, plan_ca, plan_ca_records
from ansible_collections.certkeeper.pki.plugins.module_utils._pg_mtls.run import run_pg_mtls_certs
from ansible_collections.certkeeper.pki.plugins.module_utils._tracking.request import TrackedRequest
from ansible_collections.certkeeper.pki.plugins.module_utils._tracking.store import Store
from tests.support.pg_mtls_options import DEFAULTS

NOW = datetime.datetime.now(datetime.timezone.utc)


def server_options(tmp_path, **extra) -> dict:
    return dict(DEFAULTS, role="server", path=str(tmp_path / "srv"), ca_path=str(tmp_path / "ca"), common_name="db1",
                **extra)


def stamp_of(directory) -> dict:
    with open(os.path.join(str(directory), STAMP_NAME)) as handle:
        return json.load(handle)


def touch(path) -> None:
    with open(path, "ab") as handle:
        handle.write(b"# one more line\n")


@pytest.fixture
def stray(tmp_path):
    """A file beside the server's own that no planner reads (say a backup someone left there)."""
    (tmp_path / "srv").mkdir()
    path = tmp_path / "srv" / "server.crt.bak"
    path.write_bytes(b"-----BEGIN CERTIFICATE-----\n")
    return str(path)


def test_a_file_no_plan_read_is_not_covered(tmp_path, stray):
    options = server_options(tmp_path)
    run_pg_mtls_certs(options, False)
    assert stray not in stamp_of(tmp_path / "srv")["files"]
    touch(stray)
    assert recorded_result(options["path"], options) is not None


def test_a_file_one_more_planner_reads_is_covered_and_its_change_sends_the_next_run_down_the_full_path(
        monkeypatch, tmp_path, stray):
    read_leaf_states = pg_mtls_run._read_leaf_states

    def reads_the_backup_too(request):  # as a planner that checks it would be given it
        return dict(read_leaf_states(request), **{"server.crt.bak": read_state(stray)})

    monkeypatch.setattr(pg_mtls_run, "_read_leaf_states", reads_the_backup_too)
    options = server_options(tmp_path)
    run_pg_mtls_certs(options, False)
    monkeypatch.undo()
    assert stray in stamp_of(tmp_path / "srv")["files"]
    assert recorded_result(options["path"], options) is not None
    touch(stray)
    assert recorded_result(options["path"], options) is None


def test_the_leaf_reads_root_crl_whether_or_not_a_crl_is_handed_in(tmp_path):
    options = server_options(tmp_path)
    run_pg_mtls_certs(options, False)
    crl = os.path.join(options["path"], "root.crl")
    assert crl in stamp_of(options["path"])["files"]  # missing, and covered as missing
    with open(crl, "wb") as handle:
        handle.write(b"-----BEGIN X509 CRL-----\n")
    assert recorded_result(options["path"], options) is None


def test_a_batch_the_ca_signs_leaves_the_stamps_of_the_ca_and_of_the_ca_hosts_own_call_standing(tmp_path):
    """The batch writes the CA index: the CA call's stamp records the plain call's answer, the CA host's own call
    does not cover the index (it only appends what it signs); a revocation changes root.crl, which both cover."""
    server = server_options(tmp_path)
    ca = dict(DEFAULTS, role="ca", path=server["ca_path"])
    run_pg_mtls_certs(server, False)  # the CA host's own call: the CA made, its certificate signed and indexed
    run_pg_mtls_certs(ca, False)
    client = dict(DEFAULTS, role="client", path=str(tmp_path / "cli"), common_name="app",
                  ca_certificate=run_pg_mtls_certs(ca, False)["ca_certificate"])
    csr = run_pg_mtls_certs(client, False)["csr"]
    run_pg_mtls_certs(dict(ca, sign=[dict(name="cli", csr=csr, profile="client", common_name="app",
                                          subject_alt_names=[])]), False)
    assert recorded_result(server["path"], server) is not None and recorded_result(ca["path"], ca) is not None
    run_pg_mtls_certs(dict(ca, revoke=[dict(name="cli", reason="superseded")]), False)
    assert recorded_result(server["path"], server) is None


def test_the_ca_call_is_covered_until_its_crl_enters_its_renewal_window(tmp_path):
    ca = str(tmp_path / "ca")
    options = dict(DEFAULTS, role="ca", path=ca, crl_valid_days=9)
    result = run_pg_mtls_certs(options, False)
    stamp = stamp_of(ca)
    assert {os.path.join(ca, "index.json"), os.path.join(ca, "root.crl")} <= set(stamp["files"])
    next_update = datetime.datetime.fromisoformat(result["crl_next_update"])
    assert stamp["valid_until"] == (next_update - datetime.timedelta(days=3)).timestamp()
    assert recorded_result(ca, options) is not None
    touch(os.path.join(ca, "index.json"))
    assert recorded_result(ca, options) is None


def test_a_part_that_read_one_more_record_is_covered(monkeypatch, tmp_path):
    """A part of the call's plan (here the configuration's) that loaded a file besides read_state is covered too."""
    elsewhere = tmp_path / "conf.d" / "ssl.conf"
    elsewhere.parent.mkdir()
    elsewhere.write_text("ssl = on\n")
    config_plan = pg_mtls_run._config_plan

    def reads_an_include_too(params):
        plan = config_plan(params)
        plan.read.append(str(elsewhere))
        return plan

    monkeypatch.setattr(pg_mtls_run, "_config_plan", reads_an_include_too)
    options = server_options(tmp_path)
    run_pg_mtls_certs(options, False)
    monkeypatch.undo()
    assert recorded_result(options["path"], options) is not None
    touch(elsewhere)
    assert recorded_result(options["path"], options) is None


def test_a_plan_with_an_earlier_deadline_ends_the_stamp_then(monkeypatch, tmp_path):
    next_update = NOW + datetime.timedelta(days=7)  # a CRL's nextUpdate, well before the certificate is due
    plan_leaf = pg_mtls_run.plan_leaf

    def verifies_a_crl_too(*args, **kwargs):
        plan = plan_leaf(*args, **kwargs)
        plan.deadlines.append(next_update)
        return plan

    monkeypatch.setattr(pg_mtls_run, "plan_leaf", verifies_a_crl_too)
    options = server_options(tmp_path)
    run_pg_mtls_certs(options, False)
    assert stamp_of(tmp_path / "srv")["valid_until"] == next_update.timestamp()
    assert recorded_result(options["path"], options, now=next_update.timestamp() - 1) is not None
    assert recorded_result(options["path"], options, now=next_update.timestamp()) is None


def test_the_stamp_covers_the_files_the_ca_and_the_leaf_were_planned_from(tmp_path):
    options = server_options(tmp_path)
    run_pg_mtls_certs(options, False)
    srv, ca = options["path"], options["ca_path"]
    os.chmod(os.path.join(srv, "server.crt"), 0o600)
    assert run_pg_mtls_certs(options, False)["changed"]  # a run that changes one file and reads the others
    assert set(stamp_of(srv)["files"]) == {
        srv, os.path.join(srv, "server.key"), os.path.join(srv, "server.crt"), os.path.join(srv, "root.crt"),
        os.path.join(srv, "server.key.pending"), os.path.join(srv, "root.crl"),
        ca, os.path.join(ca, "root.key"), os.path.join(ca, "root.crt"), os.path.join(ca, "root.crl"),
        os.path.join(ca, "rollover.json"),  # a CA key rollover's record and layout: each step moves this host on
        *(os.path.join(ca, sub, *name)
          for sub in ("next", "previous") for name in ((), ("root.key",), ("root.crt",), ("root.crl",))),
    }  # not the CA index: the CA call's stamp covers it (a batch the CA signs leaves this stamp standing)
    os.chmod(os.path.join(ca, "root.crt"), 0o600)  # the CA part of the plan moved
    assert recorded_result(srv, options) is None


def test_a_record_of_the_earlier_version_that_appears_sends_the_next_run_down_the_full_path(tmp_path):
    """The tracking part loads the record of versions before 0.2 (pg_mtls-server) too: it is covered with the rest."""
    store = Store(str(tmp_path / "store"))
    options = server_options(tmp_path, track=dict(store=store.directory, id=None, post_save_command=""))
    first = run_pg_mtls_certs(options, False)
    assert store.path("pg_mtls-server") in stamp_of(options["path"])["files"]
    assert recorded_result(options["path"], options) is not None
    cert_path = os.path.join(options["path"], "server.crt")
    store.save(TrackedRequest(id="pg_mtls-server", cert_path=cert_path, key_path=cert_path[:-3] + "key", ca="local",
                              subject="CN=db1", profile="server", last_renewed="2026-01-02T03:04:05Z"))
    assert recorded_result(options["path"], options) is None
    again = run_pg_mtls_certs(options, False)  # the full path takes it over
    assert [c["reason"] for c in again["changes"]] == ["moved to %s (one record per certificate)" % first["tracking_id"]]
    assert store.ids() == [first["tracking_id"]]


# --- stamp_record.record and Plan, by themselves ----------------------------------------------------------------

@pytest.fixture
def secret(tmp_path):
    path = tmp_path / "secret.key"
    path.write_bytes(b"the key the digest is keyed with\n")
    os.chmod(path, 0o600)
    return str(path)


def test_record_covers_what_the_plan_read_and_changed_until_its_first_deadline(tmp_path, secret):
    read, written = tmp_path / "read.pem", tmp_path / "written.pem"
    read.write_bytes(b"read\n")
    sooner, later = NOW + datetime.timedelta(days=1), NOW + datetime.timedelta(days=2)
    plan = Plan([Change(str(written), "test", ROOT_ONLY_FILE, b"written\n")], read=[read_state(str(read)).path, secret],
                deadlines=[later, sooner])
    apply_plan(plan)
    options = {"path": str(tmp_path)}
    stamp_record.record(str(tmp_path), options, secret, plan, {"changed": False})
    stamp = stamp_of(tmp_path)
    assert set(stamp["files"]) == {str(read), str(written), secret}
    assert stamp["valid_until"] == sooner.timestamp()
    assert recorded_result(str(tmp_path), options) == {"changed": False}
    touch(written)
    assert recorded_result(str(tmp_path), options) is None


def test_a_plan_that_verified_nothing_that_ends_gives_no_stamp(tmp_path, secret):
    plan = Plan(read=[secret])
    stamp_record.record(str(tmp_path), {}, secret, plan, {"changed": False})
    assert not os.path.exists(tmp_path / STAMP_NAME)


def test_a_plan_takes_in_its_parts_with_what_they_cover():
    whole, part = Plan(read=["/a"], deadlines=[NOW]), Plan(["change"], ["warning"], ["/b"], [NOW])
    whole.include(part)
    expected = (["change"], ["warning"], ["/a", "/b"], [NOW, NOW])
    assert (whole.changes, whole.warnings, whole.read, whole.deadlines) == expected


def test_the_ca_plan_was_made_from_its_states_and_holds_until_the_ca_is_due_or_the_crl_must_be_signed(tmp_path):
    directory = str(tmp_path / "ca")
    states = {path: FileState(path) for path in ca_paths(directory)}
    assert {os.path.join(directory, name) for name in ("root.key", "root.crt", "root.crl", "index.json")} <= set(states)
    request = CARequest(directory, renew_before_days=40)
    plan = plan_ca(request, states, now=NOW)
    assert plan.read == sorted(states)
    assert plan.deadlines == [due_at(plan.certificate, 40, fraction=None)]
    assert crypto.is_ca_certificate(plan.certificate)
    plan_ca_records(plan, 30, NOW)
    assert plan.deadlines[-1] == plan.crl.next_update_utc - datetime.timedelta(days=10)
    assert revocation.crl_problem(plan.crl, plan.certificate, [], NOW) is None
