"""A CA key rollover through the module's work, as the role drives it (one CA call, each host's call, a batch signed,
the hosts' confirmation), without Ansible: the three steps, the files of each, what holds a step back, the errors,
and a run cut short in the middle of the switch."""

from __future__ import annotations

import datetime
import json
import os

import pytest
from cryptography import x509

from ansible_collections.certkeeper.pki.plugins.module_utils._ca import rollover
from ansible_collections.certkeeper.pki.plugins.module_utils._core import crypto, files
from ansible_collections.certkeeper.pki.plugins.module_utils._core.crypto import CertError
from ansible_collections.certkeeper.pki.plugins.module_utils._tracking.store import Store
from ansible_collections.certkeeper.pki.plugins.module_utils._tracking.verbs import renew
from tests.unit.test_pg_mtls import run
from tests.unit.test_pg_mtls_revocation import client_request

HOSTS = ["db1", "app1", "app2"]


class Fleet:
    """The CA host db1 (also the server, ca_path) and clients app1, app2 that get the CA's PEMs."""

    def __init__(self, tmp_path):
        self.ca = str(tmp_path / "ca")
        self.ca_call = dict(role="ca", path=self.ca, rollover_hosts=HOSTS)
        self.server = dict(role="server", path=str(tmp_path / "db1"), ca_path=self.ca, common_name="localhost",
                           identity="db1", track=dict(store=str(tmp_path / "store-db1"), post_save_command="true"))
        self.clients = {name: dict(role="client", path=str(tmp_path / name), common_name="user_" + name)
                        for name in HOSTS[1:]}

    def run(self, generation: int = 1, hosts=None, report: bool = True, **ca_options) -> dict:
        """One playbook run over ``hosts``: the CA call, every host's call, a batch signed and installed, and the
        hosts' confirmation (the role's last task). Returns each call's result."""
        hosts = hosts or HOSTS
        ca = run(**dict(self.ca_call, ca_generation=generation, **ca_options))
        results = {"ca": ca}
        given = dict(ca_certificate=ca["ca_certificate"], ca_bundle=ca["ca_bundle"], crl=ca["crl"])
        if "db1" in hosts:
            results["db1"] = run(**dict(self.server, ca_generation=generation, crl=ca["crl"]))
        csrs = {}
        for name in hosts[1:] if "db1" in hosts else hosts:
            results[name] = run(**dict(self.clients[name], **given))
            if results[name].get("csr"):
                csrs[name] = results[name]["csr"]
        if csrs:
            signed = run(**dict(self.ca_call, ca_generation=generation, **ca_options,
                                sign=[client_request(name, csr) for name, csr in csrs.items()]))
            for name in csrs:
                results["asked " + name] = results[name]
                results[name] = run(**dict(self.clients[name], certificate=signed["certificates"][name], **given))
        if report and ca["rollover"]["phase"] != "done":
            served = {name: results[name]["certificate"]["serial_number"] for name in hosts}
            run(**dict(self.ca_call, ca_generation=generation, **ca_options, rollover_report=dict(
                generation=ca["rollover"]["generation"], phase=ca["rollover"]["phase"], hosts=served)))
        return results

    def leaf(self, name: str) -> x509.Certificate:
        path = self.server["path"] if name == "db1" else self.clients[name]["path"]
        return crypto.load_certificate(open(os.path.join(path, "server.crt" if name == "db1" else "client.crt"),
                                            "rb").read())

    def key(self, name: str) -> bytes:
        path = self.server["path"] if name == "db1" else self.clients[name]["path"]
        return open(os.path.join(path, "server.key" if name == "db1" else "client.key"), "rb").read()

    def bundle(self, name: str) -> list:
        path = self.server["path"] if name == "db1" else self.clients[name]["path"]
        return crypto.load_certificates(open(os.path.join(path, "root.crt"), "rb").read())

    def crls(self, name: str) -> str:
        path = self.server["path"] if name == "db1" else self.clients[name]["path"]
        return open(os.path.join(path, "root.crl")).read()

    def state(self) -> dict:
        return json.load(open(os.path.join(self.ca, "rollover.json")))


@pytest.fixture
def fleet(tmp_path):
    fleet = Fleet(tmp_path)
    fleet.run()
    return fleet


