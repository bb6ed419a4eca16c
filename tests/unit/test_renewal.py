"""Tracking and renewal with real files, real keys and real helper commands (certmonger's CA-helper protocol)."""

from __future__ import annotations

import datetime
import os
import stat
import textwrap

import pytest

from ansible_collections.certkeeper.pki.plugins.module_utils._core import crypto
from ansible_collections.certkeeper.pki.plugins.module_utils._core.commands import run_command
from ansible_collections.certkeeper.pki.plugins.module_utils._core.crypto import CertError, KeySpec
from ansible_collections.certkeeper.pki.plugins.module_utils._core.pkcs12 import load_pkcs12
from ansible_collections.certkeeper.pki.plugins.module_utils._core.policy import due_reason
from ansible_collections.certkeeper.pki.plugins.module_utils._host.cli import main as certkeeper
from ansible_collections.certkeeper.pki.plugins.module_utils._tracking.request import TrackedRequest
from ansible_collections.certkeeper.pki.plugins.module_utils._tracking.store import Store
from ansible_collections.certkeeper.pki.plugins.module_utils._tracking.verbs import (
    listing,
    renew,
    resubmit,
    track,
    untrack,
)

NOW = datetime.datetime.now(datetime.timezone.utc)


@pytest.fixture
def ca(tmp_path):
    key = KeySpec().generate()
    cert = crypto.issue_ca_certificate(key, "Test CA", 3650)
    (tmp_path / "ca.key").write_bytes(crypto.pkcs8_pem(key))
    (tmp_path / "ca.crt").write_bytes(crypto.certificate_pem(cert))
    return str(tmp_path / "ca.crt"), str(tmp_path / "ca.key"), cert


def helper(tmp_path, body: str) -> str:
    """A real CA helper script; signs with the test CA through openssl when it issues."""
    path = tmp_path / "helper.sh"
    path.write_text("#!/bin/sh\n" + textwrap.dedent(body))
    path.chmod(0o755)
    return str(path)


SIGNING_HELPER = '''
    echo "$CERTMONGER_OPERATION" >> {log}
    printf '%s\\n' "$CERTMONGER_CSR" > {dir}/req.csr
    openssl x509 -req -in {dir}/req.csr -CA {dir}/ca.crt -CAkey {dir}/ca.key -CAcreateserial -days 500 \\
        -copy_extensions copy 2>/dev/null
'''


def tracked(tmp_path, store, **options) -> TrackedRequest:
    defaults = dict(id="web", cert_path=str(tmp_path / "web.crt"), key_path=str(tmp_path / "web.key"),
                    ca="self_sign", subject="CN=web.example.com", subject_alt_names=["DNS:web.example.com"])
    defaults.update(options)
    request = TrackedRequest(**defaults)
    result = track(store, request, check_mode=False)
    assert result["changed"]
    return store.load(request.id)


def files(tmp_path):
    return {name: (tmp_path / name).read_bytes() for name in ("web.crt", "web.key") if (tmp_path / name).exists()}


def make_due(store, request_id, renew_before=400, valid_days=500):
    request = store.load(request_id)
    request.renew_before, request.valid_days = renew_before, valid_days
    store.save(request)


def test_policy_days_or_a_third_of_the_lifetime(ca):
    _cert_path, _key_path, ca_cert = ca
    key = KeySpec().generate()
    cert = crypto.issue_certificate(key, ca_cert.subject, key.public_key(), ca_cert.subject, [], 90, [])
    assert due_reason(cert, NOW, 30) is None
    assert "within the renewal window of 30 days" in due_reason(cert, NOW + datetime.timedelta(days=61), 30)
    assert "less than 33% of its lifetime" in due_reason(cert, NOW + datetime.timedelta(days=61), 10)
    assert due_reason(cert, NOW + datetime.timedelta(days=91), 10).startswith("expired on")


