"""The pg_mtls_certs work without Ansible: real files in a temp directory, real keys and certificates."""

from __future__ import annotations

import os
import stat

import pytest

from ansible_collections.certkeeper.pki.plugins.module_utils._core import crypto
from ansible_collections.certkeeper.pki.plugins.module_utils._core.crypto import CertError
from ansible_collections.certkeeper.pki.plugins.module_utils._core.facts import certificate_facts
from ansible_collections.certkeeper.pki.plugins.module_utils._core.stamp import STAMP_NAME
from ansible_collections.certkeeper.pki.plugins.module_utils._pg_mtls.run import run_pg_mtls_certs
from ansible_collections.certkeeper.pki.plugins.module_utils._tracking.request import TrackedRequest, request_id_for
from ansible_collections.certkeeper.pki.plugins.module_utils._tracking.store import Store
from tests.support.pg_mtls_options import DEFAULTS


def run(check_mode=False, **options):
    return run_pg_mtls_certs(dict(DEFAULTS, **options), check_mode=check_mode)


def snapshot(*directories):
    """Files with bytes, mode, owner and inode; stamps (rewritten after every change) left out."""
    result = {}
    for directory in directories:
        if os.path.isdir(directory):
            for name in sorted(os.listdir(directory)):
                path = os.path.join(directory, name)
                if name == STAMP_NAME:
                    continue
                st = os.stat(path)
                result[path] = (open(path, "rb").read(), st.st_mode, st.st_uid, st.st_ino)
    return result


@pytest.fixture
def hosts(tmp_path):
    """A CA + server host (signing locally) and a client with its first certificate installed."""
    ca, srv, cli = str(tmp_path / "ca"), str(tmp_path / "srv"), str(tmp_path / "cli")
    server = run(role="server", path=srv, ca_path=ca, common_name="db1.example.com", subject_alt_names=["IP:10.0.0.5"])
    client = dict(role="client", path=cli, common_name="app", ca_certificate=server["ca_certificate"])
    phase1 = run(**client)
    signed = run(role="ca", path=ca, sign=[dict(name="cli", csr=phase1["csr"], profile="client", common_name="app",
                                                subject_alt_names=[])])
    run(certificate=signed["certificates"]["cli"], **client)
    return dict(ca=ca, srv=srv, cli=cli, client=client, server_result=server, phase1=phase1)


def reasons(result):
    return {os.path.basename(c["path"]): c["reason"] for c in result["changes"]}


def test_first_calls_make_everything_and_reruns_change_nothing(hosts):
    assert hosts["server_result"]["certificate"]["subject_alt_names"] == ["DNS:db1.example.com", "IP:10.0.0.5"]
    assert hosts["phase1"]["certificate_needed"] and "BEGIN CERTIFICATE REQUEST" in hosts["phase1"]["csr"]
    assert reasons(hosts["phase1"])["client.crt"] == "missing: request a certificate from the CA"
    assert sorted(os.listdir(hosts["cli"])) == [
        STAMP_NAME, "client.crt", "client.key", "client.pem.pk8", "client.pfx", "client.pk8", "root.crt"]
    before = snapshot(hosts["ca"], hosts["srv"], hosts["cli"])
    again = run(**hosts["client"])
    assert not again["changed"] and not again["certificate_needed"]
    assert not run(role="server", path=hosts["srv"], ca_path=hosts["ca"], common_name="db1.example.com",
                   subject_alt_names=["IP:10.0.0.5"])["changed"]
    assert snapshot(hosts["ca"], hosts["srv"], hosts["cli"]) == before


def test_check_mode_reports_and_writes_nothing(tmp_path):
    result = run(check_mode=True, role="server", path=str(tmp_path / "srv"), ca_path=str(tmp_path / "ca"),
                 common_name="db1")
    assert result["changed"] and os.listdir(tmp_path) == []
    assert {"root.key", "root.crt", "server.key", "server.crt"} <= set(reasons(result))


def test_a_corrupt_pfx_is_rebuilt_alone(hosts):
    pfx = os.path.join(hosts["cli"], "client.pfx")
    with open(pfx, "wb") as handle:
        handle.write(b"garbage")
    before = snapshot(hosts["cli"])
    result = run(**hosts["client"])
    assert reasons(result) == {"client.pfx": "cannot be opened with the configured password (or is corrupt)"}
    after = snapshot(hosts["cli"])
    assert {p for p in after if after[p] != before[p]} == {pfx}