def test_a_rollover_takes_three_runs_each_safe_on_its_own_then_nothing_changes(fleet):
    g1 = crypto.load_certificate(open(os.path.join(fleet.ca, "root.crt"), "rb").read())
    keys = {name: fleet.key(name) for name in HOSTS}

    step1 = fleet.run(generation=2, ca_key_type="ecdsa")
    assert step1["ca"]["rollover"]["phase"] == "trust" and step1["ca"]["rollover"]["step"] == 1
    g2 = crypto.load_certificate(open(os.path.join(fleet.ca, "next", "root.crt"), "rb").read())
    assert g2.subject.rfc4514_string() == "CN=certkeeper.pki PostgreSQL CA,OU=generation 2"
    assert crypto.KeySpec.of(crypto.load_private_key(open(os.path.join(fleet.ca, "next", "root.key"), "rb").read())) \
        == crypto.KeySpec("ecdsa", 256)
    assert os.stat(os.path.join(fleet.ca, "next", "root.key")).st_mode & 0o777 == 0o600
    for name in HOSTS:
        assert fleet.bundle(name) == [g1, g2], name
        assert fleet.crls(name).count("BEGIN X509 CRL") == 2, name
        assert crypto.issued_by(fleet.leaf(name), g1), name  # the old CA keeps signing in step 1
    assert sorted(fleet.state()["holding"]) == sorted(HOSTS)

    step2 = fleet.run(generation=2, ca_key_type="ecdsa")
    assert step2["ca"]["rollover"]["phase"] == "sign"
    assert crypto.load_certificate(open(os.path.join(fleet.ca, "root.crt"), "rb").read()) == g2
    assert crypto.load_certificate(open(os.path.join(fleet.ca, "previous", "root.crt"), "rb").read()) == g1
    for name in HOSTS:
        assert crypto.issued_by(fleet.leaf(name), g2), name
        assert fleet.key(name) == keys[name], name  # the leaf keys stay: every instant, certificate and key match
        assert fleet.bundle(name) == [g1, g2], name
    assert any("issued by the CA that signed until the CA rollover" in reason
               for reason in step2["asked app1"]["certificate_reasons"])
    assert sorted(fleet.state()["moved"]) == sorted(HOSTS)

    step3 = fleet.run(generation=2, ca_key_type="ecdsa")
    assert step3["ca"]["rollover"]["phase"] == "done"
    for name in HOSTS:
        assert fleet.bundle(name) == [g2], name
        assert fleet.crls(name).count("BEGIN X509 CRL") == 1, name
    archived = [os.path.join(fleet.ca, "archive", d) for d in os.listdir(os.path.join(fleet.ca, "archive"))]
    assert len(archived) == 1 and os.path.basename(archived[0]).startswith("g1-")
    assert os.stat(os.path.join(archived[0], "root.key")).st_mode & 0o777 == 0o600
    assert not os.path.exists(os.path.join(fleet.ca, "previous", "root.key"))
    assert not os.path.exists(os.path.join(fleet.ca, "next", "root.key"))

    again = fleet.run(generation=2, ca_key_type="ecdsa")
    assert not any(result["changed"] for result in again.values()), {k: v["changes"] for k, v in again.items()}


def test_step_two_waits_for_a_host_no_run_confirmed_and_step_three_for_a_host_that_has_not_moved(fleet):
    fleet.run(generation=2, hosts=["db1", "app1"])  # app2 outside --limit
    waiting = fleet.run(generation=2, hosts=["db1", "app1"])
    assert waiting["ca"]["rollover"]["phase"] == "trust" and waiting["ca"]["rollover"]["waiting_for"] == ["app2"]
    assert any("step 2 of 3 waits" in w and "app2" in w for w in waiting["ca"]["warnings"])
    fleet.run(generation=2)  # app2 confirmed: the next run switches
    switched = fleet.run(generation=2, hosts=["db1", "app1"])
    assert switched["ca"]["rollover"]["phase"] == "sign"
    held = fleet.run(generation=2, hosts=["db1", "app1"])
    assert held["ca"]["rollover"]["phase"] == "sign" and list(held["ca"]["rollover"]["holdouts"]) == ["app2"]
    assert any("step 3 of 3 waits" in w and "app2" in w for w in held["ca"]["warnings"])
    assert len(fleet.bundle("app1")) == 2  # the old CA stays trusted while app2 presents its certificate
    waived = fleet.run(generation=2, hosts=["db1", "app1"], rollover_waive=["app2"])
    assert waived["ca"]["rollover"]["phase"] == "done"