def test_request_then_monitoring_and_nothing_renewed_that_is_not_due(tmp_path):
    store = Store(str(tmp_path / "store"))
    request = tracked(tmp_path, store)
    assert request.status == "MONITORING"
    assert stat.S_IMODE(os.stat(tmp_path / "web.key").st_mode) == 0o600
    assert stat.S_IMODE(os.stat(store.requests_dir).st_mode) == 0o700
    before = files(tmp_path)
    assert [o.action for o in renew(store)] == ["not due"]
    assert files(tmp_path) == before
    assert not track(store, TrackedRequest(id="web", cert_path=str(tmp_path / "web.crt"),
                                           key_path=str(tmp_path / "web.key"), subject="CN=web.example.com",
                                           subject_alt_names=["DNS:web.example.com"]), check_mode=False)["changed"]


def test_a_due_certificate_is_renewed_with_a_new_key_and_every_output(tmp_path, ca):
    ca_cert_path, ca_key_path, ca_cert = ca
    store = Store(str(tmp_path / "store"))
    outputs = [dict(path=str(tmp_path / "web.pk8"), format="pkcs8_der"),
               dict(path=str(tmp_path / "web.pfx"), format="pkcs12", password="", friendly_name="user")]
    tracked(tmp_path, store, ca="local", ca_cert_path=ca_cert_path, ca_key_path=ca_key_path, outputs=outputs,
            chain_path=ca_cert_path, post_save_command="touch %s" % (tmp_path / "reloaded"))
    before = files(tmp_path)
    make_due(store, "web")
    outcomes = renew(store)
    assert [(o.action, o.status) for o in outcomes] == [("renewed", "MONITORING")]
    after = files(tmp_path)
    assert after["web.key"] != before["web.key"] and after["web.crt"] != before["web.crt"]  # key rotated
    cert = crypto.load_certificate(after["web.crt"])
    key = crypto.load_private_key(after["web.key"])
    assert crypto.issued_by(cert, ca_cert) and crypto.same_public_key(cert.public_key(), key)
    assert crypto.load_private_key((tmp_path / "web.pk8").read_bytes()).public_key() == key.public_key()
    bundle = load_pkcs12((tmp_path / "web.pfx").read_bytes(), "")
    assert bundle.cert.certificate == cert and bundle.additional_certs[0].certificate == ca_cert
    assert (tmp_path / "reloaded").exists()
    assert [o.action for o in renew(store)] == ["not due"]  # the renewed one lasts 500 days


def test_a_chain_file_of_several_cas_goes_whole_into_the_pfx_its_issuer_first(tmp_path, ca):
    """A chain_path bundle (two CAs while trust moves, or an intermediate and its root): every certificate of it goes
    with the renewed certificate, the one that issued it first, whatever the file's order."""
    ca_cert_path, ca_key_path, ca_cert = ca
    other = crypto.issue_ca_certificate(KeySpec().generate(), "Other CA", 3650)
    bundle_path = tmp_path / "bundle.crt"
    bundle_path.write_bytes(crypto.certificate_pem(other) + crypto.certificate_pem(ca_cert))
    store = Store(str(tmp_path / "store"))
    tracked(tmp_path, store, ca="local", ca_cert_path=ca_cert_path, ca_key_path=ca_key_path, chain_path=str(bundle_path),
            outputs=[dict(path=str(tmp_path / "web.pfx"), format="pkcs12", password="", friendly_name="user")])
    make_due(store, "web")
    assert [o.action for o in renew(store)] == ["renewed"]
    sent_along = load_pkcs12((tmp_path / "web.pfx").read_bytes(), "").additional_certs
    assert [c.certificate for c in sent_along] == [ca_cert, other]
    assert crypto.chain_for(crypto.load_certificate((tmp_path / "web.crt").read_bytes()), [other]) == (other,)


def test_resubmit_applies_changed_names(tmp_path):
    store = Store(str(tmp_path / "store"))
    tracked(tmp_path, store)
    request = store.load("web")
    request.subject_alt_names = ["DNS:web.example.com", "IP:10.0.0.9"]
    store.save(request)
    result = resubmit(store, "web", check_mode=False)
    assert result["outcome"]["action"] == "renewed"
    assert result["request"]["ip"] == ["10.0.0.9"]


