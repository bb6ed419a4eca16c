# -*- coding: utf-8 -*-
# Copyright (c) certkeeper.pki contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""``ca: scep``: a SCEP server (RFC 8894), through a CA configuration the store keeps, as certmonger's
``getcert add-scep-ca`` does (``certkeeper add-scep-ca -c NAME -u URL [-R CAFILE]``).

Adding the configuration fetches the server's capabilities and its CA (and RA) certificates once and keeps them:
over plain HTTP that answer is not authenticated, so a person compares the thumbprints ``list-cas`` shows with
the CA's own, and from then on every reply must be signed by one of those certificates and every certificate
issued under them (a server swapped in later cannot issue an identity). The first request carries the one-time
challenge password (``-L``); it stays in the root-only store only until the first certificate is issued, unless
the configuration says renewals carry it too (micromdm's server checks it on renewals; NDES refuses a renewal
that repeats a one-time PIN). A renewal is a RenewalReq signed with the current key and certificate when the
server offers it."""

from __future__ import annotations

import json
import os
import re
from dataclasses import asdict, dataclass, field
from typing import ClassVar

from .._core import crypto
from .._core.errors import CertError
from .._core.option_specs import ID_PATTERN
from . import scep_protocol as scep
from .base import PENDING, REJECTED, UNCONFIGURED, UNREACHABLE, Answer, Issuer, IssueRequest, answer_problem

TIMEOUT = 30.0  # seconds for one HTTP exchange with the server


@dataclass
class ScepCAConfig:
    """A SCEP CA as ``add-scep-ca`` recorded it: where it answers, and what GetCACaps and GetCACert said then."""

    store_dir: ClassVar[str] = "cas"

    id: str  # the name requests give as scep_ca (certmonger's CA nickname)
    url: str
    ca_file: str = ""  # -R: the CA certificate that verifies an https:// server
    renewal_challenge: bool = False  # renewals carry the challenge password too
    ca_certs: str = ""  # PEM: GetCACert's answer when the configuration was added (replies are checked against it)
    caps: list = field(default_factory=list)

    def validate(self) -> ScepCAConfig:
        if not ID_PATTERN.match(self.id or ""):
            raise CertError(
                "the CA name %r must be 1-128 letters, digits, '_', '.', '@' or '-', starting with a letter or digit"
                % (self.id,)
            )
        if not re.match(r"^https?://[^\s/]+", self.url or ""):
            raise CertError("the SCEP URL must be http://HOST/... or https://HOST/..., got %r" % (self.url,))
        if self.ca_file and not self.ca_file.startswith("/"):
            raise CertError("the SCEP server's CA file (-R) must be an absolute path, got %r" % (self.ca_file,))
        return self

    def certificates(self) -> list:
        return crypto.load_certificates(self.ca_certs.encode())

    def sha256_thumbprints(self) -> list:
        return [scep.thumbprints(cert)["sha256"] for cert in self.certificates()]

    def pinned_problem(self, thumbprint: str) -> str | None:
        """Why these certificates do not all rest on the one with this SHA-256 thumbprint (spaces, colons and case
        aside), or None. Every certificate must be it or be issued under it: an RA or CA certificate of another key
        sent along would otherwise be trusted with it (requests encrypted to it, its replies and leaves taken)."""
        wanted = re.sub(r"[\s:]", "", thumbprint).upper()
        certs = self.certificates()
        anchored = [cert for cert in certs if scep.thumbprints(cert)["sha256"].replace(" ", "") == wanted]
        if not anchored:
            return "none of its certificates has the SHA-256 thumbprint %s (theirs: %s)" % (
                thumbprint,
                "; ".join(self.sha256_thumbprints()),
            )
        grown = True
        while grown:  # the certificates issued under the pinned one, directly or through another of the set
            grown = False
            for cert in certs:
                if cert not in anchored and any(crypto.issued_by(cert, ca) for ca in anchored):
                    anchored.append(cert)
                    grown = True
        strays = [cert.subject.rfc4514_string() for cert in certs if cert not in anchored]
        if strays:
            return "%s came with the certificate of thumbprint %s but %s not issued under it" % (
                ", ".join(strays),
                thumbprint,
                "is" if len(strays) == 1 else "are",
            )
        return None

    def shown(self) -> str:
        """The configuration for --diff."""
        data = asdict(self)
        data["ca_certs"] = [describe_certificate(cert)["subject"] for cert in self.certificates()]
        return json.dumps(data, indent=2, sort_keys=True) + "\n"

    def describe(self) -> dict:
        """What ``list-cas`` shows: the settings and, for each certificate GetCACert gave, its thumbprints."""
        return {
            "name": self.id,
            "ca_type": "SCEP",
            "url": self.url,
            "ca_file": self.ca_file,
            "renewal_challenge": self.renewal_challenge,
            "capabilities": sorted(self.caps),
            "certificates": [describe_certificate(cert) for cert in self.certificates()],
        }


def describe_certificate(cert) -> dict:
    return {
        "subject": cert.subject.rfc4514_string(),
        "issuer": cert.issuer.rfc4514_string(),
        "not_after": cert.not_valid_after_utc.isoformat(),
        "is_ca": crypto.is_ca_certificate(cert),
        "thumbprints": scep.thumbprints(cert),
    }


def fetch_config(name: str, url: str, ca_file: str = "", renewal_challenge: bool = False) -> ScepCAConfig:
    """The configuration of the SCEP server at ``url``: its capabilities and CA certificates, asked now."""
    config = ScepCAConfig(name, url, ca_file, renewal_challenge).validate()
    certs = scep.get_ca_certs(url, TIMEOUT, cafile=ca_file)
    scep.server_certificates(certs)  # a set a request can be encrypted to and a reply checked against
    config.caps = sorted(scep.get_ca_caps(url, TIMEOUT, cafile=ca_file))
    config.ca_certs = b"".join(crypto.certificate_pem(cert) for cert in certs).decode()
    return config


class ScepCA(Issuer):
    name = "scep"
    summary = "a SCEP server, through a CA configuration added with certkeeper add-scep-ca"
    options: ClassVar[dict] = {
        "scep_ca": {
            "cli": ("--scep-ca",),
            "type": "str",
            "description": "The name of the SCEP CA configuration (C(certkeeper add-scep-ca -c NAME -u URL)).",
        },
        "challenge": {
            "cli": ("-L", "--challenge"),
            "type": "str",
            "no_log": True,
            "description": "The one-time challenge password (PIN) the CA gave for this request. Kept in the root-only "
            "store until the first certificate is issued, then forgotten unless the CA configuration says "
            "renewals carry it. A new value is taken as a new PIN.",
        },
    }
    required = ("scep_ca",)
    _spent = False  # the issued certificate spent a one-time PIN (forgotten once it is saved)

    @classmethod
    def check(cls, settings) -> None:
        super().check(settings)
        if getattr(settings, "key_type", "rsa") != "rsa":
            raise CertError("ca: scep needs key_type rsa (a SCEP server encrypts its reply to the request's key)")

    def preflight(self) -> None:
        self._config()

    def issue(self, request: IssueRequest) -> Answer:
        try:
            config = self._config()
        except CertError as exc:
            return Answer(UNCONFIGURED, message=str(exc))
        try:
            return self._answer(config, request)
        except scep.ScepUnreachable as exc:
            return Answer(UNREACHABLE, message="%s; retried on the next tick" % exc)
        except CertError as exc:
            return Answer(REJECTED, message="%s (nothing saved)" % exc)
        except Exception as exc:  # pylint: disable=broad-except  # a reply no parser foresaw: this request only
            return Answer(REJECTED, message="the SCEP server's reply cannot be used (nothing saved): %r" % exc)

    def saved(self) -> None:
        if self._spent:  # a one-time PIN, spent on the certificate just saved
            self.settings.challenge = ""

    def _answer(self, config: ScepCAConfig, request: IssueRequest) -> Answer:
        reply, cookie = self._exchange(config, request)
        if reply.status == scep.PENDING:
            return Answer(
                PENDING,
                message="the SCEP server holds the request (transaction %s); polled on the next tick"
                % reply.transaction_id,
                cookie=cookie,
            )
        if reply.status == scep.FAILURE:
            return Answer(
                REJECTED,
                message="the SCEP server refused the request (failInfo %s): a wrong or used challenge password, "
                "or a request it does not accept; give a new challenge and resubmit" % reply.fail_info,
            )
        problem = answer_problem(reply.certificate, list(reply.chain), request, config.certificates())
        if problem:
            return Answer(REJECTED, message="the SCEP server's certificate is refused (nothing saved): %s" % problem)
        self._spent = not config.renewal_challenge
        return Answer.issued(reply.certificate, reply.chain)

    def _config(self) -> ScepCAConfig:
        name = self.settings.scep_ca
        config = self.store.load(name, ScepCAConfig) if self.store is not None else None
        if config is None:
            raise MissingConfiguration(
                "there is no SCEP CA configuration %r in the tracking store; add it with "
                "certkeeper add-scep-ca -c %s -u URL" % (name, name)
            )
        if config.ca_file and not os.access(config.ca_file, os.R_OK):
            raise CertError("the SCEP server's CA file %s (-R) of CA %r cannot be read" % (config.ca_file, name))
        return config.validate()

    def _exchange(self, config: ScepCAConfig, request: IssueRequest) -> tuple:
        """(the server's reply, the cookie to poll with): a CertPoll for a request the server holds (the cookie),
        else a RenewalReq signed with the current certificate when the server takes one, else a PKCSReq signed
        with a throwaway certificate of the new key. A PKCSReq carries the challenge held; a RenewalReq only when
        the configuration says renewals carry it."""
        caps = set(config.caps)
        held = _held(request.cookie)
        if held:  # poll with the very signer and transaction of the request the server holds
            signed_by_current, transaction = held["signed_by_current"], held["transaction_id"]
            signer_cert = crypto.load_certificate(held["signer"].encode())
            message_type = scep.CERT_POLL
        elif request.current_certificate is not None and request.current_key is not None and "RENEWAL" in caps:
            signed_by_current, signer_cert, message_type = True, request.current_certificate, scep.RENEWAL_REQ
            transaction = None
        else:
            signed_by_current, message_type, transaction = False, scep.PKCS_REQ, None
            signer_cert = scep.throwaway_signer(request.private_key, request.subject)
        csr = request.csr()
        if self.settings.challenge and (message_type != scep.RENEWAL_REQ or config.renewal_challenge):
            csr = scep.csr_with_challenge(csr, request.private_key, self.settings.challenge)
        reply = scep.enroll(
            config.url,
            csr=csr,
            signer_key=request.current_key if signed_by_current else request.private_key,
            signer_cert=signer_cert,
            ca_certs=config.certificates(),
            caps=caps,
            message_type=message_type,
            transaction_id=transaction,
            timeout=TIMEOUT,
            cafile=config.ca_file,
        )
        cookie = {
            "transaction_id": reply.transaction_id,
            "signed_by_current": signed_by_current,
            "signer": crypto.certificate_pem(signer_cert).decode(),
        }
        return reply, json.dumps(cookie)


class MissingConfiguration(CertError):
    """The request names a SCEP CA configuration the store does not hold (yet: in check mode, an earlier task of the
    play may add it)."""


def _held(cookie: str) -> dict | None:
    """The request a SCEP server holds, from the cookie of its PENDING answer; None for no cookie, or for one this
    type did not write (another CA type's, left from before ``ca`` changed): the request then starts anew."""
    try:
        held = json.loads(cookie) if cookie else None
        if held is not None:
            return {
                "signed_by_current": bool(held["signed_by_current"]),
                "transaction_id": str(held["transaction_id"]),
                "signer": str(held["signer"]),
            }
    except (ValueError, TypeError, KeyError):
        pass
    return None
