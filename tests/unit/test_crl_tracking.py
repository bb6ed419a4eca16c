"""The CRL never lapses between playbook runs: pg_mtls_certs registers each CRL it installs in the host's tracking
store, and the certkeeper timer (verbs.renew, what `certkeeper renew --all` runs) re-signs the CA's CRL on the CA host
and reports it due on a host without the CA. Real files, keys and CRLs; the timer's clock is moved, not the files'."""

from __future__ import annotations

import datetime
import json
import os

import pytest

from ansible_collections.certkeeper.pki.plugins.module_utils._ca import revocation
from ansible_collections.certkeeper.pki.plugins.module_utils._core import crypto
from ansible_collections.certkeeper.pki.plugins.module_utils._core.crypto import CertError
from ansible_collections.certkeeper.pki.plugins.module_utils._host.cli import main
from ansible_collections.certkeeper.pki.plugins.module_utils._tracking.crl import TrackedCRL, crl_id_for
from ansible_collections.certkeeper.pki.plugins.module_utils._tracking.listing import format_listing
from ansible_collections.certkeeper.pki.plugins.module_utils._tracking.store import Store
from ansible_collections.certkeeper.pki.plugins.module_utils._tracking.verbs import listing, renew
from tests.unit.test_pg_mtls import run
from tests.unit.test_pg_mtls_revocation import index_of, read

NOW = datetime.datetime.now(datetime.timezone.utc)
IN_WINDOW = NOW + datetime.timedelta(days=21)  # a 30-day CRL has 9 days left: less than a third
EXPIRED = NOW + datetime.timedelta(days=31)


class Runner:
    """The post-save command's runner: records what it was asked to run."""

    def __init__(self, code=0):
        self.code, self.commands = code, []

    def __call__(self, command):
        self.commands.append(command)
        return self.code, "", "reload failed" if self.code else ""


def crl_of(path: str):
    return revocation.load_crl(read(path))


def only_crl(store: str) -> dict:
    (item,) = [item for item in listing(Store(store)) if item["kind"] == "crl"]
    return item


def test_every_host_that_installs_a_crl_tracks_it_with_its_next_update(crl_lab):
    ca_crl = only_crl(crl_lab["stores"]["ca"])
    assert ca_crl["crl_location"] == os.path.join(crl_lab["ca"], "root.crl") and ca_crl["ca"] == "local"
    server_crl = only_crl(crl_lab["stores"]["db1"])
    assert server_crl["crl_location"] == str(crl_lab["tmp"] / "db1" / "root.crl")
    assert server_crl["ca"] == "local" and server_crl["post_save_command"] == "reload postgresql"
    client_crl = only_crl(crl_lab["stores"]["app1"])
    assert client_crl["ca"] == "ansible" and client_crl["status"] == "MONITORING"
    assert client_crl["next_update"] == revocation.crl_next_update(crl_of(os.path.join(crl_lab["ca"], "root.crl")))
    assert client_crl["crl_number"] == 1 and client_crl["revoked"] == 0
    text = format_listing(listing(Store(crl_lab["stores"]["app1"])))
    assert "Number of certificates and requests being tracked: 1." in text
    assert "Number of CRLs being tracked: 1." in text and "\tnext update: %s" % client_crl["next_update"][:10] in text


def test_the_timer_on_the_ca_host_re_signs_the_crl_in_its_window_and_not_before(crl_lab):
    ca_crl = os.path.join(crl_lab["ca"], "root.crl")
    before = read(ca_crl)
    assert [o.action for o in renew(Store(crl_lab["stores"]["ca"]))] == ["not due"]
    assert read(ca_crl) == before  # not rewritten: its bytes stay
    (outcome,) = renew(Store(crl_lab["stores"]["ca"]), now=IN_WINDOW)
    assert outcome.action == "renewed" and outcome.status == "MONITORING", outcome
    crl = crl_of(ca_crl)
    assert revocation.crl_number(crl) == 2 == index_of(crl_lab["ca"]).crl_number
    assert crl.next_update_utc > IN_WINDOW + datetime.timedelta(days=29)
    assert revocation.crls_per_ca(read(ca_crl), [ca_certificate(crl_lab)], "root.crl", "root.crt")[0] is not None
    assert [o.action for o in renew(Store(crl_lab["stores"]["ca"]), now=IN_WINDOW)] == ["not due"]