def test_a_new_pfx_password_rebuilds_the_pfx(hosts):
    result = run(**dict(hosts["client"], pfx_password="changed"))
    assert reasons(result) == {"client.pfx": "cannot be opened with the configured password (or is corrupt)"}


def test_loose_key_mode_is_tightened_without_rewriting(hosts):
    key = os.path.join(hosts["cli"], "client.key")
    os.chmod(key, 0o644)
    inode = os.stat(key).st_ino
    result = run(**hosts["client"])
    assert reasons(result) == {"client.key": "private key: root:root 0644, should be root:root 0640"}
    assert stat.S_IMODE(os.stat(key).st_mode) == 0o640 and os.stat(key).st_ino == inode


@pytest.mark.parametrize("change, reason", [
    (dict(common_name="app2"), "CN is 'app', 'app2' requested: request a certificate from the CA"),
    (dict(renew_before=400, valid_days=500), "within the renewal window of 400 days: request a certificate from the CA"),
    (dict(key_type="ecdsa"), "new private key: request a certificate from the CA"),
])
def test_certificate_reasons(hosts, change, reason):
    result = run(**dict(hosts["client"], **change))
    assert result["certificate_needed"]
    assert reasons(result)["client.crt"].endswith(reason)


def test_a_second_server_is_signed_by_the_remote_ca_with_its_cn_among_the_sans(hosts, tmp_path):
    server = dict(role="server", path=str(tmp_path / "db2"), common_name="db2.example.com",
                  subject_alt_names=["IP:10.0.0.7"], ca_certificate=hosts["server_result"]["ca_certificate"])
    phase1 = run(**server)
    signed = run(role="ca", path=hosts["ca"], sign=[dict(name="db2", csr=phase1["csr"], profile="server",
                                                         common_name="db2.example.com",
                                                         subject_alt_names=["IP:10.0.0.7"])])
    installed = run(certificate=signed["certificates"]["db2"], **server)
    assert installed["certificate"]["subject_alt_names"] == ["DNS:db2.example.com", "IP:10.0.0.7"]
    assert not run(**server)["changed"]


def test_an_integer_key_mode_is_taken_at_its_value(hosts):
    # YAML reads an unquoted 0640 as the integer 416; it must not become mode 0o416
    assert not run(**dict(hosts["client"], key_mode=0o640))["changed"]


def test_server_san_change_is_signed_locally_in_the_same_call(hosts):
    result = run(role="server", path=hosts["srv"], ca_path=hosts["ca"], common_name="db1.example.com",
                 subject_alt_names=["IP:10.0.0.6"])
    assert reasons(result)["server.crt"].startswith("SANs are [DNS:db1.example.com, IP:10.0.0.5]")
    assert not result["certificate_needed"]
    assert result["certificate"]["subject_alt_names"] == ["DNS:db1.example.com", "IP:10.0.0.6"]


def test_a_certificate_from_a_foreign_ca_is_replaced(hosts, tmp_path):
    other = run(role="server", path=str(tmp_path / "osrv"), ca_path=str(tmp_path / "oca"), common_name="x")
    result = run(**dict(hosts["client"], ca_certificate=other["ca_certificate"]))
    assert reasons(result)["root.crt"] == "differs from the CA's current certificate"
    assert reasons(result)["client.crt"] == "not issued by the CA in root.crt: request a certificate from the CA"


def test_a_certificate_for_another_key_is_refused_and_nothing_changes(hosts, tmp_path):
    stranger = run(role="client", path=str(tmp_path / "stranger"), common_name="app",
                   ca_certificate=hosts["server_result"]["ca_certificate"])
    signed = run(role="ca", path=hosts["ca"], sign=[dict(name="s", csr=stranger["csr"], profile="client",
                                                         common_name="app", subject_alt_names=[])])
    os.unlink(os.path.join(hosts["cli"], "client.pk8"))
    before = snapshot(hosts["cli"])
    with pytest.raises(CertError, match="returned by the CA cannot be used: does not match the private key"):
        run(certificate=signed["certificates"]["s"], **hosts["client"])
    assert snapshot(hosts["cli"]) == before


