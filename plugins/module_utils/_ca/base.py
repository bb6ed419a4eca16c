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

from .._core.errors import CertError

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
    cookie: str = ""  # what the CA gave to poll an earlier request with


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
    """A CA type. ``settings``: the request's fields (a TrackedRequest or any object with these attributes)."""

    name: ClassVar[str]
    summary: ClassVar[str]  # one line: what this type is, for messages and docs
    options: ClassVar[dict] = {}  # the request options this type reads: {name: argument-spec entry}
    required: ClassVar[tuple] = ()  # the options it cannot work without
    # The playbook's CA host issues: a due certificate waits for the next playbook run (no key is made here).
    defers: ClassVar[bool] = False

    def __init__(self, settings, runner=None):
        self.settings = settings
        self.runner = runner

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

    def deferral(self, reason: str) -> str:
        """The status message of a due certificate this type leaves to the playbook (``defers``)."""
        raise NotImplementedError