@pytest.mark.parametrize("body, status, stuck", [
    ("echo 'no route to CA' >&2; exit 3", "CA_UNREACHABLE", False),
    ("echo 'policy forbids this name'; exit 2", "CA_REJECTED", True),
    ("exit 4", "CA_UNCONFIGURED", True),
    ("echo 'garbage'; exit 0", "CA_REJECTED", True),
    ("sleep 5", "CA_UNREACHABLE", False),
])
def test_helper_failures_keep_the_files_and_tell_the_truth(tmp_path, body, status, stuck):
    store = Store(str(tmp_path / "store"))
    tracked(tmp_path, store)
    before = files(tmp_path)
    request = store.load("web")
    request.ca, request.helper = "helper", helper(tmp_path, body)
    store.save(request)
    make_due(store, "web")
    outcomes = renew(store, runner=lambda command, env=None: run_command(command, env, timeout=2))
    assert outcomes[0].status == status and outcomes[0].action == "failed"
    assert files(tmp_path) == before
    shown = listing(store, "web")[0]
    assert shown["status"] == status and shown["stuck"] is stuck and shown["last_error"]


def test_helper_wait_then_poll_issues_for_the_pending_key(tmp_path, ca):
    store = Store(str(tmp_path / "store"))
    tracked(tmp_path, store)
    log = tmp_path / "operations.log"
    body = f'''
        if [ "$CERTMONGER_OPERATION" = SUBMIT ]; then echo SUBMIT >> {log}; echo cookie-42; exit 1; fi
        [ "$CERTMONGER_CA_COOKIE" = cookie-42 ] || exit 4
    ''' + SIGNING_HELPER.format(log=log, dir=tmp_path)
    request = store.load("web")
    request.ca, request.helper = "helper", helper(tmp_path, body)
    store.save(request)
    make_due(store, "web")
    first = renew(store)[0]
    assert (first.action, first.status) == ("waiting", "CA_WORKING")
    pending = (tmp_path / "store" / "pending" / "web.key").read_bytes()
    second = renew(store)[0]
    assert (second.action, second.status) == ("renewed", "MONITORING"), second.message
    assert log.read_text().split() == ["SUBMIT", "POLL"]
    assert (tmp_path / "web.key").read_bytes() == pending  # the key the CSR was made with
    assert not (tmp_path / "store" / "pending" / "web.key").exists()


def test_a_first_request_the_ca_holds_is_polled_by_the_timer(tmp_path, ca):
    """The CA asks to wait on the very first request (a SCEP server awaiting approval, a helper): the next
    ``renew --all`` polls it and saves the certificate, rather than calling the missing file a problem."""
    store = Store(str(tmp_path / "store"))
    log = tmp_path / "operations.log"
    body = f'''
        if [ "$CERTMONGER_OPERATION" = SUBMIT ]; then echo SUBMIT >> {log}; echo cookie-7; exit 1; fi
        [ "$CERTMONGER_CA_COOKIE" = cookie-7 ] || exit 4
    ''' + SIGNING_HELPER.format(log=log, dir=tmp_path)
    request = TrackedRequest(id="web", cert_path=str(tmp_path / "web.crt"), key_path=str(tmp_path / "web.key"),
                             subject="CN=web.example.com", ca="helper", helper=helper(tmp_path, body))
    assert track(store, request, check_mode=False)["outcome"]["status"] == "CA_WORKING"
    assert not (tmp_path / "web.crt").exists()
    polled = renew(store)[0]
    assert (polled.action, polled.status) == ("renewed", "MONITORING"), polled.message
    assert log.read_text().split() == ["SUBMIT", "POLL"]
    cert = crypto.load_certificate((tmp_path / "web.crt").read_bytes())
    assert crypto.same_public_key(cert.public_key(), crypto.load_private_key((tmp_path / "web.key").read_bytes()))


def test_post_save_failure_is_reported_and_pre_save_failure_saves_nothing(tmp_path):
    store = Store(str(tmp_path / "store"))
    tracked(tmp_path, store, post_save_command="echo reload failed >&2; exit 7")
    make_due(store, "web")
    before = files(tmp_path)
    outcome = renew(store)[0]
    assert outcome.status == "POST_SAVE_FAILED" and "exit 7" in outcome.message and "reload failed" in outcome.message
    assert files(tmp_path) != before and listing(store, "web")[0]["stuck"]
    request = store.load("web")
    request.pre_save_command, request.post_save_command = "exit 1", ""
    store.save(request)
    saved = files(tmp_path)
    outcome = resubmit(store, "web", check_mode=False)["outcome"]
    assert outcome["status"] == "PRE_SAVE_FAILED" and files(tmp_path) == saved


