"""A CA helper's answer is checked before it is saved (docs/cert_track.md, "What a CA helper's answer must be").

Each test runs a real helper process speaking certmonger's CA-helper protocol: a Python script that signs the
CSR it is handed with a real CA, but answers with what an attacker or a broken CA would (another subject,
other SANs, another issuer, a date in the future, a code-signing usage, another key), or a shell script that
prints without end or never returns. Each bad answer must end as CA_REJECTED (or CA_UNREACHABLE) with the
reason, the tracked files byte for byte as they were, and the post-save command not run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time

import pytest

from ansible_collections.certkeeper.pki.plugins.action.certkeeper_command import build_zipapp
from ansible_collections.certkeeper.pki.plugins.module_utils._core import crypto
from ansible_collections.certkeeper.pki.plugins.module_utils._core.commands import OUTPUT_LIMIT
from ansible_collections.certkeeper.pki.plugins.module_utils._core.crypto import KeySpec
from ansible_collections.certkeeper.pki.plugins.module_utils._tracking.request import TrackedRequest
from ansible_collections.certkeeper.pki.plugins.module_utils._tracking.store import Store
from ansible_collections.certkeeper.pki.plugins.module_utils._tracking.verbs import listing, renew, track

# The helper: signs $CERTMONGER_CSR with the CA of answer.json, shaped as answer.json says.
SIGNING_HELPER = '''\
#!{python}
import datetime, json, os, sys
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

here = os.path.dirname(os.path.abspath(__file__))
answer = json.load(open(os.path.join(here, "answer.json")))
csr = x509.load_pem_x509_csr(os.environ["CERTMONGER_CSR"].encode())
ca_key = serialization.load_pem_private_key(open(answer["ca_key"], "rb").read(), None)
ca_cert = x509.load_pem_x509_certificate(open(answer["ca_cert"], "rb").read())
now = datetime.datetime.now(datetime.timezone.utc)
public_key = csr.public_key()
if answer.get("other_key"):
    public_key = serialization.load_pem_public_key(open(answer["other_key"], "rb").read())
subject = x509.Name.from_rfc4514_string(answer["subject"]) if answer.get("subject") else csr.subject
issuer = x509.Name.from_rfc4514_string(answer["issuer"]) if answer.get("issuer") else ca_cert.subject
start = now + datetime.timedelta(days=answer.get("not_before_days", 0)) - datetime.timedelta(minutes=1)
builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(public_key)
           .serial_number(x509.random_serial_number()).not_valid_before(start)
           .not_valid_after(start + datetime.timedelta(days=500))
           .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True))
ku = dict(digital_signature=True, content_commitment=False, key_encipherment=True, data_encipherment=False,
          key_agreement=False, key_cert_sign=False, crl_sign=False, encipher_only=False, decipher_only=False)
ku.update(answer.get("key_usage", {{}}))
builder = builder.add_extension(x509.KeyUsage(**ku), critical=True)
if answer.get("eku", ["SERVER_AUTH"]):
    builder = builder.add_extension(
        x509.ExtendedKeyUsage([getattr(ExtendedKeyUsageOID, n) for n in answer.get("eku", ["SERVER_AUTH"])]),
        critical=False)
if answer.get("sans") is not None:
    names = [x509.DNSName(n) for n in answer["sans"]]
else:
    names = list(csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value)
if names:
    builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
cert = builder.sign(ca_key, hashes.SHA256())
sys.stdout.write(cert.public_bytes(serialization.Encoding.PEM).decode())
for extra in answer.get("chain", []):
    sys.stdout.write(open(extra).read())
'''


def write_ca(directory, name: str, signer=None):
    """A CA certificate and key under ``directory``: a root, or an intermediate when ``signer`` is (key, cert)."""
    key = KeySpec().generate()
    if signer is None:
        cert = crypto.issue_ca_certificate(key, name, 3650)
    else:
        subject = crypto.x509.Name([crypto.x509.NameAttribute(crypto.NameOID.COMMON_NAME, name)])
        cert = (crypto.x509.CertificateBuilder().subject_name(subject).issuer_name(signer[1].subject)
                .public_key(key.public_key()).serial_number(crypto.x509.random_serial_number())
                .not_valid_before(signer[1].not_valid_before_utc).not_valid_after(signer[1].not_valid_after_utc)
                .add_extension(crypto.x509.BasicConstraints(ca=True, path_length=0), critical=True)
                .sign(signer[0], crypto.hashes.SHA256()))
    (directory / (name + ".key")).write_bytes(crypto.pkcs8_pem(key))
    (directory / (name + ".crt")).write_bytes(crypto.certificate_pem(cert))
    return key, cert


@pytest.fixture
def lab(tmp_path):
    """A tracked, due certificate for CN=web.example.com (DNS:web.example.com) whose renewal goes through a
    real helper that signs with the CA "good"; the post-save command would leave a marker."""
    write_ca(tmp_path, "good")
    store = Store(str(tmp_path / "store"))
    request = TrackedRequest(id="web", cert_path=str(tmp_path / "web.crt"), key_path=str(tmp_path / "web.key"),
                             ca="self_sign", subject="CN=web.example.com", subject_alt_names=["DNS:web.example.com"])
    track(store, request, check_mode=False)
    helper_path = tmp_path / "helper.py"
    helper_path.write_text(SIGNING_HELPER.format(python=sys.executable))
    helper_path.chmod(0o755)
    request = store.load("web")
    request.ca, request.helper = "helper", str(helper_path)
    request.renew_before, request.valid_days = 400, 500  # due now
    request.ca_cert_path = str(tmp_path / "good.crt")
    request.post_save_command = "touch %s" % (tmp_path / "post-save-ran")
    store.save(request)
    return tmp_path, store


def answer(tmp_path, **shape):
    shape.setdefault("ca_key", str(tmp_path / "good.key"))
    shape.setdefault("ca_cert", str(tmp_path / "good.crt"))
    (tmp_path / "answer.json").write_text(json.dumps(shape))


def tracked_files(tmp_path) -> dict:
    return {name: (tmp_path / name).read_bytes() for name in ("web.crt", "web.key")}


def test_a_good_answer_is_saved(lab):
    """The control: the same helper, answering what was asked, is saved (so each refusal below is the guard's)."""
    tmp_path, store = lab
    answer(tmp_path)
    before = tracked_files(tmp_path)
    outcome = renew(store)[0]
    assert (outcome.action, outcome.status) == ("renewed", "MONITORING"), outcome.message
    assert tracked_files(tmp_path) != before and (tmp_path / "post-save-ran").exists()
    cert = crypto.load_certificate((tmp_path / "web.crt").read_bytes())
    assert crypto.extended_key_usage_names(cert) == ["serverAuth"]


def test_a_chain_sent_along_leads_to_the_configured_ca(lab):
    tmp_path, store = lab
    good = (crypto.load_private_key((tmp_path / "good.key").read_bytes()),
            crypto.load_certificate((tmp_path / "good.crt").read_bytes()))
    write_ca(tmp_path, "issuing", signer=good)
    answer(tmp_path, ca_key=str(tmp_path / "issuing.key"), ca_cert=str(tmp_path / "issuing.crt"),
           chain=[str(tmp_path / "issuing.crt")])
    outcome = renew(store)[0]
    assert (outcome.action, outcome.status) == ("renewed", "MONITORING"), outcome.message


def _other_key(tmp_path) -> str:
    other = KeySpec().generate()
    (tmp_path / "other.pub").write_bytes(other.public_key().public_bytes(
        crypto.serialization.Encoding.PEM, crypto.serialization.PublicFormat.SubjectPublicKeyInfo))
    return str(tmp_path / "other.pub")


def _other_ca(tmp_path) -> dict:
    write_ca(tmp_path, "other")
    return dict(ca_key=str(tmp_path / "other.key"), ca_cert=str(tmp_path / "other.crt"))


BAD_ANSWERS = [
    ("other-subject", lambda t: dict(subject="CN=postgres"), "its subject is 'CN=postgres', the request's is "
                                                             "'CN=web.example.com'"),
    ("other-sans", lambda t: dict(sans=["web.example.com", "db.example.com"]),
     "its subject alternative names are [DNS:db.example.com, DNS:web.example.com], the request's "
     "[DNS:web.example.com]"),
    ("no-sans", lambda t: dict(sans=[]), "its subject alternative names are [], the request's"),
    ("other-issuer", _other_ca, "does not verify against the configured CA (CN=good): issued by CN=other"),
    ("issuer-name-forged", lambda t: dict(_other_ca(t), issuer="CN=good"),
     "does not verify against the configured CA (CN=good): issued by CN=good"),
    ("not-before-200-days-ahead", lambda t: dict(not_before_days=200), "later than now"),
    ("code-signing-on-a-server", lambda t: dict(eku=["CODE_SIGNING"]),
     "its extendedKeyUsage (codeSigning) lacks serverAuth"),
    ("code-signing-added", lambda t: dict(eku=["SERVER_AUTH", "CODE_SIGNING"]),
     "its extendedKeyUsage allows codeSigning, which the profile does not"),
    ("any-purpose", lambda t: dict(eku=[]), "it has no extendedKeyUsage (so it is good for any purpose)"),
    ("may-sign-certificates", lambda t: dict(key_usage={"key_cert_sign": True}),
     "its keyUsage allows signing certificates or CRLs"),
    ("other-key", lambda t: dict(other_key=_other_key(t)), "it certifies another key, not the one of this request"),
]


@pytest.mark.parametrize("name, shape, reason", BAD_ANSWERS, ids=[b[0] for b in BAD_ANSWERS])
def test_a_bad_answer_is_rejected_with_its_reason_and_nothing_saved_or_run(lab, name, shape, reason):
    tmp_path, store = lab
    answer(tmp_path, **shape(tmp_path))
    before = tracked_files(tmp_path)
    outcome = renew(store)[0]
    assert (outcome.action, outcome.status) == ("failed", "CA_REJECTED"), outcome.message
    assert reason in outcome.message and "refused (nothing saved)" in outcome.message, outcome.message
    record = store.load("web")
    assert record.status == "CA_REJECTED" and reason in record.last_error
    assert tracked_files(tmp_path) == before  # byte for byte
    assert not (tmp_path / "post-save-ran").exists()
    assert not os.path.exists(store.pending_key_path("web"))  # the refused request is not polled again
    assert listing(store, "web")[0]["stuck"]


def test_the_chain_path_is_a_configured_ca_too(lab):
    tmp_path, store = lab
    request = store.load("web")
    request.ca_cert_path, request.chain_path = "", str(tmp_path / "good.crt")
    store.save(request)
    answer(tmp_path, **_other_ca(tmp_path))
    before = tracked_files(tmp_path)
    outcome = renew(store)[0]
    assert outcome.status == "CA_REJECTED" and "does not verify against the configured CA" in outcome.message
    assert tracked_files(tmp_path) == before and not (tmp_path / "post-save-ran").exists()


def test_without_a_configured_ca_the_issuer_is_not_checked_but_everything_else_is(lab):
    tmp_path, store = lab
    request = store.load("web")
    request.ca_cert_path = ""
    store.save(request)
    answer(tmp_path, **_other_ca(tmp_path), subject="CN=postgres")
    assert renew(store)[0].status == "CA_REJECTED"
    answer(tmp_path, **_other_ca(tmp_path))
    outcome = renew(store)[0]  # still due: submitted again, and this answer is what was asked for
    assert (outcome.action, outcome.status) == ("renewed", "MONITORING"), outcome.message


# --- output and time bounds -----------------------------------------------------------------------


def _shell_helper(tmp_path, store, body: str):
    path = tmp_path / "helper.sh"
    path.write_text("#!/bin/sh\n" + textwrap.dedent(body))
    path.chmod(0o755)
    request = store.load("web")
    request.helper = str(path)
    store.save(request)


def _certkeeper(tmp_path):
    command = tmp_path / "certkeeper"
    command.write_bytes(build_zipapp(sys.executable))
    command.chmod(0o755)
    return str(command)


@pytest.mark.parametrize("stream", ["stdout", "stderr"])
def test_a_helper_printing_50_mb_is_stopped_with_bounded_memory(lab, stream):
    tmp_path, store = lab
    redirect = "" if stream == "stdout" else " >&2"
    _shell_helper(tmp_path, store, "yes 'MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA' | head -c 50000000%s\nexit 0\n"
                  % redirect)
    before = tracked_files(tmp_path)
    started = time.monotonic()
    result = subprocess.run([_certkeeper(tmp_path), "--store", store.directory, "renew", "--all", "--json"],
                            capture_output=True, text=True, timeout=120, check=False)
    elapsed = time.monotonic() - started
    outcome = json.loads(result.stdout)[0]
    assert outcome["status"] == "CA_REJECTED", (outcome, result.stderr)
    assert "printed more than %d bytes on %s; stopped" % (OUTPUT_LIMIT, stream) in outcome["message"]
    assert tracked_files(tmp_path) == before and not (tmp_path / "post-save-ran").exists()
    assert elapsed < 30


def test_memory_stays_bounded_whatever_a_helper_prints(lab):
    """ru_maxrss of the certkeeper process (and the helper it waited for) stays far below what holding
    50 MB of output would take (that took > 150 MB: the bytes, then their text)."""
    tmp_path, store = lab
    _shell_helper(tmp_path, store, "yes 'MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA' | head -c 50000000\nexit 0\n")
    # Started by a small launcher: a child's ru_maxrss counts the image it was forked from, and pytest's own
    # (which grows with the suite) would be measured instead of certkeeper's.
    launcher = ("import os, subprocess, sys\n"
                "proc = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)\n"
                "print(os.wait4(proc.pid, 0)[2].ru_maxrss)\n")
    peak = int(subprocess.check_output([sys.executable, "-I", "-c", launcher, _certkeeper(tmp_path), "--store",
                                        store.directory, "renew", "--all", "--json"], timeout=120))
    assert peak * 1024 < 100 * 1024 * 1024, "certkeeper peaked at %d KiB" % peak
    assert store.load("web").status == "CA_REJECTED"


def test_a_helper_that_never_answers_is_killed_at_the_timeout(lab, monkeypatch):
    tmp_path, store = lab
    monkeypatch.setenv("CERTKEEPER_COMMAND_TIMEOUT", "2")
    _shell_helper(tmp_path, store, """\
        echo $$ > %s/helper.pid
        sleep 300 &
        echo $! > %s/child.pid
        wait
    """ % (tmp_path, tmp_path))
    before = tracked_files(tmp_path)
    started = time.monotonic()
    outcome = renew(store)[0]
    assert time.monotonic() - started < 15
    assert outcome.status == "CA_UNREACHABLE" and "timed out after 2 s" in outcome.message, outcome.message
    assert tracked_files(tmp_path) == before and not (tmp_path / "post-save-ran").exists()
    for name in ("helper.pid", "child.pid"):
        pid = int((tmp_path / name).read_text())
        assert _gone(pid), "%s %d still runs" % (name, pid)


def _gone(pid: int) -> bool:
    """The process ended (an orphan may be a zombie a moment, until its new parent reaps it)."""
    for _attempt in range(50):
        try:
            with open("/proc/%d/stat" % pid) as handle:
                if handle.read().rsplit(")", 1)[1].split()[0] == "Z":
                    return True
        except FileNotFoundError:
            return True
        time.sleep(0.1)
    return False