def ca_certificate(crl_lab):
    return crypto.load_certificate(read(os.path.join(crl_lab["ca"], "root.crt")))


def test_a_re_signed_crl_still_lists_what_the_ca_revoked(crl_lab):
    revoked = run(**crl_lab["ca_call"], revoke=[dict(name="app1", reason="cessationOfOperation")])
    serial = revoked["revoked"][0]["serial"]
    renew(Store(crl_lab["stores"]["ca"]), now=IN_WINDOW)
    crl = crl_of(os.path.join(crl_lab["ca"], "root.crl"))
    assert revocation.crl_number(crl) == 3
    assert revocation.listed_reason(crl, int(serial, 16)) == "cessationOfOperation"


def test_on_the_ca_host_that_serves_the_timer_installs_the_new_crl_and_reloads_postgresql(crl_lab):
    installed = str(crl_lab["tmp"] / "db1" / "root.crl")
    runner = Runner()
    outcomes = renew(Store(crl_lab["stores"]["db1"]), now=IN_WINDOW, runner=runner)
    by_kind = {o.id.split("-")[0]: o for o in outcomes}
    assert by_kind["crl"].action == "renewed" and "installed at " + installed in by_kind["crl"].message
    assert read(installed) == read(os.path.join(crl_lab["ca"], "root.crl"))
    assert revocation.crl_number(crl_of(installed)) == 2
    assert runner.commands == ["reload postgresql"]
    # the CA host's own record finds the CRL current: nothing signed twice, nothing reloaded
    assert [o.action for o in renew(Store(crl_lab["stores"]["ca"]), now=IN_WINDOW)] == ["not due"]
    assert renew(Store(crl_lab["stores"]["db1"]), now=IN_WINDOW, runner=runner)[-1].action == "not due"
    assert runner.commands == ["reload postgresql"]


def test_a_failing_reload_after_a_new_crl_is_post_save_failed_and_the_crl_stays(crl_lab):
    (outcome,) = [o for o in renew(Store(crl_lab["stores"]["db1"]), now=IN_WINDOW, runner=Runner(1))
                  if o.id.startswith("crl-")]
    assert outcome.status == "POST_SAVE_FAILED" and "reload failed" in outcome.message
    assert only_crl(crl_lab["stores"]["db1"])["stuck"]
    assert revocation.crl_number(crl_of(str(crl_lab["tmp"] / "db1" / "root.crl"))) == 2
    # PostgreSQL still holds the old CRL: the next tick runs the reload again, and only its success ends the status
    still = Runner(1)
    (again,) = [o for o in renew(Store(crl_lab["stores"]["db1"]), now=IN_WINDOW, runner=still) if o.id.startswith("crl-")]
    assert (again.action, again.status, still.commands) == ("failed", "POST_SAVE_FAILED", ["reload postgresql"])
    fixed = Runner()
    (done,) = [o for o in renew(Store(crl_lab["stores"]["db1"]), now=IN_WINDOW, runner=fixed) if o.id.startswith("crl-")]
    assert (done.action, done.status, fixed.commands) == ("renewed", "MONITORING", ["reload postgresql"])
    assert revocation.crl_number(crl_of(str(crl_lab["tmp"] / "db1" / "root.crl"))) == 2  # nothing signed again
    assert renew(Store(crl_lab["stores"]["db1"]), now=IN_WINDOW, runner=fixed)[-1].action == "not due"


