"""ca: scep's configuration and request record against real SCEP servers (tests/support/scep_server.py): a declared
configuration never takes a new CA silently, a PIN is told apart by its salted digest and kept only until spent."""

from __future__ import annotations

import json
import os

import pytest
from cryptography import x509

from ansible_collections.certkeeper.pki.plugins.module_utils._ca.base import IssueRequest
from ansible_collections.certkeeper.pki.plugins.module_utils._ca.registry import issuer_for
from ansible_collections.certkeeper.pki.plugins.module_utils._ca.scep import ScepCAConfig
from ansible_collections.certkeeper.pki.plugins.module_utils._core import crypto
from ansible_collections.certkeeper.pki.plugins.module_utils._core.crypto import KeySpec
from ansible_collections.certkeeper.pki.plugins.module_utils._core.errors import CertError
from ansible_collections.certkeeper.pki.plugins.module_utils._tracking.request import (
    TrackedRequest,
    challenge_digest,
    request_from_options,
)
from ansible_collections.certkeeper.pki.plugins.module_utils._tracking.store import Store
from ansible_collections.certkeeper.pki.plugins.module_utils._tracking.verbs import add_scep_ca, list_cas, track
from tests.support.scep_server import ScepServer


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    base = tmp_path_factory.mktemp("scep-servers")
    with ScepServer(base / "a") as first, ScepServer(base / "b") as second:
        yield first, second


def sha256(store: Store, name: str) -> str:
    return list_cas(store, name)[0]["certificates"][0]["thumbprints"]["sha256"]


def test_a_declared_configuration_never_takes_a_new_ca_silently(servers, tmp_path):
    first, second = servers
    store = Store(str(tmp_path / "store"))
    added = add_scep_ca(store, ScepCAConfig("corp", first.url), check_mode=False, declared=True)
    assert added["changed"] and added["changes"][-1]["reason"] == "add SCEP CA"
    kept = open(store.path("corp", ScepCAConfig), "rb").read()
    # a rerun asks nothing (the server may even be down) and changes nothing
    first.stop()
    try:
        again = add_scep_ca(store, ScepCAConfig("corp", first.url), check_mode=False, declared=True)
    finally:
        first.start()
    assert not again["changed"]
    # the configuration now names a server with another CA: refused, naming its thumbprint; nothing changed
    with pytest.raises(CertError, match="now sends other CA certificates") as refused:
        add_scep_ca(store, ScepCAConfig("corp", second.url), check_mode=False, declared=True)
    other = ScepCAConfig("x", second.url, ca_certs=open(second.ca_pem).read()).describe()
    assert other["certificates"][0]["thumbprints"]["sha256"] in str(refused.value)
    assert open(store.path("corp", ScepCAConfig), "rb").read() == kept
    # accepted once the thumbprint the CA publishes is given (colons and case as openssl prints it)
    openssl_style = ":".join(other["certificates"][0]["thumbprints"]["sha256"].replace(" ", "")[i:i + 2].lower()
                             for i in range(0, 64, 2))
    moved = add_scep_ca(store, ScepCAConfig("corp", second.url), check_mode=False, thumbprint=openssl_style,
                        declared=True)
    assert moved["changed"] and moved["changes"][-1]["reason"] == "update SCEP CA"
    assert sha256(store, "corp") == other["certificates"][0]["thumbprints"]["sha256"]


def test_a_wrong_thumbprint_stops_before_anything_is_kept(servers, tmp_path):
    store = Store(str(tmp_path / "store"))
    with pytest.raises(CertError, match="none of its certificates has the SHA-256 thumbprint"):
        add_scep_ca(store, ScepCAConfig("corp", servers[0].url), check_mode=False, thumbprint="00" * 32)
    assert not os.path.exists(os.path.join(str(tmp_path / "store"), "cas"))


def test_check_mode_asks_the_server_and_writes_nothing(servers, tmp_path):
    store = Store(str(tmp_path / "store"))
    checked = add_scep_ca(store, ScepCAConfig("corp", servers[0].url), check_mode=True)
    assert checked["changed"] and checked["ca"]["certificates"] and not os.path.exists(str(tmp_path / "store"))


