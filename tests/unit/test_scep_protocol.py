"""The SCEP client against a real server: micromdm's scepserver 2.1.0 (tests/support/scep_server.py).

Nothing is mocked: every request crosses HTTP to the server, which decrypts, checks the challenge, issues from
its depot CA and answers a signed, encrypted CertRep that the client verifies and opens. The suite runs as root
with the ``scep`` package installed (scripts/bootstrap.sh), and fails loudly when either is missing."""

from __future__ import annotations

import contextlib
import datetime
import os
import socket
import subprocess
import threading
import time

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from ansible_collections.certkeeper.pki.plugins.module_utils._ca import scep_protocol as scep
from ansible_collections.certkeeper.pki.plugins.module_utils._core import crypto
from ansible_collections.certkeeper.pki.plugins.module_utils._core.errors import CertError
from tests.support.scep_server import ScepServer

SUBJECT = x509.Name(
    [x509.NameAttribute(NameOID.ORGANIZATION_NAME, "certkeeper"), x509.NameAttribute(NameOID.COMMON_NAME, "db1")]
)
SANS = [x509.DNSName("db1.example.com")]
# What the client does without the capabilities: SHA-1, 3DES, GET with the message in the query string.
LEGACY_CAPS: set[str] = set()
ENCRYPT_ONLY = x509.KeyUsage(
    digital_signature=False,
    content_commitment=False,
    key_encipherment=True,
    data_encipherment=False,
    key_agreement=False,
    key_cert_sign=False,
    crl_sign=False,
    encipher_only=False,
    decipher_only=False,
)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with ScepServer(tmp_path_factory.mktemp("scep")) as running:
        yield running


@pytest.fixture
def own_server(tmp_path):
    """A server of the test's own, for tests that stop it or start it otherwise."""
    with ScepServer(tmp_path) as running:
        yield running


def new_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def ca_certificate(server) -> x509.Certificate:
    with open(server.ca_pem, "rb") as pem:
        return x509.load_pem_x509_certificate(pem.read())


def request(server, key, challenge, caps=None, message_type=scep.PKCS_REQ, signer=None):
    """A PKCSReq for ``key`` as a caller makes it; RenewalReq when ``signer`` is (certificate, key)."""
    csr = crypto.build_csr(key, SUBJECT, SANS)
    csr = scep.csr_with_challenge(csr, key, challenge) if challenge is not None else csr
    signer_cert, signer_key = signer or (scep.throwaway_signer(key, SUBJECT), key)
    return scep.enroll(
        server.url,
        csr=csr,
        signer_key=signer_key,
        signer_cert=signer_cert,
        ca_certs=scep.get_ca_certs(server.url),
        caps=scep.get_ca_caps(server.url) if caps is None else caps,
        message_type=message_type,
        timeout=10,
    )


def assert_issued(reply, key, server):
    ca = ca_certificate(server)
    assert reply.status == scep.SUCCESS and reply.fail_info is None
    assert crypto.same_public_key(reply.certificate.public_key(), key)
    reply.certificate.verify_directly_issued_by(ca)
    assert reply.certificate.subject == SUBJECT
    assert crypto.subject_alt_names_of(reply.certificate) == SANS
    assert reply.chain == (ca,)


def test_get_ca_caps(server):
    assert scep.get_ca_caps(server.url) == {
        "RENEWAL",
        "SHA-1",
        "SHA-256",
        "AES",
        "DES3",
        "SCEPSTANDARD",
        "POSTPKIOPERATION",
    }