@pytest.mark.parametrize("options, message", [
    (dict(generation=3), "ca_generation is 3 but the rollover to generation 2"),
    (dict(generation=2, ca_key_type="ecdsa"), "ask for ECDSA"),
    (dict(generation=1), "ca_generation is 1 but the rollover to generation 2"),
])
def test_other_parameters_while_a_rollover_runs_are_refused_and_nothing_changes(fleet, options, message):
    fleet.run(generation=2)
    before = snapshot(fleet.ca)
    with pytest.raises(CertError, match=message):
        run(**dict(fleet.ca_call, ca_generation=options.pop("generation"), **options))
    assert snapshot(fleet.ca) == before


def test_a_generation_taken_back_or_skipped_is_refused(fleet):
    with pytest.raises(CertError, match="raise it by one"):
        run(**dict(fleet.ca_call, ca_generation=3))
    for _step in range(3):
        fleet.run(generation=2)
    with pytest.raises(CertError, match="never taken back"):
        run(**dict(fleet.ca_call, ca_generation=1))


def test_a_key_type_changed_without_a_new_generation_only_warns(fleet):
    result = run(**dict(fleet.ca_call, ca_key_type="ecdsa"))
    assert not result["changed"]
    assert any("a CA key changes only by a rollover" in w for w in result["warnings"])


def test_a_lost_key_of_the_previous_ca_is_an_error_and_nothing_changes(fleet):
    fleet.run(generation=2)
    fleet.run(generation=2)  # step 2: generation 1 in previous/
    os.unlink(os.path.join(fleet.ca, "previous", "root.key"))
    before = snapshot(fleet.ca)
    with pytest.raises(CertError, match="key of CA generation 1 .* is found nowhere"):
        run(**dict(fleet.ca_call, ca_generation=2))
    assert snapshot(fleet.ca) == before


def test_a_corrupt_rollover_record_is_an_error_never_started_anew(fleet):
    fleet.run(generation=2)
    with open(os.path.join(fleet.ca, "rollover.json"), "w") as handle:
        handle.write("{not json")
    with pytest.raises(CertError, match="rollover.json cannot be read .* not started anew"):
        run(**dict(fleet.ca_call, ca_generation=2))


@pytest.mark.parametrize("cut", range(7))  # rollover.json, previous/ (3 files), then root.crl, root.crt, root.key
def test_a_switch_cut_short_after_any_rename_is_completed_by_the_next_run(fleet, monkeypatch, cut):
    fleet.run(generation=2)
    g2 = open(os.path.join(fleet.ca, "next", "root.key"), "rb").read()
    renames = []
    real_rename = os.rename

    def rename(source, target):
        if len(renames) == cut:
            raise KeyboardInterrupt("killed")
        renames.append(target)
        real_rename(source, target)

    monkeypatch.setattr(files.os, "rename", rename)
    with pytest.raises(KeyboardInterrupt):
        run(**dict(fleet.ca_call, ca_generation=2))
    monkeypatch.setattr(files.os, "rename", real_rename)
    completed = run(**dict(fleet.ca_call, ca_generation=2))
    assert completed["rollover"]["phase"] == "sign"
    assert open(os.path.join(fleet.ca, "root.key"), "rb").read() == g2
    assert not os.path.exists(os.path.join(fleet.ca, "next", "root.key"))
    assert os.path.exists(os.path.join(fleet.ca, "previous", "root.key"))
    assert not run(**dict(fleet.ca_call, ca_generation=2))["changed"]


def test_each_crl_lists_only_its_own_cas_revocations(fleet):
    old = fleet.leaf("app1").serial_number
    fleet.run(generation=2)
    fleet.run(generation=2, report=False)  # step 2: app1 holds a generation-2 certificate, not confirmed yet
    new = fleet.leaf("app1").serial_number
    revoked = run(**dict(fleet.ca_call, ca_generation=2, revoke=[dict(name="app1", reason="keyCompromise")]))
    assert revoked["rollover"]["phase"] == rollover.SIGN
    crls = revocation_lists(revoked["crl"])  # generation 1's CRL, then generation 2's
    assert [[entry.serial_number for entry in crl] for crl in crls] == [[old], [new]]


def snapshot(directory: str) -> dict:
    found = {}
    for base, _dirs, names in os.walk(directory):
        for name in names:
            path = os.path.join(base, name)
            if name != ".certkeeper-stamp.json":
                found[path] = open(path, "rb").read()
    return found


