# -*- coding: utf-8 -*-
# Copyright (c) certkeeper.pki contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a CA issued and revoked, and the CRL that says so.

The index (``index.json``, root-only beside the CA key) lists every certificate the CA issued: serial,
subject, the identity it was issued to (an inventory host), profile, validity, its key's digest, and its
revocation (time and RFC 5280 reason); and the token of each identity's last rekey. It is the source of truth
for the CRL and for reports, so an index that cannot be read is an error: a new empty one would un-revoke every
certificate it lists.

The CRL (v2: CRL number, authority key identifier) lists the revoked certificates that have not expired
yet. It is re-signed only when its revoked serials differ from the index, when it is not the CA's, or when
less than a third of its validity is left: a CRL never lapses as long as someone runs the check more often
than that, and one that did not change is not rewritten."""

from __future__ import annotations

import datetime
import hashlib
import json
from dataclasses import asdict, dataclass, field

from .._core import crypto
from .._core.cryptography_import import serialization, x509
from .._core.errors import CertError
from .._core.files import (
    ROOT_ONLY_FILE,
    Attributes,
    Change,
    FileState,
    attribute_change,
    describe_before,
    existing_problem,
)
from .._core.option_specs import DEFAULT_CRL_VALID_DAYS, REVOCATION_REASONS

INDEX_NAME = "index.json"
CRL_NAME = "root.crl"
CRL_ATTRIBUTES = Attributes(0o644, 0, 0)  # public, as the CA certificate
REASONS = REVOCATION_REASONS
VALID, REVOKED = "valid", "revoked"
ANY_ISSUER = "*"  # listed on the CRL of every CA


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
    key_sha256: str = ""  # of its public key: a revoked key is never certified again ("" in entries before 0.2)
    # the key digest of the CA that issued it: several CAs share the index while a CA key rolls over (_ca/rollover.py);
    # "" in entries written before any rollover, all of the CA key then in place; ANY_ISSUER for a serial revoked
    # before the CA kept an index, whose issuer is not known
    issuer_key_sha256: str = ""

    def expired(self, now) -> bool:
        return datetime.datetime.fromisoformat(self.not_after) <= now


@dataclass
class CAIndex:
    certificates: list = field(default_factory=list)  # IssuedCertificate, in the order issued
    crl_number: int = 0  # of the last CRL signed
    rekeyed: dict = field(default_factory=dict)  # identity: the token of its last rekey (done once per token)

    @classmethod
    def parse(cls, data: bytes | None, path: str) -> CAIndex:
        """The index in ``data`` (None: no index yet, a new CA or one made before indexes existed)."""
        if data is None:
            return cls()
        try:
            raw = json.loads(data)
            rekeyed = raw.get("rekeyed", {})  # absent in an index written before rekeys existed
            if not all(isinstance(value, str) for value in rekeyed.values()):
                raise ValueError("rekeyed holds a token that is not a string")
            return cls(
                certificates=[IssuedCertificate(**entry) for entry in raw["certificates"]],
                crl_number=int(raw["crl_number"]),
                rekeyed=dict(rekeyed),
            )
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise CertError(_unreadable(path, exc)) from None

    def serialize(self) -> bytes:
        data = {
            "certificates": [asdict(entry) for entry in self.certificates],
            "crl_number": self.crl_number,
            "rekeyed": self.rekeyed,
        }
        return (json.dumps(data, indent=1, sort_keys=True) + "\n").encode("utf-8")

    def record(self, cert, name: str, profile: str, issuer_key_sha256: str = "") -> None:
        """Note a certificate the CA just issued to ``name``."""
        self.certificates.append(
            IssuedCertificate(
                serial="%x" % cert.serial_number,
                subject=cert.subject.rfc4514_string(),
                name=name,
                profile=profile,
                not_before=cert.not_valid_before_utc.isoformat(),
                not_after=cert.not_valid_after_utc.isoformat(),
                key_sha256=key_digest(cert.public_key()),
                issuer_key_sha256=issuer_key_sha256,
            )
        )

    def issued_to(self, identity: str) -> list:
        """Every certificate of an identity (revoked or expired since, or not): issued to that host, or with that CN."""
        subject = _subject_text(identity)
        return [entry for entry in self.certificates if entry.name == identity or entry.subject == subject]

    def current(self, identity: str, now) -> list:
        """The unexpired, unrevoked certificates of an identity."""
        return [entry for entry in self.issued_to(identity) if entry.status == VALID and not entry.expired(now)]

    def revoke(self, entries: list, reason: str, now) -> None:
        check_reason(reason)
        for entry in entries:
            entry.status, entry.revoked_at, entry.reason = REVOKED, now.isoformat(), reason

    def revoked(self, now, issuer: str | None = None) -> list:
        """What the CRL lists: revoked certificates not expired yet (an expired one is refused anyway); with
        ``issuer`` (a CA key's digest) only those that CA issued, for its own CRL while two CAs are trusted."""
        return [
            entry
            for entry in self.certificates
            if entry.status == REVOKED
            and not entry.expired(now)
            and (issuer is None or entry.issuer_key_sha256 in (issuer, ANY_ISSUER))
        ]

    def attribute_unknown_issuers(self, issuer: str) -> int:
        """Give ``issuer`` (the one CA key before a rollover) as the issuer of every entry that names none; how many."""
        unnamed = [entry for entry in self.certificates if not entry.issuer_key_sha256]
        for entry in unnamed:
            entry.issuer_key_sha256 = issuer
        return len(unnamed)

    def revoked_key(self, public_key) -> IssuedCertificate | None:
        """The revoked certificate of ``public_key``, if there is one."""
        digest = key_digest(public_key)
        return next((e for e in self.certificates if e.status == REVOKED and e.key_sha256 == digest), None)


def _unreadable(path: str, why) -> str:
    """One message for an index that cannot be read, whatever is wrong with it."""
    return (
        "the CA index %s cannot be read (%s); restore it from a backup. It is not started anew: an "
        "empty index would take every revocation out of the CRL" % (path, why)
    )


def _subject_text(identity: str) -> str | None:
    """The subject of a certificate whose CN is ``identity``, as the index writes it (None: no CN can be that)."""
    try:
        return crypto.common_name_subject(identity).rfc4514_string()
    except ValueError:
        return None


def key_digest(public_key) -> str:
    """SHA-256 of a public key's SubjectPublicKeyInfo: how the index knows a key again, whatever certifies it."""
    der = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).hexdigest()