def test_a_tracked_file_deleted_under_the_tracker(tmp_path):
    store = Store(str(tmp_path / "store"))
    tracked(tmp_path, store)
    os.unlink(tmp_path / "web.crt")
    outcome = renew(store)[0]
    assert outcome.status == "NEED_GUIDANCE" and "web.crt is missing" in outcome.message
    assert listing(store)[0]["stuck"]


def test_ca_ansible_reports_due_certificates(tmp_path):
    store = Store(str(tmp_path / "store"))
    tracked(tmp_path, store)
    request = store.load("web")
    request.ca = "ansible"
    store.save(request)
    make_due(store, "web")
    before = files(tmp_path)
    outcome = renew(store)[0]
    assert outcome.status == "NEED_CA" and "next playbook run" in outcome.message
    assert files(tmp_path) == before and not listing(store)[0]["stuck"]


def test_stop_tracking_keeps_the_files(tmp_path):
    store = Store(str(tmp_path / "store"))
    tracked(tmp_path, store)
    before = files(tmp_path)
    assert untrack(store, "web", check_mode=False)["changed"]
    assert listing(store) == [] and files(tmp_path) == before
    assert not untrack(store, "web", check_mode=False)["changed"]


def test_check_mode_changes_nothing(tmp_path):
    store = Store(str(tmp_path / "store"))
    result = track(store, TrackedRequest(id="web", cert_path=str(tmp_path / "web.crt"),
                                         key_path=str(tmp_path / "web.key"), subject="CN=web"), check_mode=True)
    assert result["changed"] and {c["action"] for c in result["changes"]} == {"write", "request certificate"}
    assert not (tmp_path / "web.crt").exists() and store.all() == []


@pytest.mark.parametrize("options, message", [
    (dict(id="../x"), "id '../x' must be"),
    (dict(ca="pigeon"), "ca must be one of"),
    (dict(ca="local"), "ca: local needs ca_cert_path and ca_key_path"),
    (dict(ca="helper"), "ca: helper needs helper"),
    (dict(cert_path="relative.crt"), "cert_path must be an absolute path"),
    (dict(renew_before=400), "renew_before .* shorter than valid_days"),
    (dict(renew_fraction=1.5), "renew_fraction must be between 0 and 1"),
    (dict(key_mode="0644"), "key_mode 0644 gives the key to other users"),
    (dict(key_size=1000), "key_size 1000 is not supported"),
    (dict(subject="not a dn"), "is not a distinguished name"),
    (dict(subject_alt_names=["IP:300.1.1.1"]), "not a valid IP address"),
    (dict(outputs=[dict(path="/x", format="jks")]), "output format must be one of"),
])
def test_bad_requests_are_refused_and_nothing_is_written(tmp_path, options, message):
    store = Store(str(tmp_path / "store"))
    defaults = dict(id="web", cert_path=str(tmp_path / "web.crt"), key_path=str(tmp_path / "web.key"),
                    subject="CN=web")
    with pytest.raises(CertError, match=message):
        track(store, TrackedRequest(**dict(defaults, **options)), check_mode=False)
    assert store.all() == [] and not (tmp_path / "web.crt").exists()


def test_the_command_line(tmp_path, capsys):
    store = str(tmp_path / "store")
    assert certkeeper(["--store", store, "start-tracking", "-i", "db", "-f", str(tmp_path / "db.crt"), "-k",
                       str(tmp_path / "db.key"), "-c", "self_sign", "-N", "CN=db.example.com", "-D", "db.example.com",
                       "-A", "10.0.0.5"]) == 0
    capsys.readouterr()
    assert certkeeper(["--store", store, "list"]) == 0
    text = capsys.readouterr().out
    assert "Request ID 'db':" in text and "\tstatus: MONITORING" in text and "\tstuck: no" in text
    assert "\tdns: db.example.com" in text and "\tip: 10.0.0.5" in text and "\teku: id-kp-serverAuth" in text
    assert certkeeper(["--store", store, "renew", "--all"]) == 0
    assert "db: not due (MONITORING)" in capsys.readouterr().out
    assert certkeeper(["--store", store, "resubmit", "-i", "nope"]) == 1
    assert "no tracked request with id 'nope'" in capsys.readouterr().err
    assert certkeeper(["--store", store, "stop-tracking", "-i", "db"]) == 0