def revocation_lists(pem: str) -> list:
    marker = "-----BEGIN X509 CRL-----"
    return [x509.load_pem_x509_crl((marker + part).encode()) for part in pem.split(marker)[1:]]


@pytest.mark.parametrize("steps", [1, 2])
def test_the_ca_hosts_timer_keeps_the_crl_of_each_trusted_ca_fresh_never_only_the_signers(fleet, steps):
    for _step in range(steps):
        fleet.run(generation=2)
    served = os.path.join(fleet.server["path"], "root.crl")
    in_window = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=21)
    outcomes = [o for o in renew(Store(fleet.server["track"]["store"]), now=in_window) if o.id.startswith("crl-")]
    assert [o.action for o in outcomes] == ["renewed"], outcomes
    crls = revocation_lists(open(served).read())
    cas = crypto.load_certificates(open(os.path.join(fleet.server["path"], "root.crt"), "rb").read())
    assert [crl.issuer for crl in crls] == [ca.subject for ca in cas] and len(crls) == 2
    assert all(crl.next_update_utc > in_window + datetime.timedelta(days=20) for crl in crls)
    # a playbook run then finds the same bytes: timer and playbook never flip the file
    assert not run(**dict(fleet.server, ca_generation=2, crl=open(served).read()))["changed"]


def test_a_host_that_reports_another_hosts_serial_or_a_stale_step_moves_nothing(fleet):
    fleet.run(generation=2)
    fleet.run(generation=2, report=False)  # step 2: every host holds a certificate of generation 2, none confirmed
    app1 = "%x" % fleet.leaf("app1").serial_number
    state = fleet.state()
    for report, warned in (
        (dict(generation=2, phase="sign", hosts={"app2": app1}),
         "app2 reports serial %s, which the CA did not issue to it from generation 2: not counted" % app1),
        (dict(generation=2, phase="trust", hosts={"app1": app1}), None),  # a step the CA has left: nothing counts
        (dict(generation=3, phase="sign", hosts={"app1": app1}), None),
    ):
        result = run(**dict(fleet.ca_call, ca_generation=2, rollover_report=report))
        assert fleet.state()["moved"] == state["moved"] == {}, report
        assert (warned in result["warnings"]) if warned else not result["warnings"], result["warnings"]
    assert run(**dict(fleet.ca_call, ca_generation=2))["rollover"]["phase"] == "sign"  # still waiting for every host


def test_a_new_ca_asked_at_generation_two_is_made_at_it_without_a_rollover(tmp_path):
    fleet = Fleet(tmp_path)
    first = fleet.run(generation=2)
    expected = dict(generation=2, phase="done", step=0, trusted=[], waiting_for=[], holdouts={})
    assert first["ca"]["rollover"] | {"trusted": []} == expected
    assert fleet.bundle("app1")[0].subject.rfc4514_string() == "CN=certkeeper.pki PostgreSQL CA,OU=generation 2"
    assert fleet.state()["generation"] == 2 and fleet.state()["phase"] == "done"
    again = fleet.run(generation=2)
    assert not any(result["changed"] for result in again.values())


def blank_issuers(ca: str) -> None:
    """index.json as a CA before any rollover wrote it (or as a run cut short before it was written left it)."""
    path = os.path.join(ca, "index.json")
    index = json.load(open(path))
    for entry in index["certificates"]:
        entry["issuer_key_sha256"] = ""
    with open(path, "w") as handle:
        json.dump(index, handle)


def test_a_revocation_from_before_the_rollover_stays_on_the_old_cas_crl_even_if_the_start_was_cut_short(fleet):
    app2 = fleet.leaf("app2").serial_number
    run(**dict(fleet.ca_call, revoke=[dict(name="app2", reason="keyCompromise")]))
    blank_issuers(fleet.ca)  # an index written before rollovers existed
    fleet.run(generation=2, hosts=["db1", "app1"])
    blank_issuers(fleet.ca)  # the start's index.json lost: rollover.json is written first
    result = run(**dict(fleet.ca_call, ca_generation=2))
    assert [[entry.serial_number for entry in crl] for crl in revocation_lists(result["crl"])] == [[app2], []]


def test_a_serial_revoked_without_an_index_entry_is_listed_by_every_trusted_ca(fleet):
    fleet.run(generation=2)
    fleet.run(generation=2, report=False)  # step 2
    result = run(**dict(fleet.ca_call, ca_generation=2, revoke=[dict(name="gone", serial="5eed", reason="superseded")]))
    assert [[entry.serial_number for entry in crl] for crl in revocation_lists(result["crl"])] == [[0x5EED], [0x5EED]]