def test_the_pin_is_told_apart_by_a_salted_digest_and_never_shown():
    options = dict(cert_path="/etc/app.crt", key_path="/etc/app.key", ca="scep", scep_ca="corp", challenge="1234",
                   subject="CN=app")
    stored = request_from_options("app", options)
    assert stored.keep_status(None) == ""  # a new record: what the store does before it saves one
    assert stored.challenge == "1234" and "1234" not in stored.challenge_digest
    assert challenge_digest("1234") != challenge_digest("1234")  # salted: equal PINs give unequal digests
    stored.challenge = ""  # spent
    rerun = request_from_options("app", options)
    assert rerun.keep_status(stored) == "" and rerun.challenge == ""  # the same PIN again: nothing new
    renewed = request_from_options("app", dict(options, challenge="5678"))
    assert renewed.keep_status(stored) == "a new challenge password" and renewed.challenge == "5678"
    assert "1234" not in json.dumps(stored.public()) and "challenge" not in stored.public()
    assert "1234" not in stored.shown() and "5678" not in renewed.shown()


def test_scep_needs_an_rsa_key():
    request = TrackedRequest(id="app", cert_path="/etc/app.crt", key_path="/etc/app.key", ca="scep", scep_ca="corp",
                             subject="CN=app", key_type="ecdsa", key_size=256)
    with pytest.raises(CertError, match="ca: scep needs key_type rsa"):
        request.validate()


def test_a_thumbprint_anchors_every_certificate_that_comes_with_it(servers):
    """A set with the pinned CA and a certificate of another key (an 'RA' someone on the path added): refused,
    naming it, for requests would be encrypted to it and its replies taken."""
    first = servers[0]
    real = open(first.ca_pem).read()
    stray = crypto.issue_ca_certificate(KeySpec().generate(), "Not the CA", 30)
    config = ScepCAConfig("corp", first.url, ca_certs=crypto.certificate_pem(stray).decode() + real)
    pinned = ScepCAConfig("x", first.url, ca_certs=real).sha256_thumbprints()[0]
    assert "CN=Not the CA came with the certificate" in config.pinned_problem(pinned)
    assert ScepCAConfig("corp", first.url, ca_certs=real).pinned_problem(pinned) is None
    assert "none of its certificates" in config.pinned_problem("AB" * 32)


def test_a_cookie_another_ca_type_left_starts_the_request_anew(servers, tmp_path):
    """A request that was waiting on a helper (its cookie kept) and is moved to ca: scep is issued, not stuck on a
    cookie SCEP cannot read."""
    first = servers[0]
    store = Store(str(tmp_path / "store"))
    add_scep_ca(store, ScepCAConfig("corp", first.url, renewal_challenge=True), check_mode=False)
    request = TrackedRequest(id="app", cert_path=str(tmp_path / "app.crt"), key_path=str(tmp_path / "app.key"),
                             ca="scep", scep_ca="corp", subject="CN=app", profile="client",
                             challenge=first.challenge, renew_before=1)
    key = KeySpec().generate()
    answer = issuer_for(request, store=store).issue(IssueRequest(
        private_key=key, subject=x509.Name.from_rfc4514_string("CN=app"), subject_alt_names=[], profile="client",
        valid_days=365, now=crypto.now_utc(), cookie="helper-cookie-42"))
    assert answer.outcome == "ISSUED" and crypto.same_public_key(answer.certificate.public_key(), key)


def test_check_mode_forgives_only_a_missing_scep_configuration(tmp_path):
    """An earlier task may add the SCEP CA configuration; a CA that is there but unfit is an error in check mode too."""
    store = Store(str(tmp_path / "store"))
    scep_request = request_from_options("app", dict(cert_path=str(tmp_path / "a.crt"), key_path=str(tmp_path / "a.key"),
                                                    ca="scep", scep_ca="corp", subject="CN=app"))
    checked = track(store, scep_request, check_mode=True)
    assert "no SCEP CA configuration 'corp'" in " ".join(checked["warnings"])
    with pytest.raises(CertError, match="no SCEP CA configuration"):
        track(store, scep_request, check_mode=False)