def parse_serial(text: str, option: str) -> str:
    """A serial number as the index writes it (lowercase hex, no leading zeros) from hex as openssl prints it."""
    digits = text.strip().replace(":", "").lower()
    if not digits or any(c not in "0123456789abcdef" for c in digits) or int(digits, 16) == 0:
        raise CertError(
            "%s must be a certificate's serial number in hex (openssl x509 -noout -serial), got %r" % (option, text)
        )
    return "%x" % int(digits, 16)


def check_reason(reason: str, option: str = "reason") -> str:
    """``reason`` when it is one of REASONS; else an error naming ``option``."""
    if reason not in REASONS:
        raise CertError("%s must be one of %s, got %r" % (option, ", ".join(REASONS), reason))
    return reason


@dataclass
class CARecords:
    """The CA index as one call found it and what the call does to it: the reasons index.json changes for, in the
    order they happened, and the certificates it revoked ({name, serial, reason})."""

    state: FileState
    index: CAIndex
    as_read: bytes  # the index as read, serialized: index.json is written only when this changes
    reasons: list = field(default_factory=list)
    revoked: list = field(default_factory=list)
    signer_key_sha256: str = ""  # the key of the CA that signs now, recorded as the issuer of what it signs
    by_issuer: bool = False  # two CAs are trusted: each CRL lists only the certificates of its own CA

    @classmethod
    def read(cls, state: FileState) -> CARecords:
        """The index in ``state``; one that is unreadable or corrupt is an error, never a new empty index."""
        if state.error or state.is_directory:
            raise CertError(_unreadable(state.path, state.error or "a directory"))
        index = CAIndex.parse(state.data, state.path)
        return cls(state, index, index.serialize())

    def record(self, cert, name: str, profile: str) -> None:
        """Note a certificate this call issued to ``name``."""
        self.index.record(cert, name, profile, self.signer_key_sha256)
        self.reasons.append("record the %s certificate issued to %s" % (profile, name))

    def revoke(self, identity: str, reason: str, now, what: str) -> list:
        """Revoke the current certificates of ``identity``; ``what`` starts the reason ("revoke app2")."""
        entries = self.index.current(identity, now)
        self.index.revoke(entries, reason, now)
        self.revoked += [{"name": entry.name, "serial": entry.serial, "reason": reason} for entry in entries]
        if entries:
            self.reasons.append(
                "%s: %s (%s)" % (what, ", ".join("serial " + entry.serial for entry in entries), reason)
            )
        return entries

    def revoke_serial(self, identity: str, serial: str, reason: str, now, ca_cert) -> None:
        """Revoke the certificate ``serial`` of ``identity``. One the index does not know (issued before the CA kept
        an index) is recorded as issued to ``identity`` and revoked, listed until the CA certificate expires, since its
        own expiry is unknown; one the index holds for another identity is an error."""
        what = "revoke %s: serial %s" % (identity, serial)
        entry = next((e for e in self.index.certificates if e.serial == serial), None)
        if entry is None:
            check_reason(reason)
            self.index.certificates.append(
                IssuedCertificate(
                    serial=serial,
                    subject="",
                    name=identity,
                    profile="",
                    not_before="",
                    not_after=ca_cert.not_valid_after_utc.isoformat(),
                    status=REVOKED,
                    revoked_at=now.isoformat(),
                    reason=reason,
                    issuer_key_sha256=ANY_ISSUER,
                )
            )
            self.revoked.append({"name": identity, "serial": serial, "reason": reason})
            self.reasons.append("%s, issued before the CA kept an index (%s)" % (what, reason))
            return
        if entry not in self.index.issued_to(identity):
            raise CertError(
                "revoke[%s].serial: %s was issued to %s, not %s"
                % (identity, serial, entry.name or entry.subject, identity)
            )
        if entry.status == VALID and not entry.expired(now):
            self.index.revoke([entry], reason, now)
            self.revoked.append({"name": identity, "serial": serial, "reason": reason})
            self.reasons.append("%s (%s)" % (what, reason))

    def rekey(self, identity: str, token: str, now) -> None:
        """Once per token: revoke the identity's current certificates as compromised, and note the token."""
        what = "rekey %s (token %r)" % (identity, token)
        self.index.rekeyed[identity] = token
        if not self.revoke(identity, "keyCompromise", now, what):
            self.reasons.append("%s: no current certificate to revoke" % what)

    def revoked_by(self, ca_key, now) -> list:
        """What the CRL of ``ca_key`` lists: every revocation, or only its own while two CAs are trusted."""
        return self.index.revoked(now, key_digest(ca_key.public_key()) if self.by_issuer else None)

    def index_change(self) -> Change | None:
        """index.json written when what it records changed (or it is missing), else only its owner/mode fixed."""
        data = self.index.serialize()
        if self.state.data is not None and data == self.as_read:
            return attribute_change(self.state, ROOT_ONLY_FILE, "CA index")
        missing = [] if self.state.data is not None else ["missing: new CA index"]
        return Change(
            self.state.path,
            "; ".join(missing + self.reasons),
            ROOT_ONLY_FILE,
            data,
            before=describe_before(self.state, "CA index"),
            after=_index_line(self.index),
        )

    def plan_crl(self, ca_key, ca_cert, state: FileState, now, valid_days: int) -> tuple:
        """(the CRL in force after this call, its Change or None): the CRL in ``state`` kept while crl_problem finds
        nothing, else the next CRL number signed (the index keeps the number, one counter for every CA it serves)."""
        revoked = self.revoked_by(ca_key, now)
        crl, problem = _stored_crl(state, ca_cert, revoked, now, valid_days)
        if problem is None:
            return crl, attribute_change(state, CRL_ATTRIBUTES, "CRL")
        self.index.crl_number += 1
        self.reasons.append("CRL number %d signed" % self.index.crl_number)
        crl = sign_crl(ca_key, ca_cert, revoked, self.index.crl_number, now, valid_days)
        change = Change(
            state.path,
            "%s: sign CRL number %d" % (problem, self.index.crl_number),
            CRL_ATTRIBUTES,
            crl_pem(crl),
            before=describe_before(state, "CRL"),
            after=crl_line(crl, CRL_ATTRIBUTES),
        )
        return crl, change