def test_only_the_runs_first_ca_call_moves_a_rollover_on_and_a_rollover_needs_its_hosts(fleet):
    fleet.run(generation=2)  # every host confirmed both CAs: the next plain CA call would switch
    csr = crypto.csr_pem(crypto.build_csr(crypto.KeySpec().generate(), "user_app9")).decode()
    batch = run(**dict(fleet.ca_call, ca_generation=2, sign=[client_request("app9", csr)]))
    assert batch["rollover"]["phase"] == "trust"
    with pytest.raises(CertError, match="needs rollover_hosts"):
        run(**dict(fleet.ca_call, ca_generation=2, rollover_hosts=[]))


def test_a_waiver_naming_a_host_gone_from_the_inventory_stops_nothing_once_no_rollover_runs(fleet):
    result = run(**dict(fleet.ca_call, rollover_waive=["app9"]))
    assert not result["changed"]


def test_check_mode_on_the_ca_host_takes_the_ca_calls_bundle_with_a_root_certified_anew(fleet):
    os.unlink(os.path.join(fleet.ca, "root.crt"))
    ca = run(check_mode=True, **dict(fleet.ca_call, ca_reissue=True))
    server = run(check_mode=True, **dict(fleet.server, ca_reissue=True, ca_bundle=ca["ca_bundle"], crl=ca["crl"]))
    assert server["changed"]


def test_the_old_key_is_durable_in_previous_before_the_new_one_replaces_it_and_before_anything_is_removed(
    fleet, monkeypatch
):
    fleet.run(generation=2)
    events = []
    real_rename, real_unlink, real_fsync = os.rename, os.unlink, files._fsync_directory
    monkeypatch.setattr(files.os, "rename", lambda a, b: (events.append(("rename", b)), real_rename(a, b))[1])
    monkeypatch.setattr(files.os, "unlink", lambda a, **kw: (events.append(("unlink", a)), real_unlink(a, **kw))[1])
    monkeypatch.setattr(files, "_fsync_directory", lambda d: (events.append(("fsync", d)), real_fsync(d))[1])
    assert run(**dict(fleet.ca_call, ca_generation=2))["rollover"]["phase"] == "sign"
    previous, top = os.path.join(fleet.ca, "previous"), fleet.ca
    synced = events.index(("fsync", previous))
    assert synced < events.index(("rename", os.path.join(top, "root.key")))
    removals = [i for i, (kind, path) in enumerate(events) if kind == "unlink" and "/next/" in path]
    assert removals and min(removals) > max(synced, events.index(("fsync", top)))


def test_a_host_removed_from_the_inventory_is_not_waited_for_and_the_retiring_run_says_so(fleet):
    fleet.run(generation=2)
    fleet.run(generation=2, hosts=["db1", "app1"])  # step 2: app2 never moves, then leaves the inventory
    retired = run(**dict(fleet.ca_call, ca_generation=2, rollover_hosts=["db1", "app1"]))
    assert retired["rollover"]["phase"] == "done"
    assert any("generation 1 certificates of app2 (no longer servers or clients of the inventory) stop being trusted"
               in warning for warning in retired["warnings"]), retired["warnings"]


@pytest.mark.parametrize("bundle, message", [
    ("not a certificate", "ca_bundle is not PEM certificates"),
    ("foreign", "ca_bundle must hold the CA of ca_certificate, and each CA once"),
    ("twice", "ca_bundle must hold the CA of ca_certificate, and each CA once"),
])
def test_a_bad_ca_bundle_is_refused_naming_it_and_the_client_keeps_its_files(fleet, bundle, message):
    ca = run(**fleet.ca_call)
    foreign = crypto.certificate_pem(crypto.issue_ca_certificate(crypto.KeySpec().generate(), "Other CA", 30)).decode()
    given = {"not a certificate": bundle, "foreign": foreign, "twice": ca["ca_certificate"] * 2}[bundle]
    before = snapshot(fleet.clients["app1"]["path"])
    with pytest.raises(CertError, match=message):
        run(**dict(fleet.clients["app1"], ca_certificate=ca["ca_certificate"], ca_bundle=given, crl=ca["crl"]))
    assert snapshot(fleet.clients["app1"]["path"]) == before