def test_renewal_signs_the_tracked_names_never_those_on_disk(tmp_path, ca):
    ca_cert_path, ca_key_path, _ca_cert = ca
    store = Store(str(tmp_path / "store"))
    tracked(tmp_path, store, ca="local", ca_cert_path=ca_cert_path, ca_key_path=ca_key_path, key_owner="postgres",
            key_group="postgres")
    assert os.stat(tmp_path / "web.crt").st_uid == 0  # the service owns the key, never the certificate
    # the service forges a certificate for its own key with another name
    key = crypto.load_private_key((tmp_path / "web.key").read_bytes())
    forged_name = crypto.x509.Name([crypto.x509.NameAttribute(crypto.NameOID.COMMON_NAME, "bank.example.com")])
    forged = crypto.issue_certificate(key, forged_name, key.public_key(), forged_name,
                                      crypto.parse_subject_alt_names(["bank.example.com"]), 1, [])
    (tmp_path / "web.crt").write_bytes(crypto.certificate_pem(forged))
    make_due(store, "web")
    assert renew(store)[0].action == "renewed"
    renewed = crypto.load_certificate((tmp_path / "web.crt").read_bytes())
    assert crypto.common_name_of(renewed) == "web.example.com"
    assert [crypto.general_name_text(n) for n in crypto.subject_alt_names_of(renewed)] == ["DNS:web.example.com"]


def test_start_tracking_takes_the_names_of_the_certificate_once(tmp_path):
    store = Store(str(tmp_path / "store"))
    tracked(tmp_path, store, subject="CN=first", subject_alt_names=["DNS:first.example"])
    untrack(store, "web", check_mode=False)
    track(store, TrackedRequest(id="again", cert_path=str(tmp_path / "web.crt"), key_path=str(tmp_path / "web.key")),
          check_mode=False)
    again = store.load("again")
    assert (again.subject, again.subject_alt_names) == ("CN=first", ["DNS:first.example"])


def test_check_mode_creates_no_store(tmp_path):
    store = Store(str(tmp_path / "store"))
    request = TrackedRequest(id="web", cert_path=str(tmp_path / "web.crt"), key_path=str(tmp_path / "web.key"),
                             subject="CN=web")
    assert track(store, request, check_mode=True)["changed"]
    assert not untrack(store, "web", check_mode=True)["changed"]
    assert os.listdir(tmp_path) == []


def test_a_save_that_cannot_be_made_runs_no_command(tmp_path):
    store = Store(str(tmp_path / "store"))
    tracked(tmp_path, store, pre_save_command="touch %s" % (tmp_path / "stopped"))
    os.unlink(tmp_path / "stopped")
    request = store.load("web")
    request.chain_path = str(tmp_path / "missing-ca.crt")
    store.save(request)
    make_due(store, "web")
    before = files(tmp_path)
    outcome = renew(store)[0]
    assert outcome.status == "NEED_GUIDANCE" and "chain_path" in outcome.message
    assert files(tmp_path) == before and not (tmp_path / "stopped").exists()


def test_one_corrupt_record_does_not_stop_the_others(tmp_path):
    store = Store(str(tmp_path / "store"))
    tracked(tmp_path, store)
    make_due(store, "web")
    with open(os.path.join(store.requests_dir, "broken.json"), "w") as handle:
        handle.write("{not json")
    outcomes = {o.id: (o.action, o.status) for o in renew(store)}
    assert outcomes == {"broken": ("failed", "NEED_GUIDANCE"), "web": ("renewed", "MONITORING")}
    assert {i["request_id"]: i["stuck"] for i in listing(store)} == {"broken": True, "web": False}


@pytest.mark.parametrize("reply, cookie", [("echo 60; exit 5", "cookie-1"),
                                           ("printf '60\\nnew-cookie\\n'; exit 5", "new-cookie")])