def _stored_crl(state: FileState, ca_cert, revoked: list, now, valid_days: int) -> tuple:
    """(the CRL read, why it must be signed anew or None)."""
    problem = existing_problem(state)
    if problem:
        return None, problem
    try:
        crl = load_crl(state.data)
    except CertError:
        return None, "corrupt (not a CRL)"
    return crl, crl_problem(crl, ca_cert, revoked, now, valid_days)


def _index_line(index: CAIndex) -> str:
    """What --diff shows of the index: counts, never the list."""
    revoked = sum(1 for entry in index.certificates if entry.status == REVOKED)
    return "CA index: %d certificates issued, %d revoked, last CRL number %d, %s\n" % (
        len(index.certificates),
        revoked,
        index.crl_number,
        ROOT_ONLY_FILE.describe(),
    )


def crl_line(crl, attributes: Attributes) -> str:
    """What --diff shows of a CRL: its number, issuer, how many it lists and until when, then owner and mode."""
    number = crl_number(crl)
    return "CRL number %d of %s, %d revoked, next update %s, %s\n" % (
        number,
        crl.issuer.rfc4514_string(),
        len(crl),
        crl_next_update(crl),
        attributes.describe(),
    )


def crl_number(crl) -> int:
    return crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number


def crl_next_update(crl) -> str:
    """The CRL's nextUpdate, ISO 8601 UTC ("" when it has none)."""
    return crl.next_update_utc.isoformat() if crl.next_update_utc else ""