def test_without_the_ca_a_crl_in_its_window_is_reported_and_an_expired_one_said_so(crl_lab):
    store = Store(crl_lab["stores"]["app1"])
    crl_path = str(crl_lab["tmp"] / "app1" / "root.crl")
    before = read(crl_path)
    assert [o.status for o in renew(store) if o.id.startswith("crl-")] == ["MONITORING"]
    (due,) = [o for o in renew(store, now=IN_WINDOW) if o.id.startswith("crl-")]
    assert (due.action, due.status) == ("waiting", "NEED_CA")
    assert "inside its renewal window; the next playbook run installs the CA's current CRL" in due.message
    assert only_crl(store.directory)["status"] == "NEED_CA" and not only_crl(store.directory)["stuck"]
    (expired,) = [o for o in renew(store, now=EXPIRED) if o.id.startswith("crl-")]
    assert expired.status == "NEED_CA" and "expired on" in expired.message and "refuses every certificate" in expired.message
    assert read(crl_path) == before  # a host without the CA key never writes a CRL


def test_a_playbook_run_that_installs_the_cas_new_crl_ends_the_need_ca(crl_lab):
    store = Store(crl_lab["stores"]["app1"])
    renew(store, now=IN_WINDOW)
    assert only_crl(store.directory)["status"] == "NEED_CA"
    newer = run(**crl_lab["ca_call"], revoke=[dict(name="db1.example.com", reason="superseded")])["crl"]
    result = run(**dict(crl_lab["client"], crl=newer))
    assert any("status NEED_CA -> MONITORING: CRL installed by this run" in c["reason"] for c in result["changes"])
    assert only_crl(store.directory)["status"] == "MONITORING"
    assert not run(**dict(crl_lab["client"], crl=newer))["changed"]


def test_a_crl_that_is_not_the_cas_is_need_guidance(crl_lab):
    other = run(role="ca", path=str(crl_lab["tmp"] / "other-ca"))["crl"]
    crl_path = crl_lab["tmp"] / "app1" / "root.crl"
    crl_path.write_text(other)
    (outcome,) = [o for o in renew(Store(crl_lab["stores"]["app1"])) if o.id.startswith("crl-")]
    assert outcome.status == "NEED_GUIDANCE" and "is not a CRL of the CA in" in outcome.message


def test_a_ca_call_in_check_mode_tracks_nothing_and_the_ca_options_of_a_leaf_are_refused(tmp_path):
    store = tmp_path / "store"
    result = run(check_mode=True, role="ca", path=str(tmp_path / "ca"), track=dict(store=str(store)))
    assert result["changed"] and not store.exists()
    assert any(c["path"].endswith(".json") and c["reason"] == "start tracking" for c in result["changes"])
    with pytest.raises(CertError, match=r"track.post_save_command does not apply to role=ca"):
        run(role="ca", path=str(tmp_path / "ca"), track=dict(store=str(store), post_save_command="x"))
    assert not (tmp_path / "ca").exists()


def test_the_crl_record_is_written_once_and_a_rerun_is_answered_unchanged(crl_lab):
    record = Store(crl_lab["stores"]["app1"]).path(crl_id_for(str(crl_lab["tmp"] / "app1" / "root.crl")), TrackedCRL)
    before = os.stat(record)
    assert not run(**crl_lab["client"])["changed"] and not run(**crl_lab["ca_call"])["changed"]
    assert os.stat(record).st_mtime_ns == before.st_mtime_ns


def test_the_command_lists_certificates_as_json_as_it_always_did_and_crls_on_request(crl_lab, capsys):
    store = crl_lab["stores"]["db1"]
    assert main(["--store", store, "list", "--json"]) == 0
    certificates = json.loads(capsys.readouterr().out)
    assert [item["kind"] for item in certificates] == ["certificate"]  # what consumers of --json parse
    assert main(["--store", store, "list", "--crls", "--json"]) == 0
    crls = json.loads(capsys.readouterr().out)
    assert [item["kind"] for item in crls] == ["crl"] and crls[0]["crl_location"].endswith("db1/root.crl")
    assert main(["--store", store, "list"]) == 0
    text = capsys.readouterr().out
    assert "Number of certificates and requests being tracked: 1." in text and "Number of CRLs being tracked: 1." in text
    assert main(["--store", store, "list", "-i", crls[0]["request_id"], "--json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["kind"] == "crl"
