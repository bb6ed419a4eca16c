# -*- coding: utf-8 -*-
# Copyright (c) certkeeper.pki contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a CA issued and revoked, and the CRL that says so.

The index (``index.json``, root-only beside the CA key) lists every certificate the CA issued: serial,
subject, the identity it was issued to (an inventory host), profile, validity, and its revocation (time
and RFC 5280 reason). It is the source of truth for the CRL and for reports, so an index that cannot be
read is an error: a new empty one would un-revoke every certificate it lists.

The CRL (v2: CRL number, authority key identifier) lists the revoked certificates that have not expired
yet. It is re-signed only when its revoked serials differ from the index, when it is not the CA's, or when
less than a third of its validity is left: a CRL never lapses as long as someone runs the check more often
than that, and one that did not change is not rewritten."""

from __future__ import annotations

import datetime
import json
from dataclasses import asdict, dataclass, field

from .._core import crypto
from .._core.cryptography_import import serialization, x509
from .._core.errors import CertError

INDEX_NAME = "index.json"
CRL_NAME = "root.crl"
DEFAULT_CRL_VALID_DAYS = 30
# RFC 5280 reasons a leaf may be revoked for (certificateHold is not final; removeFromCRL is for deltas).
REASONS = (
    "unspecified",
    "keyCompromise",
    "affiliationChanged",
    "superseded",
    "cessationOfOperation",
    "privilegeWithdrawn",
)
VALID, REVOKED = "valid", "revoked"


@dataclass
class IssuedCertificate:
    serial: str  # hex, as openssl prints it
    subject: str
    name: str  # the identity it was issued to (an inventory host)
    profile: str
    not_before: str  # ISO 8601 UTC
    not_after: str
    status: str = VALID
    revoked_at: str = ""
    reason: str = ""

    def expired(self, now) -> bool:
        return datetime.datetime.fromisoformat(self.not_after) <= now


@dataclass
class CAIndex:
    certificates: list = field(default_factory=list)  # IssuedCertificate, in the order issued
    crl_number: int = 0  # of the last CRL signed

    @classmethod
    def parse(cls, data: bytes | None, path: str) -> CAIndex:
        """The index in ``data`` (None: no index yet, a new CA or one made before indexes existed)."""
        if data is None:
            return cls()
        try:
            raw = json.loads(data)
            return cls(
                certificates=[IssuedCertificate(**entry) for entry in raw["certificates"]],
                crl_number=int(raw["crl_number"]),
            )
        except (ValueError, TypeError, KeyError) as exc:
            raise CertError(
                "the CA index %s cannot be read (%s); restore it from a backup. It is not started anew: an "
                "empty index would take every revocation out of the CRL" % (path, exc)
            ) from None

    def serialize(self) -> bytes:
        data = {"certificates": [asdict(entry) for entry in self.certificates], "crl_number": self.crl_number}
        return (json.dumps(data, indent=1, sort_keys=True) + "\n").encode("utf-8")

    def record(self, cert, name: str, profile: str) -> None:
        """Note a certificate the CA just issued to ``name``."""
        self.certificates.append(
            IssuedCertificate(
                serial="%x" % cert.serial_number,
                subject=cert.subject.rfc4514_string(),
                name=name,
                profile=profile,
                not_before=cert.not_valid_before_utc.isoformat(),
                not_after=cert.not_valid_after_utc.isoformat(),
            )
        )

    def current(self, identity: str, now) -> list:
        """The unexpired, unrevoked certificates of an identity: issued to that host, or with that CN."""
        common_name = "CN=" + identity
        return [
            entry
            for entry in self.certificates
            if entry.status == VALID
            and not entry.expired(now)
            and (entry.name == identity or entry.subject == common_name)
        ]

    def revoke(self, entries: list, reason: str, now) -> None:
        check_reason(reason)
        for entry in entries:
            entry.status, entry.revoked_at, entry.reason = REVOKED, now.isoformat(), reason

    def revoked(self, now) -> list:
        """What the CRL lists: revoked certificates not expired yet (an expired one is refused anyway)."""
        return [entry for entry in self.certificates if entry.status == REVOKED and not entry.expired(now)]


def check_reason(reason: str) -> str:
    if reason not in REASONS:
        raise CertError("reason must be one of %s, got %r" % (", ".join(REASONS), reason))
    return reason


def sign_crl(ca_key, ca_cert, revoked: list, number: int, now, valid_days: int = DEFAULT_CRL_VALID_DAYS):
    """A v2 CRL of ``revoked`` (IssuedCertificate), number ``number``, valid ``valid_days`` from now."""
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(ca_cert.subject)
        .last_update(now - datetime.timedelta(minutes=5))  # as certificates: a client's clock may be behind
        .next_update(now + datetime.timedelta(days=valid_days))
        .add_extension(x509.CRLNumber(number), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
    )
    for entry in revoked:
        revoked_cert = (
            x509.RevokedCertificateBuilder()
            .serial_number(int(entry.serial, 16))
            .revocation_date(datetime.datetime.fromisoformat(entry.revoked_at))
        )
        if entry.reason != "unspecified":  # RFC 5280: the reason code unspecified SHOULD be absent
            revoked_cert = revoked_cert.add_extension(
                x509.CRLReason(getattr(x509.ReasonFlags, _FLAG_NAMES[entry.reason])), critical=False
            )
        builder = builder.add_revoked_certificate(revoked_cert.build())
    return builder.sign(ca_key, crypto.signing_hash(ca_key))


_FLAG_NAMES = {
    "unspecified": "unspecified",
    "keyCompromise": "key_compromise",
    "affiliationChanged": "affiliation_changed",
    "superseded": "superseded",
    "cessationOfOperation": "cessation_of_operation",
    "privilegeWithdrawn": "privilege_withdrawn",
}


def load_crl(data) -> x509.CertificateRevocationList:
    try:
        return x509.load_pem_x509_crl(data if isinstance(data, bytes) else data.encode())
    except ValueError:
        raise CertError("not a PEM certificate revocation list") from None


def crl_pem(crl) -> bytes:
    return crl.public_bytes(serialization.Encoding.PEM)


def crl_problem(crl, ca_cert, revoked: list, now, valid_days: int = DEFAULT_CRL_VALID_DAYS) -> str | None:
    """Why ``crl`` must be signed anew, or None: it is the CA's, lists what the index revoked, and more than a
    third of its validity is left (it is re-signed early enough for a check twice a day to keep it fresh)."""
    if crl.issuer != ca_cert.subject:
        return "issued by %s, not the CA" % crl.issuer.rfc4514_string()
    if not crl.is_signature_valid(ca_cert.public_key()):
        return "not signed by the CA key"
    listed = sorted("%x" % r.serial_number for r in crl)
    wanted = sorted(entry.serial for entry in revoked)
    if listed != wanted:
        return "lists [%s], the CA revoked [%s]" % (", ".join(listed), ", ".join(wanted))
    next_update = crl.next_update_utc
    if next_update is None or next_update - now < datetime.timedelta(days=valid_days) / 3:
        return "expires %s: inside its renewal window" % (next_update.isoformat() if next_update else "never")
    return None