def test_exit_5_is_a_delay_then_maybe_a_new_cookie(tmp_path, reply, cookie):
    store = Store(str(tmp_path / "store"))
    tracked(tmp_path, store)
    request = store.load("web")
    request.ca, request.helper = "helper", helper(tmp_path, '''
        if [ "$CERTMONGER_OPERATION" = SUBMIT ]; then echo cookie-1; exit 1; fi
        %s
    ''' % reply)
    store.save(request)
    make_due(store, "web")
    renew(store)
    assert store.load("web").ca_cookie == "cookie-1"
    assert renew(store)[0].status == "CA_WORKING" and store.load("web").ca_cookie == cookie


def test_an_unreachable_ca_while_polling_keeps_the_outstanding_request(tmp_path):
    store = Store(str(tmp_path / "store"))
    tracked(tmp_path, store)
    state = tmp_path / "ca-state"
    request = store.load("web")
    request.ca, request.helper = "helper", helper(tmp_path, f'''
        echo "$CERTMONGER_OPERATION" >> {state}
        if [ "$CERTMONGER_OPERATION" = SUBMIT ]; then echo cookie-1; exit 1; fi
        exit 3
    ''')
    store.save(request)
    make_due(store, "web")
    renew(store)
    pending = (tmp_path / "store" / "pending" / "web.key").read_bytes()
    assert renew(store)[0].status == "CA_UNREACHABLE"
    assert renew(store)[0].status == "CA_UNREACHABLE"
    assert state.read_text().split() == ["SUBMIT", "POLL", "POLL"]  # polled again, never resubmitted
    assert (tmp_path / "store" / "pending" / "web.key").read_bytes() == pending
    resubmit(store, "web", check_mode=False)  # resubmit starts over
    assert state.read_text().split()[-1] == "SUBMIT"


def test_a_ca_about_to_expire_is_reported_not_renewed_on_every_tick(tmp_path):
    ca_key = KeySpec().generate()
    short_ca = crypto.issue_ca_certificate(ca_key, "Short CA", 20)
    (tmp_path / "ca.key").write_bytes(crypto.pkcs8_pem(ca_key))
    (tmp_path / "ca.crt").write_bytes(crypto.certificate_pem(short_ca))
    store = Store(str(tmp_path / "store"))
    with pytest.raises(CertError, match="due at once"):
        tracked(tmp_path, store, ca="local", ca_cert_path=str(tmp_path / "ca.crt"), ca_key_path=str(tmp_path / "ca.key"))
    assert not (tmp_path / "web.crt").exists() and store.load("web").status == "CA_UNCONFIGURED"


def test_stop_tracking_removes_the_pending_key(tmp_path):
    store = Store(str(tmp_path / "store"))
    tracked(tmp_path, store)
    request = store.load("web")
    request.ca, request.helper = "helper", helper(tmp_path, "echo cookie; exit 1")
    store.save(request)
    make_due(store, "web")
    renew(store)
    assert (tmp_path / "store" / "pending" / "web.key").exists()
    untrack(store, "web", check_mode=False)
    assert not (tmp_path / "store" / "pending" / "web.key").exists()


def test_a_save_cut_between_its_renames_is_finished_on_the_next_tick(tmp_path):
    store = Store(str(tmp_path / "store"))
    tracked(tmp_path, store)
    old_key = (tmp_path / "web.key").read_bytes()
    make_due(store, "web")
    renew(store)
    new_key = (tmp_path / "web.key").read_bytes()
    # as if killed after renaming the certificate, before the key: new certificate, old key, pending key kept
    (tmp_path / "web.key").write_bytes(old_key)
    os.makedirs(tmp_path / "store" / "pending", exist_ok=True)
    (tmp_path / "store" / "pending" / "web.key").write_bytes(new_key)
    request = store.load("web")
    request.renew_before, request.valid_days = 30, 500
    store.save(request)
    outcome = renew(store)[0]
    assert (outcome.action, outcome.status) == ("not due", "MONITORING")
    assert (tmp_path / "web.key").read_bytes() == new_key and not (tmp_path / "store" / "pending" / "web.key").exists()
    cert = crypto.load_certificate((tmp_path / "web.crt").read_bytes())
    assert crypto.same_public_key(crypto.load_private_key((tmp_path / "web.key").read_bytes()), cert.public_key())