def test_get_ca_certs_and_thumbprints_match_openssl(server):
    assert scep.get_ca_certs(server.url) == [ca_certificate(server)]
    thumbprints = scep.thumbprints(ca_certificate(server))
    for name in ("md5", "sha1", "sha256"):
        out = subprocess.run(
            ["openssl", "x509", "-noout", "-fingerprint", "-" + name, "-in", server.ca_pem],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        hex_digits = out.strip().split("=", 1)[1].replace(":", "")
        assert thumbprints[name] == " ".join(hex_digits[i : i + 8] for i in range(0, len(hex_digits), 8))
    assert len(thumbprints["sha256"].split(" ")) == 8


@pytest.mark.parametrize("caps", [None, LEGACY_CAPS], ids=["server-caps: SHA-256 AES POST", "none: SHA-1 3DES GET"])
def test_pkcs_req_with_the_challenge_is_issued(server, caps):
    key = new_key()
    reply = request(server, key, server.challenge, caps=caps)
    assert_issued(reply, key, server)
    assert len(reply.transaction_id) == 64


@pytest.mark.parametrize("challenge", ["not-the-challenge", None])
def test_pkcs_req_without_the_right_challenge_fails(server, challenge):
    reply = request(server, new_key(), challenge)
    assert (reply.status, reply.fail_info, reply.certificate) == (scep.FAILURE, "badRequest", None)


@pytest.mark.parametrize("same_key", [True, False], ids=["same key", "new key"])
def test_renewal_req_signed_with_the_issued_certificate(server, same_key):
    old_key = new_key()
    first = request(server, old_key, server.challenge)
    key = old_key if same_key else new_key()
    renewed = request(server, key, server.challenge, message_type=scep.RENEWAL_REQ, signer=(first.certificate, old_key))
    assert_issued(renewed, key, server)
    assert renewed.certificate.serial_number != first.certificate.serial_number


def test_this_server_wants_the_challenge_in_a_renewal_too(server):
    """scepserver 2.1.0 checks the challenge on every request (server/csrsigner.go ChallengeMiddleware)."""
    key = new_key()
    first = request(server, key, server.challenge)
    renewed = request(server, key, None, message_type=scep.RENEWAL_REQ, signer=(first.certificate, key))
    assert (renewed.status, renewed.fail_info) == (scep.FAILURE, "badRequest")


def test_a_reply_not_signed_by_a_trusted_certificate_is_refused(server, monkeypatch):
    """The server's real reply, checked against another CA: the request still reaches the server (encrypted
    to its key through an RA-shaped certificate that may only encrypt), but its CA is not trusted to sign."""
    other_key = new_key()
    other_ca = crypto.issue_ca_certificate(other_key, "unrelated CA", 30)
    real = ca_certificate(server)
    now = crypto.now_utc()
    encrypt_only = (
        x509.CertificateBuilder()
        .subject_name(real.subject)
        .issuer_name(real.issuer)  # issuer and serial as the server's own, for it to find its key
        .serial_number(real.serial_number)
        .public_key(real.public_key())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(ENCRYPT_ONLY, critical=True)
        .sign(other_key, hashes.SHA256())
    )
    with pytest.raises(scep.ScepError, match="not signed by the server's CA or RA certificate"):
        _pkcs_req_trusting(server, [other_ca, encrypt_only])


def test_requests_encrypted_for_another_ca_get_no_reply(server):
    """The server cannot open them and answers HTTP 500: unreachable, not a verdict on the request."""
    other_ca = crypto.issue_ca_certificate(new_key(), "unrelated CA", 30)
    with pytest.raises(scep.ScepUnreachable, match="HTTP 500"):
        _pkcs_req_trusting(server, [other_ca])


def _pkcs_req_trusting(server, ca_certs: list):
    """A PKCSReq with the right challenge, encrypted to and checked against ``ca_certs`` instead of the server's."""
    key = new_key()
    csr = scep.csr_with_challenge(crypto.build_csr(key, SUBJECT), key, server.challenge)
    return scep.enroll(
        server.url,
        csr=csr,
        signer_key=key,
        signer_cert=scep.throwaway_signer(key, SUBJECT),
        ca_certs=ca_certs,
        caps=scep.get_ca_caps(server.url),
        message_type=scep.PKCS_REQ,
    )


def test_a_stopped_server_is_unreachable_and_a_restarted_one_takes_its_new_challenge(own_server):
    ca_certs, caps = scep.get_ca_certs(own_server.url), scep.get_ca_caps(own_server.url)
    own_server.stop()
    with pytest.raises(scep.ScepUnreachable, match="Connection refused"):
        scep.get_ca_caps(own_server.url, timeout=5)
    with pytest.raises(scep.ScepUnreachable):
        scep.get_ca_certs(own_server.url, timeout=5)
    key = new_key()
    csr = scep.csr_with_challenge(crypto.build_csr(key, SUBJECT), key, "old-challenge")
    with pytest.raises(scep.ScepUnreachable):
        scep.enroll(
            own_server.url,
            csr=csr,
            signer_key=key,
            signer_cert=scep.throwaway_signer(key, SUBJECT),
            ca_certs=ca_certs,
            caps=caps,
            message_type=scep.PKCS_REQ,
            timeout=5,
        )
    old = own_server.challenge
    own_server.start(challenge="rotated-challenge")
    assert request(own_server, new_key(), old).status == scep.FAILURE
    assert request(own_server, new_key(), "rotated-challenge").status == scep.SUCCESS


def test_a_server_that_never_answers_is_unreachable():
    with socket.create_server(("127.0.0.1", 0)) as silent:  # connections complete in the backlog, unanswered
        url = "http://127.0.0.1:%d/scep" % silent.getsockname()[1]
        with pytest.raises(scep.ScepUnreachable, match="timed out|no answer within"):
            scep.get_ca_caps(url, timeout=0.5)


def test_a_server_that_answers_a_byte_at_a_time_is_cut_off_at_the_timeout():
    """Each byte comes well within the read timeout; the whole answer would not: the exchange ends at the timeout,
    so no server holds the renewal run (and the store's lock) for longer."""
    with socket.create_server(("127.0.0.1", 0)) as dripping:
        def drip():
            client = dripping.accept()[0]
            with contextlib.suppress(OSError), client:
                client.recv(4096)
                for byte in b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n" + b"x" * 100:
                    client.sendall(bytes([byte]))
                    time.sleep(0.1)
        threading.Thread(target=drip, daemon=True).start()
        started = time.monotonic()
        with pytest.raises(scep.ScepUnreachable, match="no answer within 1 s"):
            scep.get_ca_caps("http://127.0.0.1:%d/scep" % dripping.getsockname()[1], timeout=1.0)
        assert time.monotonic() - started < 3


def test_this_server_never_answers_pending(own_server, tmp_path):
    """scepserver 2.1.0 answers SUCCESS or FAILURE/badRequest only (server/service.go PKIOperation): a CSR
    verifier that declines is a FAILURE, and a CertPoll is not implemented (HTTP 500)."""
    verifier = tmp_path / "decline.sh"
    verifier.write_text("#!/bin/sh\ncat >/dev/null\nexit 1\n")
    os.chmod(verifier, 0o755)
    own_server.stop()
    own_server.start(csr_verifier=str(verifier))
    key = new_key()
    declined = request(own_server, key, own_server.challenge)
    assert (declined.status, declined.fail_info) == (scep.FAILURE, "badRequest")
    with pytest.raises(scep.ScepUnreachable, match="HTTP 500"):
        request(own_server, key, own_server.challenge, message_type=scep.CERT_POLL)


@pytest.mark.parametrize(
    "message_type, caps",
    [(scep.PKCS_REQ, {"SCEPSTANDARD"}), (scep.CERT_POLL, LEGACY_CAPS)],
    ids=["PKCSReq", "CertPoll"],
)
def test_openssl_verifies_and_opens_what_we_send(server, tmp_path, message_type, caps):
    """A second, independent reader of our messages (the server cannot read a CertPoll): OpenSSL checks the
    signature and messageDigest, then decrypts the envelope with the depot CA's key."""
    key = new_key()
    csr = crypto.build_csr(key, SUBJECT)
    signer = scep.throwaway_signer(key, SUBJECT)
    message = scep._request(message_type, csr, "T1", os.urandom(16), key, signer, [ca_certificate(server)], caps)
    (tmp_path / "request.der").write_bytes(message)
    subprocess.run(
        ["openssl", "cms", "-verify", "-noverify", "-inform", "DER", "-in", "request.der", "-out", "envelope.der"],
        cwd=tmp_path,
        check=True,
        capture_output=True,
    )
    decrypt = ["openssl", "cms", "-decrypt", "-inform", "DER", "-in", "envelope.der", "-out", "content.der"]
    key_options = ["-inkey", os.path.join(server.depot, "ca.key"), "-passin", "pass:", "-recip", server.ca_pem]
    subprocess.run(decrypt + key_options, cwd=tmp_path, check=True, capture_output=True)
    content = (tmp_path / "content.der").read_bytes()
    if message_type == scep.CERT_POLL:  # IssuerAndSubject
        names = ca_certificate(server).subject.public_bytes() + SUBJECT.public_bytes()
        assert content == bytes((0x30, len(names))) + names
    else:
        assert content == csr.public_bytes(serialization.Encoding.DER)


def test_only_rsa_signers_are_accepted():
    key = ec.generate_private_key(ec.SECP256R1())
    with pytest.raises(CertError, match="RSA"):
        scep.enroll(
            "http://127.0.0.1:9/scep",
            csr=crypto.build_csr(key, SUBJECT),
            signer_key=key,
            signer_cert=scep.throwaway_signer(key, SUBJECT),
            ca_certs=[],
            caps=set(),
            message_type=scep.PKCS_REQ,
        )