@pytest.mark.parametrize("damage, message", [
    ("corrupt key", "is not a usable private key; restore it from a backup"),
    ("foreign cert", "does not belong to CA key"),
    ("missing key", "exists but its key .* is missing"),
])
def test_a_damaged_ca_is_an_error_never_replaced(hosts, tmp_path, damage, message):
    key, cert = os.path.join(hosts["ca"], "root.key"), os.path.join(hosts["ca"], "root.crt")
    if damage == "corrupt key":
        open(key, "wb").write(b"-----BEGIN PRIVATE KEY-----\ntruncated")
    elif damage == "foreign cert":
        other = run(role="ca", path=str(tmp_path / "other-ca"))
        open(cert, "w").write(other["ca_certificate"])
    else:
        os.unlink(key)
    before = snapshot(hosts["ca"], hosts["srv"])
    with pytest.raises(CertError, match=message):
        run(role="server", path=hosts["srv"], ca_path=hosts["ca"], common_name="db1.example.com",
            subject_alt_names=["IP:10.0.0.5"])
    assert snapshot(hosts["ca"], hosts["srv"]) == before


@pytest.mark.parametrize("damage", ["missing", "truncated"])
def test_a_missing_or_corrupt_ca_certificate_is_an_error_unless_reissue_is_asked(hosts, damage):
    cert_path = os.path.join(hosts["ca"], "root.crt")
    if damage == "missing":
        os.unlink(cert_path)
    else:
        data = open(cert_path, "rb").read()
        open(cert_path, "wb").write(data[: len(data) // 2])
    before = snapshot(hosts["ca"])
    with pytest.raises(CertError, match=r"root.crt is (missing|corrupt \(not a certificate\)) beside the intact CA "
                                        r"key .*root.key: restore root.crt from a backup, or set ca_reissue"):
        run(role="ca", path=hosts["ca"])
    assert snapshot(hosts["ca"]) == before
    result = run(role="ca", path=hosts["ca"], ca_reissue=True)
    problem = "missing" if damage == "missing" else "corrupt (not a certificate)"
    assert reasons(result) == {"root.crt": problem + ": reissue the CA certificate from the existing CA key (ca_reissue)"}
    fingerprint = certificate_facts(crypto.load_certificate(result["ca_certificate"]))["fingerprint_sha256"]
    assert any(fingerprint in w and "certified anew from the same CA key" in w for w in result["warnings"])
    # certificates signed before still chain to the new root.crt (same key, same name)
    client = crypto.load_certificate(open(os.path.join(hosts["cli"], "client.crt"), "rb").read())
    assert crypto.issued_by(client, crypto.load_certificate(result["ca_certificate"]))


@pytest.mark.parametrize("options, message", [
    (dict(common_name=""), "common_name must be a non-empty string"),
    (dict(subject_alt_names=["DNS:x"]), "subject_alt_names applies to server certificates only"),
    (dict(key_mode="0644"), "key_mode 0644 gives the key to other users"),
    (dict(key_mode="0660"), "key_mode 0660 gives the key to other users"),
    (dict(key_owner="no-such-user-ck"), "user 'no-such-user-ck' does not exist"),
    (dict(key_size=1024), "key_size 1024 is not supported"),
    (dict(valid_days=0), "valid_days must be a number of days"),
    (dict(renew_before=365), r"renew_before \(365 days\) must be shorter than valid_days \(365 days\)"),
    (dict(ca_certificate="junk"), "ca_certificate is not a PEM certificate"),
    (dict(ca_certificate=None), "needs ca_certificate"),
    (dict(certificate="junk"), "certificate is not a PEM certificate"),
    (dict(sign=[{"name": "x"}]), "sign applies to role=ca only"),
])
def test_bad_client_options_fail_clearly_and_change_nothing(hosts, options, message):
    os.unlink(os.path.join(hosts["cli"], "client.pk8"))  # a pending change that must not be applied
    before = snapshot(hosts["cli"])
    with pytest.raises(CertError, match=message):
        run(**dict(hosts["client"], **options))
    assert snapshot(hosts["cli"]) == before


def test_a_ca_certificate_that_is_not_a_ca_is_refused(hosts):
    leaf = open(os.path.join(hosts["cli"], "client.crt")).read()
    with pytest.raises(CertError, match="ca_certificate is not a CA certificate"):
        run(**dict(hosts["client"], ca_certificate=leaf))


def test_signing_validates_each_request(hosts):
    refused = run(role="ca", path=hosts["ca"], sign=[dict(name="bad", csr="x", profile="client", common_name="app",
                                                          subject_alt_names=[])])["refused"]
    assert refused == {"bad": "request 'bad': not a PEM certificate signing request"}
    refused = run(role="ca", path=hosts["ca"], sign=[dict(name="bad", csr=hosts["phase1"]["csr"], profile="server",
                                                          common_name="db", subject_alt_names=["IP:300.1.1.1"])])["refused"]
    assert refused["bad"].startswith("sign[bad].subject_alt_names: 'IP:300.1.1.1' is not a valid IP address")


def test_config_blocks_are_written_and_kept_idempotent(hosts, tmp_path):
    conf, hba = tmp_path / "postgresql.conf", tmp_path / "pg_hba.conf"
    conf.write_text("port = 5432\n")
    hba.write_text("local all all peer\n")
    options = dict(role="server", path=hosts["srv"], ca_path=hosts["ca"], common_name="db1.example.com",
                   subject_alt_names=["IP:10.0.0.5"], postgresql_conf=str(conf), postgresql_conf_block="ssl = on",
                   pg_hba_conf=str(hba), pg_hba_block="hostssl all all 0.0.0.0/0 cert")
    first = run(**options)
    assert set(reasons(first)) == {"postgresql.conf", "pg_hba.conf"}
    assert conf.read_text().startswith("port = 5432\n") and hba.read_text().endswith("local all all peer\n")
    assert not run(**options)["changed"]
    missing = {**options, "pg_hba_conf": str(tmp_path / "nope" / "pg_hba.conf")}
    with pytest.raises(CertError, match="does not exist; point the configuration directory option"):
        run(**missing)


def test_non_ascii_pfx_password_warns_about_java(hosts):
    result = run(**dict(hosts["client"], pfx_password="pässword"))
    assert any("Java" in w for w in result["warnings"])


def test_a_symlinked_key_is_an_error_and_is_not_replaced(hosts, tmp_path):
    key = os.path.join(hosts["cli"], "client.key")
    target = tmp_path / "elsewhere.key"
    os.rename(key, target)
    os.symlink(target, key)
    before = snapshot(hosts["cli"])
    with pytest.raises(CertError, match="cannot read private key .*symbolic link"):
        run(**hosts["client"])
    assert snapshot(hosts["cli"]) == before and os.path.islink(key)


def test_a_directory_where_a_file_belongs_is_an_error(hosts):
    crt = os.path.join(hosts["cli"], "client.crt")
    os.unlink(crt)
    os.mkdir(crt)
    with pytest.raises(CertError, match="client.crt is a directory where a file belongs"):
        run(**hosts["client"])


def test_an_existing_directory_keeps_its_owner_and_mode(hosts):
    os.chmod(hosts["cli"], 0o750)
    assert not run(**hosts["client"])["changed"]
    assert stat.S_IMODE(os.stat(hosts["cli"]).st_mode) == 0o750


def test_non_utf8_bytes_in_a_config_file_survive(hosts, tmp_path):
    conf = tmp_path / "postgresql.conf"
    conf.write_bytes(b"# caf\xe9 latin-1 comment\nport = 5432\n")
    run(role="server", path=hosts["srv"], ca_path=hosts["ca"], common_name="db1.example.com",
        subject_alt_names=["IP:10.0.0.5"], postgresql_conf=str(conf), postgresql_conf_block="ssl = on")
    assert conf.read_bytes().startswith(b"# caf\xe9 latin-1 comment\nport = 5432\n")


def _pair_matches(directory, role="client"):
    key = crypto.load_private_key(open(os.path.join(directory, "%s.key" % role), "rb").read())
    cert = crypto.load_certificate(open(os.path.join(directory, "%s.crt" % role), "rb").read())
    return crypto.same_public_key(key, cert.public_key())


def test_a_key_type_change_waits_beside_the_old_pair_until_its_certificate_arrives(hosts):
    ecdsa = dict(hosts["client"], key_type="ecdsa")
    old = snapshot(hosts["cli"])
    phase1 = run(**ecdsa)
    pending = os.path.join(hosts["cli"], "client.key.pending")
    assert phase1["certificate_needed"] and reasons(phase1)["client.key.pending"].startswith("is RSA-2048")
    assert {p: v for p, v in snapshot(hosts["cli"]).items() if p != pending} == old  # old pair untouched
    assert stat.S_IMODE(os.stat(pending).st_mode) == 0o640
    again = run(**ecdsa)  # the CA was unreachable: the same pending key, the same CSR key
    assert crypto.same_public_key(crypto.load_csr(again["csr"]).public_key(), crypto.load_csr(phase1["csr"]).public_key())
    signed = run(role="ca", path=hosts["ca"], sign=[dict(name="cli", csr=again["csr"], profile="client",
                                                         common_name="app", subject_alt_names=[])])
    installed = run(certificate=signed["certificates"]["cli"], **ecdsa)
    assert reasons(installed)["client.key.pending"] == "installed as client.key"
    assert not os.path.exists(pending) and _pair_matches(hosts["cli"])
    assert crypto.KeySpec.of(crypto.load_private_key(open(os.path.join(hosts["cli"], "client.key"), "rb").read())) \
        == crypto.KeySpec("ecdsa", 256)
    assert not run(**ecdsa)["changed"]


def test_an_install_cut_between_certificate_and_key_is_finished_without_the_ca(hosts):
    ecdsa = dict(hosts["client"], key_type="ecdsa")
    phase1 = run(**ecdsa)
    signed = run(role="ca", path=hosts["ca"], sign=[dict(name="cli", csr=phase1["csr"], profile="client",
                                                         common_name="app", subject_alt_names=[])])
    with open(os.path.join(hosts["cli"], "client.crt"), "w") as handle:  # the certificate renamed, not yet the key
        handle.write(signed["certificates"]["cli"])
    assert not _pair_matches(hosts["cli"])
    finished = run(**ecdsa)
    assert not finished["certificate_needed"] and _pair_matches(hosts["cli"])
    assert not os.path.exists(os.path.join(hosts["cli"], "client.key.pending"))


def _reissue_client(hosts, between=None, **options):
    """A CSR call on the client with ``options``, the CA's signature, the install: the three calls of a re-issue
    (``between()`` runs before the install)."""
    client = dict(hosts["client"], **options)
    asked = run(**client)
    assert asked["certificate_needed"], asked
    signed = run(role="ca", path=hosts["ca"], sign=[dict(name="cli", csr=asked["csr"], profile="client",
                                                         common_name="app", subject_alt_names=[],
                                                         valid_days=client.get("valid_days"))])
    if between:
        between()
    return asked, run(certificate=signed["certificates"]["cli"], **client)


def _key_of(directory, name="client.key"):
    return open(os.path.join(directory, name), "rb").read()


def test_rotate_key_gives_a_due_certificate_a_new_key_that_waits_as_pending_until_installed(hosts):
    old_key = _key_of(hosts["cli"])

    def old_pair_in_force():  # until the certificate arrives, the new key waits beside the old pair
        assert _key_of(hosts["cli"]) == old_key
        assert os.path.exists(os.path.join(hosts["cli"], "client.key.pending"))

    # every certificate of 365 days is due in a window of 366; the new one lives 400 days
    asked, installed = _reissue_client(hosts, old_pair_in_force, renew_before=366, valid_days=400)
    assert reasons(asked)["client.key.pending"].startswith("rotate_key: a new key for the new certificate")
    assert installed["changed"] and _key_of(hosts["cli"]) != old_key
    assert not os.path.exists(os.path.join(hosts["cli"], "client.key.pending"))
    cert = crypto.load_certificate(open(os.path.join(hosts["cli"], "client.crt"), "rb").read())
    assert crypto.same_public_key(cert.public_key(), crypto.load_private_key(_key_of(hosts["cli"])))


def test_rotate_key_false_keeps_the_key_for_the_new_certificate(hosts):
    old_key = _key_of(hosts["cli"])
    asked, installed = _reissue_client(hosts, renew_before=366, valid_days=400, rotate_key=False)
    assert "client.key.pending" not in reasons(asked) and "client.key" not in reasons(installed)
    assert _key_of(hosts["cli"]) == old_key


def _tracked_client(hosts, store, **options):
    return dict(hosts["client"], track=dict(store=store, id=None, post_save_command=""), **options)


def test_each_certificate_has_its_own_record_and_the_key_policy_goes_with_it(hosts, tmp_path):
    store = str(tmp_path / "store")
    client = run(**_tracked_client(hosts, store, rotate_key=False))
    server = run(role="server", path=hosts["srv"], ca_path=hosts["ca"], common_name="db1.example.com",
                 subject_alt_names=["IP:10.0.0.5"], track=dict(store=store, id=None, post_save_command=""))
    assert client["tracking_id"] != server["tracking_id"]
    assert client["tracking_id"].startswith("pg_mtls-client-") and "cli-client.crt-" in client["tracking_id"]
    records = {r.id: r for r in Store(store).all()}
    assert set(records) == {client["tracking_id"], server["tracking_id"]}
    assert records[client["tracking_id"]].rotate_key is False and records[server["tracking_id"]].rotate_key is True
    assert request_id_for("pg_mtls-client", "/a/b-c/client.crt") != request_id_for("pg_mtls-client", "/a-b/c/client.crt")


def test_a_record_of_an_earlier_version_moves_with_its_status_and_another_certificates_stays(hosts, tmp_path):
    store = Store(str(tmp_path / "store"))
    store.ensure()
    cert_path = os.path.join(hosts["cli"], "client.crt")
    mine = TrackedRequest(id="pg_mtls-client", cert_path=cert_path, key_path=cert_path[:-3] + "key", ca="ansible",
                          subject="CN=app", profile="client", key_mode="0640", last_renewed="2026-01-02T03:04:05Z")
    store.save(mine)
    result = run(**_tracked_client(hosts, store.directory))
    assert reasons(result)["pg_mtls-client.json"].startswith("moved to " + result["tracking_id"])
    assert store.ids() == [result["tracking_id"]]
    assert store.load(result["tracking_id"]).last_renewed == "2026-01-02T03:04:05Z"
    assert "client.crt" not in reasons(result)  # nothing re-issued
    # a record of the earlier version for another certificate of the machine is left to its owner's run
    other = TrackedRequest(**dict(vars(mine), cert_path="/elsewhere/client.crt"))
    store.save(other)
    again = run(**_tracked_client(hosts, store.directory))
    assert not again["changed"] and sorted(store.ids()) == sorted([result["tracking_id"], "pg_mtls-client"])


def test_a_certificate_installed_by_a_run_ends_a_stale_need_ca_status(hosts, tmp_path):
    store = Store(str(tmp_path / "store"))
    first = run(**_tracked_client(hosts, store.directory))
    record = store.load(first["tracking_id"])
    record.status, record.last_error = "NEED_CA", "due: expires soon; the next playbook run re-issues it"
    store.save(record)
    track = dict(store=store.directory, id=None, post_save_command="")
    _asked, installed = _reissue_client(hosts, renew_before=366, valid_days=400, track=track)
    assert "status NEED_CA -> MONITORING: certificate installed by this run" in reasons(installed)[
        first["tracking_id"] + ".json"]
    assert (store.load(first["tracking_id"]).status, store.load(first["tracking_id"]).last_error) == ("MONITORING", "")
    # and a NEED_CA left on a certificate that is in force and not due ends on the next run too
    record = store.load(first["tracking_id"])
    record.status = "NEED_CA"
    store.save(record)
    run(**_tracked_client(hosts, store.directory))
    assert store.load(first["tracking_id"]).status == "MONITORING"


@pytest.mark.parametrize("rotate_key", [True, False])
def test_the_timer_renews_a_pg_mtls_certificate_with_the_key_policy_the_role_set(tmp_path, rotate_key):
    from ansible_collections.certkeeper.pki.plugins.module_utils._host.cli import main as certkeeper

    store, srv, ca = str(tmp_path / "store"), str(tmp_path / "srv"), str(tmp_path / "ca")
    server = run(role="server", path=srv, ca_path=ca, common_name="db1.example.com", rotate_key=rotate_key,
                 track=dict(store=store, id=None, post_save_command=""))
    record = Store(store).load(server["tracking_id"])
    assert record.rotate_key is rotate_key and record.ca == "local"
    record.renew_before, record.valid_days = 400, 500  # due now
    Store(store).save(record)
    key_before = _key_of(srv, "server.key")
    cert_before = open(os.path.join(srv, "server.crt"), "rb").read()
    assert certkeeper(["--store", store, "renew", "--all"]) in (0, None)
    assert open(os.path.join(srv, "server.crt"), "rb").read() != cert_before
    assert (_key_of(srv, "server.key") == key_before) is (not rotate_key)


def test_one_bad_request_is_refused_for_its_host_and_the_rest_of_the_batch_is_signed(hosts, tmp_path):
    from cryptography.hazmat.primitives.asymmetric import dsa, rsa

    weak_key = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    weak_csr = crypto.csr_pem(crypto.build_csr(weak_key, "weak")).decode()
    dsa_csr = crypto.csr_pem(crypto.build_csr(dsa.generate_private_key(key_size=2048), "dsa")).decode()
    good = run(role="client", path=str(tmp_path / "good"), common_name="good",
               ca_certificate=hosts["server_result"]["ca_certificate"])
    signed = run(role="ca", path=hosts["ca"], sign=[
        dict(name="weak", csr=weak_csr, profile="client", common_name="weak", subject_alt_names=[]),
        dict(name="junk", csr="not a csr", profile="client", common_name="junk", subject_alt_names=[]),
        dict(name="dsa", csr=dsa_csr, profile="client", common_name="dsa", subject_alt_names=[]),
        dict(name="good", csr=good["csr"], profile="client", common_name="good", subject_alt_names=[])])
    assert list(signed["certificates"]) == ["good"]
    assert signed["refused"] == {
        "weak": "request 'weak': the CSR's key is RSA-1024; RSA keys must have at least 2048 bits; the CA does not "
                "certify it",
        "junk": "request 'junk': not a PEM certificate signing request",
        "dsa": "request 'dsa': the CSR's key is a DSAPublicKey key; certkeeper signs and certifies RSA and ECDSA keys "
               "only; the CA does not certify it"}
    assert any(w.startswith("not signed for weak: ") for w in signed["warnings"])


@pytest.mark.parametrize("rotate_key_after", [True, False])
def test_an_install_cut_between_certificate_and_key_is_completed_whatever_the_key_policy(hosts, rotate_key_after):
    client = dict(hosts["client"], renew_before=366, valid_days=400)
    asked = run(**client)  # rotate_key: the new key waits as client.key.pending
    signed = run(role="ca", path=hosts["ca"], sign=[dict(name="cli", csr=asked["csr"], profile="client",
                                                         common_name="app", subject_alt_names=[], valid_days=400)])
    with open(os.path.join(hosts["cli"], "client.crt"), "w") as handle:  # the crash: certificate renamed, key not
        handle.write(signed["certificates"]["cli"])
    pending = _key_of(hosts["cli"], "client.key.pending")
    again = run(**dict(client, rotate_key=rotate_key_after))
    assert not again["certificate_needed"], again  # no CSR for the old key
    assert _key_of(hosts["cli"]) == pending and not os.path.exists(os.path.join(hosts["cli"], "client.key.pending"))
    assert run(**dict(client, rotate_key=rotate_key_after))["changed"] is False


def test_a_record_of_the_earlier_version_left_beside_its_copy_by_a_crash_goes(hosts, tmp_path):
    store = Store(str(tmp_path / "store"))
    first = run(**_tracked_client(hosts, store.directory))
    leftover = store.load(first["tracking_id"])
    leftover.id = "pg_mtls-client"
    store.save(leftover)  # the crash: the new record was written, the old one not yet removed
    again = run(**_tracked_client(hosts, store.directory))
    assert reasons(again)["pg_mtls-client.json"].startswith("moved to ")
    assert store.ids() == [first["tracking_id"]]