def crl_due_at(crl, revoked: list, valid_days: int) -> datetime.datetime:
    """The moment crl_problem starts to name a reason for ``crl``: it enters its renewal window, or a certificate
    it lists expires (and leaves the CRL)."""
    moments = [crl.next_update_utc - datetime.timedelta(days=valid_days) / 3]
    return min(moments + [datetime.datetime.fromisoformat(entry.not_after) for entry in revoked])


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
            revoked_cert = revoked_cert.add_extension(x509.CRLReason(x509.ReasonFlags(entry.reason)), critical=False)
        builder = builder.add_revoked_certificate(revoked_cert.build())
    return builder.sign(ca_key, crypto.signing_hash(ca_key))


def load_crl(data) -> x509.CertificateRevocationList:
    try:
        return x509.load_pem_x509_crl(data if isinstance(data, bytes) else data.encode())
    except ValueError:
        raise CertError("not a PEM certificate revocation list") from None


def crl_pem(crl) -> bytes:
    return crl.public_bytes(serialization.Encoding.PEM)


def load_crls(data) -> list:
    """Every CRL of a PEM file (several CAs' CRLs concatenated while a CA key rolls over); an error when there is none
    or anything else is in it."""
    text = data if isinstance(data, str) else data.decode("ascii", "replace")
    marker = "-----BEGIN X509 CRL-----"
    before, *blocks = text.split(marker)
    if not blocks or before.strip():
        raise CertError("not a PEM certificate revocation list")
    return [load_crl(marker + block) for block in blocks]


def crls_per_ca(data, ca_certs, what: str, where: str) -> tuple:
    """The CRL of each of ``ca_certs`` in ``data`` (PEM CRLs, concatenated), in their order. An error names ``what``
    (the CRL option or file) and ``where`` (the CAs') when ``data`` is not PEM CRLs, holds one no CA of ``ca_certs``
    signed, or lacks one of a CA: PostgreSQL refuses every certificate of a trusted CA without its CRL."""
    foreign = CertError("%s is not a CRL of the CA in %s (corrupt or foreign)" % (what, where))
    try:
        crls = load_crls(data)
    except CertError:
        raise foreign from None
    found: list = [None] * len(ca_certs)
    for crl in crls:
        signers = [
            i for i, ca in enumerate(ca_certs) if crl.issuer == ca.subject and crl.is_signature_valid(ca.public_key())
        ]
        if not signers:
            raise foreign
        found[signers[0]] = crl
    missing = [ca.subject.rfc4514_string() for ca, crl in zip(ca_certs, found) if crl is None]
    if missing:
        raise CertError(
            "%s holds no CRL of %s (a CA in %s): PostgreSQL refuses its certificates"
            % (what, ", ".join(missing), where)
        )
    return tuple(found)


def listed_reason(crl, serial_number: int) -> str | None:
    """The RFC 5280 reason ``crl`` gives for revoking ``serial_number`` (unspecified when it gives none), or None
    when it does not list it."""
    entry = crl.get_revoked_certificate_by_serial_number(serial_number)
    if entry is None:
        return None
    try:
        return entry.extensions.get_extension_for_class(x509.CRLReason).value.reason.value
    except x509.ExtensionNotFound:
        return "unspecified"


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


def crl_due_reason(crl, now) -> str | None:
    """Why a host that holds ``crl`` but not the CA key should get a new one, or None: it expired, or less than a
    third of its own validity is left (when the CA re-signs it too)."""
    next_update = crl.next_update_utc
    if next_update is None:
        return None
    if next_update <= now:
        return "expired on %s: PostgreSQL refuses every certificate of this CA" % crl_next_update(crl)
    if next_update - now < (next_update - crl.last_update_utc) / 3:
        return "next update %s: inside its renewal window" % crl_next_update(crl)
    return None
