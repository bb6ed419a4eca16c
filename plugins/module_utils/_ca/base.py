# -*- coding: utf-8 -*-
# Copyright (c) certkeeper.pki contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a CA is to certkeeper: an issuer that answers a request for a certificate.

One class per ``ca:`` type (registry.py lists them). A class declares the request options it reads
(``options``, argument-spec entries the cert_track module, the ``certkeeper`` command and the docs take),
checks them (``check``), and answers ``issue``: issued, pending (poll again with the cookie), or an
outcome that keeps the old certificate. What the engine does with the answer (save, wait, record the
status) is the same for every type, so the renewal engine has no branch on a CA's type."""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from typing import Any, ClassVar

from .._core import crypto
from .._core.cryptography_import import x509
from .._core.errors import CertError

CLOCK_SKEW = datetime.timedelta(minutes=5)  # how far in the future a CA's certificate may start

# The outcomes of a request, named as certmonger's statuses are where one applies.
ISSUED = "ISSUED"
PENDING = "CA_WORKING"  # the CA asked to wait: poll again with the cookie
REJECTED = "CA_REJECTED"  # the CA said no, or answered with a certificate that is refused
UNREACHABLE = "CA_UNREACHABLE"  # try again later; an outstanding request is kept
UNCONFIGURED = "CA_UNCONFIGURED"  # the CA's own settings or files must be fixed first


@dataclass
class IssueRequest:
    """What is asked of a CA: a certificate for ``private_key``'s public key with these names and usages."""

    private_key: Any  # a CSR is signed with it (a helper); a self-signed certificate too
    subject: Any  # x509.Name
    subject_alt_names: list  # x509 general names
    profile: str  # crypto.PROFILES
    valid_days: int
    now: datetime.datetime
    current_certificate: Any = None  # the one being renewed, if any
    current_key: Any = None  # its key (a SCEP renewal is signed with it)
    cookie: str = ""  # what the CA gave to poll an earlier request with

    def csr(self):
        """The CSR of this request: its key, names and the profile's usages, signed by the key."""
        usage = crypto.PROFILES[self.profile]
        return crypto.build_csr(
            self.private_key, self.subject, self.subject_alt_names, list(usage.extended_key_usages), usage.encipherment
        )


@dataclass
class Answer:
    outcome: str
    certificate: Any = None
    chain: list = field(default_factory=list)  # what the CA sent along (intermediates)
    message: str = ""
    cookie: str = ""  # PENDING: what to poll with

    @classmethod
    def issued(cls, certificate, chain=()) -> Answer:
        return cls(ISSUED, certificate, list(chain))


class Issuer:
    """A CA type. ``settings``: the request's fields (a TrackedRequest or any object with these attributes);
    ``store``: the tracking store (its ``load``), where the CA configurations a type reads are kept (ca scep)."""

    name: ClassVar[str]
    summary: ClassVar[str]  # one line: what this type is, for messages and docs
    options: ClassVar[dict] = {}  # the request options this type reads: {name: argument-spec entry}
    required: ClassVar[tuple] = ()  # the options it cannot work without
    # The playbook's CA host issues: a due certificate waits for the next playbook run (no key is made here).
    defers: ClassVar[bool] = False

    def __init__(self, settings, runner=None, store=None):
        self.settings = settings
        self.runner = runner
        self.store = store

    @classmethod
    def check(cls, settings) -> None:
        """Refuse settings this type cannot work with, naming the options to set."""
        missing = [name for name in cls.required if not str(getattr(settings, name, "") or "").strip()]
        if missing:
            raise CertError("ca: %s needs %s (%s)" % (cls.name, " and ".join(missing), cls.summary))

    def preflight(self) -> None:
        """Checks made when a request is started or changed: what is a setting to fix, not a request to retry."""

    def issue(self, request: IssueRequest) -> Answer:
        raise NotImplementedError  # every registered type answers

    def saved(self) -> None:
        """What the issuer does once the certificate it issued is saved (ca scep forgets a spent one-time PIN)."""

    def deferral(self, reason: str) -> str:
        """The status message of a due certificate this type leaves to the playbook (``defers``)."""
        raise NotImplementedError


def answer_problem(cert, sent_along: list, request: IssueRequest, anchors: list) -> str | None:
    """Why a certificate a CA root does not control (a helper's, a SCEP server's) answered ``request`` must not be
    saved, or None: it must be for the request's key, subject and SANs, with the profile's key usages, in force now
    (give or take CLOCK_SKEW), and issued under one of ``anchors`` (when there are any)."""
    if not crypto.same_public_key(cert.public_key(), request.private_key):
        return "it certifies another key, not the one of this request"
    if cert.subject != request.subject:
        return "its subject is %r, the request's is %r" % (
            cert.subject.rfc4514_string(),
            request.subject.rfc4514_string(),
        )
    asked = sorted(_name_text(n) for n in request.subject_alt_names)
    got = sorted(_name_text(n) for n in crypto.subject_alt_names_of(cert))
    common_name = (crypto.common_name_of(cert) or "").lower()
    if got != asked and not (not asked and got == ["DNS:" + common_name]):  # a CA may add the CN as its SAN
        return "its subject alternative names are [%s], the request's [%s]" % (", ".join(got), ", ".join(asked))
    if cert.not_valid_before_utc > request.now + CLOCK_SKEW:
        return "it is valid only from %s, later than now (%s) by more than the %d minutes allowed for clock skew" % (
            cert.not_valid_before_utc.isoformat(),
            request.now.isoformat(),
            CLOCK_SKEW.seconds // 60,
        )
    usage = crypto.PROFILES[request.profile]
    problem = crypto.usage_problem(cert, list(usage.extended_key_usages), usage.allowed_extended_key_usages)
    if problem:
        return "%s (profile %s)" % (problem, request.profile)
    if anchors:
        return crypto.chain_problem(cert, sent_along, anchors, request.now)
    return None


def _name_text(name) -> str:
    """A SAN as text, DNS names in lower case (as requests keep them; DNS compares without case)."""
    text = crypto.general_name_text(name)
    return "DNS:" + name.value.lower() if isinstance(name, x509.DNSName) else text
