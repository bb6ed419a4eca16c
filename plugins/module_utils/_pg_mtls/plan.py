# -*- coding: utf-8 -*-
# Copyright (c) certkeeper.pki contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""PostgreSQL mutual TLS material for one host: decide what must change and why.

Three roles, as in the vendor procedure (seed 002) but with a dedicated CA key:

* ``ca``: ``root.key`` + self-signed ``root.crt`` in a root-only directory, with the index of what it issued
  and revoked (``index.json``) and its CRL (``root.crl``); signs CSRs in batches, revokes by identity.
* ``server``: ``server.key``, ``server.crt`` (EKU serverAuth, CN + SANs), ``root.crt``.
* ``client``: ``client.key``, ``client.crt`` (EKU clientAuth, CN = database user), ``root.crt``
  and the derived forms ``client.pk8`` (PKCS#8 DER), ``client.pem.pk8`` (PKCS#8 PEM) and
  ``client.pfx`` (PKCS#12, alias ``user``).
* a server or client given the CA's CRL keeps it as ``root.crl``; a certificate it lists is replaced, with a new key.

Every function here is pure apart from key generation: it takes file states read by the caller
and returns a Plan of Changes, each with a reason a person can read in check mode and --diff.
"""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

from .._ca import local, revocation, rollover
from .._ca.revocation import CARecords
from .._ca.rollover import TRUST, Ask, Decision, RolloverState
from .._core import crypto
from .._core.crypto import CertError, KeySpec
from .._core.facts import certificate_facts, certificate_line
from .._core.files import (
    ROOT_ONLY_DIRECTORY,
    ROOT_ONLY_FILE,
    Attributes,
    Change,
    FileState,
    Plan,
    attribute_change,
    describe_before,
    directory_changes,
    existing_problem,
)
from .._core.outputs import Output, plan_outputs
from .._core.policy import DEFAULT_FRACTION, due_at, due_reason
from .._core.stamp import STAMP_NAME

if TYPE_CHECKING:
    from cryptography import x509

CA_KEY, CA_CERT = "root.key", "root.crt"
CA_INDEX, CRL = revocation.INDEX_NAME, revocation.CRL_NAME
LEAF_NAMES = {
    "server": {"key": "server.key", "cert": "server.crt"},
    "client": {
        "key": "client.key",
        "cert": "client.crt",
        "pk8": "client.pk8",
        "pem_pk8": "client.pem.pk8",
        "pfx": "client.pfx",
    },
}


def now_utc() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


@dataclass(frozen=True)
class CARequest:
    directory: str
    common_name: str = "certkeeper.pki PostgreSQL CA"
    key_spec: KeySpec = KeySpec()
    valid_days: int = 3650
    renew_before_days: int = 30
    public_attributes: Attributes = Attributes(0o644, 0, 0)
    reissue: bool = False  # certify the existing CA key anew when root.crt is missing or unreadable
    generation: int = 1  # the CA generation asked for: one more than the CA's starts a rollover (_ca/rollover.py)
    rollover_hosts: tuple = ()  # the hosts a rollover waits for: every server and client of the inventory
    rollover_waive: tuple = ()  # hosts step 3 does not wait for
    transitions: bool = False  # the CA call moves a rollover on; the CA host's own call only reads where it is
    report: dict | None = None  # what the hosts of a run confirmed (rollover.record_report): recorded, nothing else

    def path(self, *names: str) -> str:
        return os.path.join(self.directory, *names)


@dataclass(frozen=True)
class LeafRequest:
    role: str  # "server" or "client"
    directory: str
    common_name: str
    ca_certificate: x509.Certificate  # the certificate the leaf must chain to: the CA that signs
    subject_alt_names: tuple = ()
    key_spec: KeySpec = KeySpec()
    renew_before_days: int = 30
    renew_fraction: float = DEFAULT_FRACTION
    key_attributes: Attributes = Attributes(0o640, 0, 0)
    public_attributes: Attributes = Attributes(0o644, 0, 0)
    directory_attributes: Attributes = Attributes(0o755, 0, 0)
    pfx_password: str = ""
    pfx_friendly_name: str = "user"
    rotate_key: bool = True  # a certificate that is replaced gets a new key (the timer's renewals do the same)
    # every CA root.crt holds (ca_certificate among them; both while a CA key rolls over; empty: ca_certificate alone)
    trusted: tuple = ()
    # the CAs' CRLs, verified, one per CA of the bundle in its order: kept as root.crl, the serials they list replaced
    crls: tuple = ()

    @property
    def bundle(self) -> tuple:
        return self.trusted or (self.ca_certificate,)

    def path(self, name: str) -> str:
        return os.path.join(self.directory, name)


@dataclass(frozen=True)
class TrustedCA:
    """One CA of the bundle: its generation, key and certificate, where its CRL lives, whether it signs."""

    generation: int
    key: object
    certificate: x509.Certificate
    crl_path: str
    signs: bool


@dataclass
class CAPlan(Plan):
    key: Any = None  # the signing CA's private key
    certificate: x509.Certificate = None
    records: CARecords = None  # the CA index as read, and what this call changes in it
    crl: x509.CertificateRevocationList = None  # the signing CA's CRL in force after applying (plan_ca_records)
    trusted: list = field(default_factory=list)  # TrustedCA in bundle order (by generation)
    crls: list = field(default_factory=list)  # one CRL per trusted CA, in bundle order (plan_ca_records)
    rollover: Decision = None
    states: dict = field(default_factory=dict)  # every file of the CA as it is once the layout changes are applied


@dataclass
class LeafPlan(Plan):
    certificate: x509.Certificate = None  # the certificate in force after applying (None: waiting for the CA)
    certificate_reasons: list = field(default_factory=list)
    csr: x509.CertificateSigningRequest = None

    @property
    def certificate_needed(self) -> bool:
        return bool(self.certificate_reasons) and self.certificate is None


def _describe_key(spec: KeySpec, attributes: Attributes) -> str:
    return "private key (%s), %s\n" % (spec, attributes.describe())


# --- CA ------------------------------------------------------------------------------------


def ca_paths(directory: str, rollover_state: RolloverState | None = None) -> list:
    """Every path the CA is planned from: its directory, files, index and the rollover's layout (absent ones too)."""
    return [directory, os.path.join(directory, CA_INDEX)] + rollover.paths_read(directory, rollover_state)


def plan_ca(request: CARequest, states: dict, now=None) -> CAPlan:
    """Create the CA on first use; afterwards only reissue root.crt (same key) when it is due. The CA index is read
    (plan.records) for the call to record, revoke and publish with (plan_ca_records). ``states``: path -> FileState of
    every path ca_paths names.

    A CA key that exists but cannot be used is an error, never replaced: a new CA key would
    orphan every certificate the old one signed. A new one comes only by a rollover (_ca/rollover.py): the CA call
    (``transitions``) moves it on by one step at the start of a run, from what the hosts confirmed in the last.
    """
    now = now or now_utc()

    def state(*names: str) -> FileState:
        return states.get(request.path(*names)) or FileState(request.path(*names))

    plan = CAPlan(
        changes=directory_changes(state(), ROOT_ONLY_DIRECTORY, "CA directory", enforce=True), read=sorted(states)
    )
    plan.records = CARecords.read(state(CA_INDEX))
    as_read = rollover.RolloverState.parse(state(rollover.ROLLOVER_NAME))  # rollover.json is written if it moves on
    current = as_read.copy()
    if request.report:
        plan.warnings += rollover.record_report(current, request.report, plan.records.index)
    found = rollover.find_material(states)
    decision = _decide(plan, request, current, state, found, now) if request.transitions else Decision(current)
    plan.rollover = decision
    _plan_rollover_layout(plan, request, as_read, decision, states, found)
    key_state, cert_state = plan.states.get(request.path(CA_KEY)), plan.states.get(request.path(CA_CERT))
    key_state = key_state or state(CA_KEY)
    cert_state = cert_state or state(CA_CERT)
    if key_state.error:
        raise CertError("cannot read CA key %s: %s" % (key_state.path, key_state.error))
    if key_state.data is None:
        reason = _plan_new_ca_key(plan, request, key_state, cert_state, state(CA_INDEX))
        _new_ca_generation(plan, request, state(rollover.ROLLOVER_NAME))
    else:
        reason = _plan_existing_ca_key(plan, request, key_state, cert_state, now)
    if reason is None:
        _keep_ca_certificate(plan, request, cert_state)
    else:
        _certify_ca_key(plan, request, cert_state, reason, now, anew=key_state.data is not None)
    _trust(plan, request, plan.rollover.state)
    return _until_ca_renewal(plan, request)


def _decide(plan: CAPlan, request: CARequest, current: RolloverState, state: Callable, found: dict, now) -> Decision:
    """The rollover's step for this run; a step that starts makes the new CA (in memory until applied)."""
    top = _top_key(state(CA_KEY), found, current)
    ask = Ask(request.generation, request.key_spec, tuple(request.rollover_hosts), tuple(request.rollover_waive))
    if top is None:  # a new CA: made now, the key asked for is its key
        return Decision(current)
    decision = rollover.decide(current, ask, plan.records.index, top, now)
    new_state = decision.state
    if decision.transition == "start":
        key = request.key_spec.generate()
        subject = rollover.ca_subject(request.common_name, request.generation)
        cert = crypto.issue_ca_certificate(key, subject, request.valid_days, now)
        old_generation = current.generation
        new_state.old = rollover.Generation(
            old_generation,
            revocation.key_digest(top.public_key()),
            str(KeySpec.of(top)),
            rollover.ca_subject(request.common_name, old_generation).rfc4514_string(),
        )
        new_state.new = rollover.Generation(
            request.generation, revocation.key_digest(key.public_key()), str(request.key_spec), subject.rfc4514_string()
        )
        new_state.generation, new_state.phase, new_state.holding, new_state.moved = request.generation, TRUST, [], {}
        new_state.started, new_state.switched, new_state.finished = now.isoformat(), "", ""
        found[new_state.new.key_sha256] = rollover.Material(crypto.pkcs8_pem(key), crypto.certificate_pem(cert))
        decision.reasons.append(
            "CA rollover to generation %d (%s), step 1 of 3: new CA made beside generation %d, which keeps signing; "
            "every host gets root.crt with both CAs and root.crl with a CRL of each; systems outside this inventory "
            "that pinned root.crt need the new CA too (SHA-256 fingerprint %s) before the next run"
            % (request.generation, request.key_spec, old_generation, crypto.fingerprint_sha256(cert))
        )
    elif decision.transition == "switch":
        new_state.phase, new_state.switched = rollover.SIGN, now.isoformat()
        decision.reasons.append(
            "CA rollover step 2 of 3: every host of the servers and clients holds both CAs: generation %d signs from "
            "now; generation %d moves to previous/ and stays trusted" % (new_state.generation, new_state.old.number)
        )
    elif decision.transition == "retire":
        new_state.phase, new_state.finished = rollover.DONE, now.isoformat()
        decision.reasons.append(
            "CA rollover step 3 of 3: every server and client ran with generation %d signing (or is waived): "
            "generation %d leaves root.crt and root.crl everywhere; its key is archived, root-only"
            % (new_state.generation, new_state.old.number)
        )
    plan.warnings += decision.reasons + decision.warnings  # a rollover's steps are said on every run, -v or not
    return decision


def _top_key(key_state: FileState, found: dict, current: RolloverState):
    """The key that signs as the CA directory holds it (found by content after a run cut short), or None (new CA)."""
    if key_state.data is None and not found:
        return None
    signer = current.old if current.phase == TRUST else current.new
    data = found[signer.key_sha256].key if signer and signer.key_sha256 in found else key_state.data
    try:
        return crypto.load_private_key(data)
    except CertError:
        return None  # the signer's own checks say what is wrong with it


def _plan_rollover_layout(
    plan: CAPlan, request: CARequest, as_read: RolloverState, decision: Decision, states: dict, found: dict
) -> None:
    """Each generation's files where its phase wants them, and rollover.json: written before the files move at the
    switch (the target first), after them when a step adds or archives a CA (the files first), so that a run cut
    short leaves every key in at least one place and the next run completes the step."""
    plan.states = dict(states)
    target = decision.state
    if target.new is None:
        return
    retiring = target.old if decision.transition == "retire" else None
    if retiring is not None:
        target.archived = sorted(set(target.archived) | {rollover.archive_directory(retiring)})
    changes, plan.states = rollover.layout_changes(request.directory, target, states, found, retiring)
    record = []
    if target.serialize() != as_read.serialize():
        reason = (
            "; ".join(decision.reasons)
            or "record what the hosts confirmed (step %d of 3)" % rollover.STEP[target.phase]
        )
        record.append(_rollover_record(request, target, states, reason))
    plan.changes += record + changes if decision.transition == "switch" else changes + record


def _rollover_record(request: CARequest, target: RolloverState, states: dict, reason: str) -> Change:
    """rollover.json as ``target`` says."""
    path = request.path(rollover.ROLLOVER_NAME)
    return Change(
        path,
        reason,
        ROOT_ONLY_FILE,
        target.serialize(),
        before=describe_before(states.get(path) or FileState(path), "rollover record"),
        after="rollover record: generation %d, step %d of 3 (%s), %s\n"
        % (target.generation, rollover.STEP[target.phase], target.phase, ROOT_ONLY_FILE.describe()),
    )


def _new_ca_generation(plan: CAPlan, request: CARequest, record_state: FileState) -> None:
    """A new CA asked for at a generation above 1 is made at that generation (no rollover to go through), and
    rollover.json says so."""
    if not request.transitions or request.generation < 2 or plan.rollover.state.new is not None:
        return
    subject = rollover.ca_subject(request.common_name, request.generation)
    target = RolloverState(generation=request.generation)
    target.new = rollover.Generation(
        request.generation,
        revocation.key_digest(plan.key.public_key()),
        str(request.key_spec),
        subject.rfc4514_string(),
    )
    plan.rollover = Decision(target)
    reason = "missing: a new CA at generation %d" % request.generation
    plan.changes.append(_rollover_record(request, target, {record_state.path: record_state}, reason))


def _signing_generation(plan: CAPlan) -> int:
    """The generation of the CA at root.key: the old one while step 1 runs, else the newest."""
    target = plan.rollover.state
    return 1 if target.new is None else target.old.number if target.phase == TRUST else target.new.number


def _trust(plan: CAPlan, request: CARequest, target: RolloverState) -> None:
    """The CAs of the bundle, by generation: the one that signs (plan.key, plan.certificate) and, while a rollover
    runs, the other one; the index records the signer as the issuer, and each CRL lists only its own CA's."""
    plan.trusted = [TrustedCA(_signing_generation(plan), plan.key, plan.certificate, request.path(CRL), True)]
    for sub, generation in rollover.locations(target).items():
        if sub:
            key = crypto.load_private_key(plan.states[request.path(sub, CA_KEY)].data)
            cert = crypto.load_certificate(plan.states[request.path(sub, CA_CERT)].data)
            plan.trusted.append(TrustedCA(generation.number, key, cert, request.path(sub, CRL), False))
    plan.trusted.sort(key=lambda ca: ca.generation)
    plan.records.signer_key_sha256 = revocation.key_digest(plan.certificate.public_key())
    rollover.attribute_issuers(plan.records, target)


def _plan_new_ca_key(
    plan: CAPlan, request: CARequest, key_state: FileState, cert_state: FileState, index_state: FileState
) -> str:
    """A first CA gets a new key, but never beside a root.crt or an index whose key is lost; returns why root.crt
    is written."""
    for state in (cert_state, index_state):
        if state.data is not None:
            raise CertError(
                "%s exists but its key %s is missing; restore root.key from a backup, or move root.crt, %s and "
                "%s away to start a new CA (every certificate will be reissued)"
                % (state.path, key_state.path, CA_INDEX, CRL)
            )
    plan.key = request.key_spec.generate()
    plan.changes.append(
        Change(
            key_state.path,
            "missing: new CA key",
            ROOT_ONLY_FILE,
            crypto.pkcs8_pem(plan.key),
            before="absent\n",
            after=_describe_key(request.key_spec, ROOT_ONLY_FILE),
        )
    )
    return "missing: new self-signed CA certificate"


def _plan_existing_ca_key(
    plan: CAPlan, request: CARequest, key_state: FileState, cert_state: FileState, now
) -> str | None:
    """The CA key in place signs on (its owner/mode fixed): why root.crt must be certified anew, or None."""
    plan.key = _usable_ca_key(key_state)
    fix = attribute_change(key_state, ROOT_ONLY_FILE, "CA key")
    if fix:
        plan.changes.append(fix)
    return _ca_certificate_problem(cert_state, plan.key, request, now)


def _usable_ca_key(key_state: FileState):
    """The CA key as read, or an error: replacing it would orphan every certificate it signed."""
    try:
        key = crypto.load_private_key(key_state.data)
    except CertError:
        raise CertError(
            "CA key %s is not a usable private key; restore it from a backup (certkeeper "
            "never replaces an existing CA key)" % key_state.path
        ) from None
    weak = crypto.weak_key_problem(key)
    if weak:
        raise CertError(
            "CA key %s %s; certkeeper does not sign with it: move the CA directory away to start a "
            "new CA (every certificate will be reissued)" % (key_state.path, weak)
        )
    return key


def _keep_ca_certificate(plan: CAPlan, request: CARequest, cert_state: FileState) -> None:
    """A trust anchor others pinned stays byte for byte while it holds: only its owner/mode may be fixed."""
    plan.certificate = crypto.load_certificate(cert_state.data)
    fix = attribute_change(cert_state, request.public_attributes, "CA certificate")
    if fix:
        plan.changes.append(fix)


def _certify_ca_key(plan: CAPlan, request: CARequest, cert_state: FileState, reason: str, now, anew: bool) -> None:
    """A new self-signed root.crt for the CA key; certified ``anew``, its fingerprint changes: pinners must hear."""
    subject = rollover.ca_subject(request.common_name, _signing_generation(plan))
    plan.certificate = crypto.issue_ca_certificate(plan.key, subject, request.valid_days, now)
    if anew:
        plan.warnings.append(
            "CA certificate %s is certified anew from the same CA key (%s); its new SHA-256 fingerprint is %s: "
            "systems outside this inventory that pinned the old one need the new root.crt"
            % (cert_state.path, reason, certificate_facts(plan.certificate)["fingerprint_sha256"])
        )
    plan.changes.append(
        Change(
            cert_state.path,
            reason,
            request.public_attributes,
            crypto.certificate_pem(plan.certificate),
            before=describe_before(cert_state, "certificate"),
            after=certificate_line(plan.certificate, request.public_attributes),
        )
    )


def _until_ca_renewal(plan: CAPlan, request: CARequest) -> CAPlan:
    """The CA certificate in force holds until its renewal moment (days only: a CA lives long)."""
    plan.deadlines.append(due_at(plan.certificate, request.renew_before_days, fraction=None))
    return plan


def _ca_certificate_problem(state: FileState, key, request: CARequest, now) -> str | None:
    problem = existing_problem(state)
    if problem is None:
        try:
            cert = crypto.load_certificate(state.data)
        except CertError:
            problem = "corrupt (not a certificate)"
    if problem:
        # A trust anchor others rely on (truststores, pinned fingerprints, hosts outside this inventory) is
        # replaced only when the operator says so.
        if not request.reissue:
            raise CertError(
                "CA certificate %s is %s beside the intact CA key %s: restore root.crt from a backup, or set "
                "ca_reissue to certify the same key anew (certificates already issued stay valid; systems that "
                "pinned the old root.crt need the new one)"
                % (state.path, problem, os.path.join(os.path.dirname(state.path), CA_KEY))
            )
        return problem + ": reissue the CA certificate from the existing CA key (ca_reissue)"
    if not crypto.same_public_key(cert.public_key(), key):
        raise CertError(
            "%s does not belong to CA key %s; restore the matching pair from a backup"
            % (state.path, os.path.join(os.path.dirname(state.path), CA_KEY))
        )
    if not crypto.is_ca_certificate(cert):
        raise CertError(
            "%s is not a CA certificate (no basicConstraints CA:TRUE); restore the CA's own certificate" % state.path
        )
    weak = crypto.weak_signature_problem(cert)
    if weak:
        return weak.replace("reissue it with SHA-256", "reissue it with SHA-256 from the same CA key")
    if crypto.common_name_of(cert) != request.common_name:
        return "CN %r, %r requested: reissue from the same CA key" % (crypto.common_name_of(cert), request.common_name)
    expiry = due_reason(cert, now, request.renew_before_days, fraction=None)  # a CA lives long: days only
    return expiry + ": reissue from the same CA key" if expiry else None


@dataclass(frozen=True)
class SigningRequest:
    """What a host asks the CA for; names come from the inventory, the CSR only proves the key."""

    name: str
    csr: str
    profile: str
    common_name: str
    subject_alt_names: tuple = ()
    valid_days: int = 365


def sign_request(ca_key, ca_cert, request: SigningRequest, index: revocation.CAIndex, now=None):
    if request.profile not in ("server", "client"):
        raise CertError("request %r: profile must be 'server' or 'client', got %r" % (request.name, request.profile))
    try:
        csr = crypto.load_csr(request.csr)
    except CertError as exc:
        raise CertError("request %r: %s" % (request.name, exc)) from None
    weak = crypto.weak_key_problem(csr.public_key())
    if weak:
        raise CertError("request %r: the CSR's key %s; the CA does not certify it" % (request.name, weak))
    check_key_not_revoked(index, csr.public_key(), "request %r: the CSR's key" % request.name)
    return local.sign(
        ca_key,
        ca_cert,
        csr.public_key(),
        crypto.common_name_subject(request.common_name),
        list(request.subject_alt_names),
        request.profile,
        request.valid_days,
        now,
    )


def check_key_not_revoked(index: revocation.CAIndex, public_key, what: str) -> None:
    """A key whose certificate was revoked is never certified again: whoever holds a copy could use it."""
    revoked = index.revoked_key(public_key)
    if revoked is not None:
        raise CertError(
            "%s is that of certificate %s, revoked (%s); the CA does not certify it again: make a new key"
            % (what, revoked.serial, revoked.reason)
        )


def plan_revocations(plan: CAPlan, revoke: list, rekey: list, now) -> None:
    """Revoke the current certificates of each ``revoke`` identity (name, reason, serial: None for its current ones),
    and once per token those of each ``rekey`` identity (name, token) as compromised. An identity the CA never issued
    to, or the CA itself, is an error: a typo must not pass for a revocation."""
    for name, reason, serial in revoke:
        _check_identity(plan, name, "revoke", unknown_is_error=serial is None)
        if serial is None:
            plan.records.revoke(name, reason, now, "revoke %s" % name)
        else:
            plan.records.revoke_serial(name, serial, reason, now, plan.certificate)
    for name, token in rekey:
        if plan.records.index.rekeyed.get(name) != token:
            # a host without a certificate on record yet (a new one) has nothing to revoke: its token is noted
            _check_identity(plan, name, "rekey", unknown_is_error=False)
            plan.records.rekey(name, token, now)


def _check_identity(plan: CAPlan, name: str, option: str, unknown_is_error: bool) -> None:
    """A revocation never names the CA itself; a name the index never saw is refused when ``unknown_is_error``."""
    if name == crypto.common_name_of(plan.certificate):
        raise CertError(
            "%s: %r is the CA itself; a CA is not revoked: move its directory away to start a new CA (every "
            "certificate will be reissued)" % (option, name)
        )
    if unknown_is_error and not plan.records.index.issued_to(name):
        raise CertError(
            "%s: %r is no identity the CA issued a certificate to (an inventory host or a database user); for a "
            "certificate issued before the CA kept an index, give its serial too: {name: %s, serial: <openssl x509 "
            "-noout -serial -in client.crt>}" % (option, name, name)
        )


def plan_ca_records(plan: CAPlan, crl_valid_days: int, now) -> CAPlan:
    """index.json and each trusted CA's root.crl as the call leaves them, once it revoked and signed what it had to:
    the index written when what it records changed, a CRL (valid ``crl_valid_days``) signed anew only when
    crl_problem says so. The plan holds until the first CRL enters its renewal window."""
    plan.crls, crl_changes = [], []
    for ca in plan.trusted:
        crl_state = plan.states.get(ca.crl_path) or FileState(ca.crl_path)
        crl, change = plan.records.plan_crl(ca.key, ca.certificate, crl_state, now, crl_valid_days)
        if change is not None and change.data is not None:  # signed anew: it replaces what the layout put there
            plan.changes = [c for c in plan.changes if c.path != ca.crl_path]
        plan.crls.append(crl)
        crl_changes.append(change)
        plan.deadlines.append(revocation.crl_due_at(crl, plan.records.revoked_by(ca.key, now), crl_valid_days))
        if ca.signs:
            plan.crl = crl
    index_change = plan.records.index_change()  # the index first: it is the source of truth
    plan.changes += [change for change in [index_change] + crl_changes if change is not None]
    return plan


# --- server and client ---------------------------------------------------------------------


@dataclass(frozen=True)
class _LeafFiles:
    """The leaf's key and certificate as read, and its pending key as far as it counts (_pending_state)."""

    key: FileState
    cert: FileState
    pending: FileState


def plan_leaf(request: LeafRequest, states: dict, issued=None, signer: Callable | None = None, now=None) -> LeafPlan:
    """Plan one server's or client's files.

    ``states`` maps each file name (and "directory") to its FileState: all of them are what the plan
    was made from. ``issued`` is a certificate the CA returned for this host's CSR; ``signer``
    (CSR -> certificate) is given when the CA key is on this very host, so issuing happens in the
    same call. The certificate in force holds until its renewal moment.
    """
    now = now or now_utc()
    plan = LeafPlan(
        changes=directory_changes(
            states["directory"], request.directory_attributes, "%s directory" % request.role, enforce=False
        ),
        read=[state.path for state in states.values()],
    )
    files = _leaf_files(plan, request, states)
    key, key_change = _plan_key(plan, request, files.key, files.pending)
    if issued is not None:
        key, key_change = _accept_issued_certificate(plan, request, files, issued, key, key_change, now)
    else:
        key, key_change = _keep_or_request_certificate(plan, request, files, key, key_change, signer, now)
    if key_change is not None and plan.certificate is None:
        _plan_key_awaiting_certificate(plan, files.pending, key_change)
        _plan_trust(plan, request, states, now)
        return plan
    _plan_installation(plan, request, files, key_change)
    _plan_trust(plan, request, states, now)
    if request.role == "client":
        _plan_client_formats(plan, request, states, key)
    return plan


def _leaf_files(plan: LeafPlan, request: LeafRequest, states: dict) -> _LeafFiles:
    """The files the leaf's key and certificate are decided from; a pending key certkeeper did not write is ignored."""
    names = LEAF_NAMES[request.role]
    pending_name = pending_key_name(request.role)
    pending = _pending_state(plan, request, states.get(pending_name) or FileState(request.path(pending_name)))
    return _LeafFiles(key=states[names["key"]], cert=states[names["cert"]], pending=pending)


def _accept_issued_certificate(
    plan: LeafPlan, request: LeafRequest, files: _LeafFiles, issued, key, key_change: Change | None, now
) -> tuple:
    """(key, key Change or None): the CA's certificate goes in force only for this host's key, and usable now."""
    if key_change is None and not crypto.same_public_key(issued.public_key(), key):
        # rotate_key: the CA certified the new key that waits as the pending key
        pending_key = _pending_key(files.pending, request.key_spec)
        if pending_key is not None and crypto.same_public_key(issued.public_key(), pending_key):
            key = pending_key
            key_change = _new_key_change(files.key, request, key, "the issued certificate's new key")
    problem = _certificate_problem(issued, key, request, now, renewal_window=False)
    if problem:
        raise CertError("the certificate returned by the CA cannot be used: %s" % problem)
    due = due_reason(issued, now, request.renew_before_days, request.renew_fraction)
    if due:  # better a fresh short certificate than the old one; the next run asks again
        plan.warnings.append("the certificate the CA issued %s; lower renew_before or raise the CA's valid_days" % due)
    plan.certificate = issued
    plan.certificate_reasons.append("issued by the CA")
    return key, key_change


def _keep_or_request_certificate(
    plan: LeafPlan, request: LeafRequest, files: _LeafFiles, key, key_change: Change | None, signer, now
) -> tuple:
    """(key, key Change or None) once the certificate in force is kept, or else a new one is asked for."""
    if key_change is not None and not _matches(files.cert, key):
        problem = existing_problem(files.cert) or "new private key"
    else:  # with a new key here, an install was cut short: the certificate already belongs to it
        problem = _current_certificate_problem(files.cert, key, request, now)
    if problem and _revoked(request, files.cert) and _matches(files.cert, key):
        # the key of a revoked certificate is never certified again, whatever rotate_key says
        key = request.key_spec.generate()
        key_change = _new_key_change(files.key, request, key, "%s: a new key" % problem)
    elif problem and key_change is None:
        key, key_change, problem = _key_for_replacement(request, files, key, problem, now)
    if problem:
        _request_certificate(plan, request, files.cert, key, problem, signer)
    else:
        plan.certificate = crypto.load_certificate(files.cert.data)
    return key, key_change


# A certificate of the CA that no longer signs while a CA key rolls over keeps its key: libpq reads client.crt and
# client.key as two files, and with the key kept the old and the new certificate both match it at every instant.
ROLLED_OVER = "issued by the CA that signed until the CA rollover"


def _key_for_replacement(request: LeafRequest, files: _LeafFiles, key, problem: str, now) -> tuple:
    """(key, key Change or None, problem or None) when only the certificate is wrong: the key policy picks its key."""
    pending_key = _pending_key(files.pending, request.key_spec)
    if pending_key is not None and _current_certificate_problem(files.cert, pending_key, request, now) is None:
        # an install was cut short (whatever the key policy): the certificate already belongs to the pending key
        reason = "the pending key of the certificate in force (install completed)"
        return pending_key, _new_key_change(files.key, request, pending_key, reason), None
    if request.rotate_key and _loadable(files.cert) and not problem.startswith(ROLLED_OVER):
        # one key policy for the playbook and the timer (renewal.py): a certificate that is replaced gets a
        # new key; a missing one is issued for the key in place
        key = pending_key or request.key_spec.generate()
        return key, _new_key_change(files.key, request, key, "rotate_key: a new key for the new certificate"), problem
    return key, None, problem


def _request_certificate(
    plan: LeafPlan, request: LeafRequest, cert_state: FileState, key, problem: str, signer: Callable | None
) -> None:
    """A CSR for ``key``: signed at once by the CA on this host, or returned for the CA host (a pending change)."""
    plan.certificate_reasons.append(problem)
    plan.csr = crypto.build_csr(key, request.common_name)
    plan.certificate = signer(plan.csr) if signer else None
    if plan.certificate is None:
        plan.changes.append(
            Change(
                cert_state.path,
                "%s: request a certificate from the CA" % problem,
                request.public_attributes,
                before=describe_before(cert_state, "certificate"),
                after="certificate for CN=%s from the CA (CSR returned)\n" % request.common_name,
                pending=True,
            )
        )


def _plan_key_awaiting_certificate(plan: LeafPlan, pending_state: FileState, key_change: Change) -> None:
    """The new key waits beside the old pair, which stays in force until the CA's certificate replaces both."""
    if pending_state.data != key_change.data:
        key_change.path, key_change.mark = pending_state.path, True
        key_change.reason += " (kept as %s until its certificate arrives)" % os.path.basename(pending_state.path)
        plan.changes.append(key_change)


def _plan_installation(plan: LeafPlan, request: LeafRequest, files: _LeafFiles, key_change: Change | None) -> None:
    """The certificate in force and its key, in an order a crash cannot break; then the pending key goes."""
    if key_change is not None and files.pending.data != key_change.data:
        # first the pending key, then the certificate, then the key: a crash between the last two
        # leaves the pending key matching the new certificate, and the next call puts it in place
        plan.changes.append(_pending_key_first(request, files.pending, key_change))
    if plan.certificate is not None:
        _plan_certificate_file(plan, request, files.cert)
    if key_change is not None:
        plan.changes.append(key_change)
    if plan.certificate is not None and (key_change is not None or files.pending.data is not None):
        # a pending key goes once a certificate is in force: installed, or not the key of that certificate
        plan.changes.append(_pending_key_removal(request, files.pending, installed=key_change is not None))


def _pending_key_first(request: LeafRequest, pending_state: FileState, key_change: Change) -> Change:
    """The new key written as the pending key before anything it replaces, so that a crash cannot lose it."""
    return Change(
        pending_state.path,
        "new key, kept until it is installed",
        request.key_attributes,
        key_change.data,
        before=describe_before(pending_state, "private key"),
        after=key_change.after,
        mark=True,
    )


def _plan_certificate_file(plan: LeafPlan, request: LeafRequest, cert_state: FileState) -> None:
    """The certificate in force written (or its owner/mode fixed); what the plan verified holds until it is due."""
    plan.deadlines.append(due_at(plan.certificate, request.renew_before_days, request.renew_fraction))
    _plan_public(
        plan,
        cert_state,
        crypto.certificate_pem(plan.certificate),
        request.public_attributes,
        "certificate",
        "; ".join(plan.certificate_reasons) or None,
        lambda: certificate_line(plan.certificate, request.public_attributes),
    )


def _pending_key_removal(request: LeafRequest, pending_state: FileState, installed: bool) -> Change:
    """The pending key goes once a certificate is in force: no stale key may be installed by a later call."""
    return Change(
        pending_state.path,
        "installed as %s" % LEAF_NAMES[request.role]["key"] if installed else "not the key of the certificate in force",
        request.key_attributes,
        before="pending private key\n",
        after="absent\n",
        remove=True,
    )


def _plan_trust(plan: LeafPlan, request: LeafRequest, states: dict, now) -> None:
    """root.crt, and root.crl when the call hands in the CA's CRL."""
    _plan_ca_certificate(plan, request, states)
    if request.crls:
        _plan_crl_file(plan, request, request.crls, states.get(CRL) or FileState(request.path(CRL)), now)


def _plan_crl_file(plan: LeafPlan, request: LeafRequest, crls: tuple, state: FileState, now) -> None:
    """root.crl as the CA published it (a CRL of each trusted CA while a CA key rolls over: PostgreSQL refuses the
    certificates of a CA without one), rewritten only when its bytes differ; what it says holds until the first
    nextUpdate (after which PostgreSQL refuses every certificate of that CA)."""
    for crl in crls:
        if crl.next_update_utc is not None:
            plan.deadlines.append(crl.next_update_utc)
            if crl.next_update_utc <= now:
                plan.warnings.append(
                    "crl expired on %s: PostgreSQL refuses every certificate of this CA until a current CRL is "
                    "installed; the CA call (role=ca) signs a new one" % revocation.crl_next_update(crl)
                )
    _plan_public(
        plan,
        state,
        b"".join(revocation.crl_pem(crl) for crl in crls),
        request.public_attributes,
        "CRL",
        None,
        lambda: "".join(revocation.crl_line(crl, request.public_attributes) for crl in crls),
        same=bytes.__eq__,
        differs="differs from the CA's current CRL" if len(crls) == 1 else "differs from the CAs' current CRLs",
    )


def _plan_ca_certificate(plan: LeafPlan, request: LeafRequest, states: dict) -> None:
    bundle = request.bundle
    _plan_public(
        plan,
        states[CA_CERT],
        b"".join(crypto.certificate_pem(ca) for ca in bundle),
        request.public_attributes,
        "CA certificate",
        None,
        lambda: "".join(certificate_line(ca, request.public_attributes) for ca in bundle),
        same=_same_bundle,
        differs="differs from the CA's current certificate" if len(bundle) == 1 else "differs from the CA bundle",
    )


def _same_bundle(data: bytes, wanted_pem: bytes) -> bool:
    """The same certificates in the same order, whatever their encoding."""
    try:
        return crypto.load_certificates(data) == crypto.load_certificates(wanted_pem)
    except CertError:
        return False


def pending_key_name(role: str) -> str:
    """Where a new key waits for its certificate, beside the key it will replace."""
    return LEAF_NAMES[role]["key"] + ".pending"


def _loadable(cert_state: FileState) -> bool:
    try:
        return cert_state.data is not None and crypto.load_certificate(cert_state.data) is not None
    except CertError:
        return False


def _matches(cert_state: FileState, key) -> bool:
    try:
        return cert_state.data is not None and crypto.same_public_key(
            crypto.load_certificate(cert_state.data).public_key(), key
        )
    except CertError:
        return False


def _plan_key(plan: LeafPlan, request: LeafRequest, state: FileState, pending: FileState):
    """(key, Change writing it or None). A new key reuses a pending one of the requested type."""
    if state.error:  # never replace a key that may still be in use but cannot be read here
        raise CertError("cannot read private key %s: %s; fix or remove it" % (state.path, state.error))
    problem = existing_problem(state)
    key = None
    if problem is None:
        try:
            key = crypto.load_private_key(state.data)
        except CertError:
            problem = "corrupt (not a private key)"
        else:
            spec = KeySpec.of(key)
            if spec != request.key_spec:
                problem = "is %s, %s requested" % (spec or "an unsupported key type", request.key_spec)
    if problem is None:
        fix = attribute_change(state, request.key_attributes, "private key")
        if fix:
            plan.changes.append(fix)
        return key, None
    key = _pending_key(pending, request.key_spec) or request.key_spec.generate()
    return key, _new_key_change(state, request, key, "%s: new %s key" % (problem, request.key_spec))


def _new_key_change(state: FileState, request: LeafRequest, key, reason: str) -> Change:
    return Change(
        state.path,
        reason,
        request.key_attributes,
        crypto.pkcs8_pem(key),
        before=describe_before(state, "private key"),
        after=_describe_key(request.key_spec, request.key_attributes),
    )


def _pending_state(plan: LeafPlan, request: LeafRequest, state: FileState) -> FileState:
    """The pending key as found, when it is one this collection wrote; else a missing one, and a warning.

    A new key waits beside the pair in force, in a directory its owner (postgres) may write: a file planted
    there, or a hard link to another key, must never be certified and installed. It counts only if it is the
    very inode certkeeper wrote and marked in the directory's root-only stamp (device, inode, SHA-256 of the
    content), with one link and the owner and mode the plan gives it (the key's). A file that does not is
    left alone unless a new pending key is written in its place."""
    if state.data is None or state.error:
        return state
    if state.links != 1:
        problem = "it has %d hard links" % state.links
    elif state.attributes != request.key_attributes:
        wanted = request.key_attributes.describe()
        problem = "it is %s, where certkeeper writes it %s" % (state.attributes.describe(), wanted)
    elif not state.written_here:
        problem = "certkeeper has no record of writing this file (%s)" % STAMP_NAME
    else:
        return state
    plan.warnings.append(
        "%s is not used: %s. A pending key counts only when certkeeper wrote that very file; whoever can write %s "
        "may have planted it: look at it, then remove it" % (state.path, problem, request.directory)
    )
    return FileState(state.path)


def _pending_key(state: FileState, spec: KeySpec):
    """The key of a pending key state that _pending_state let through, when it is of the requested type."""
    if state.data is None or state.error:
        return None
    try:
        key = crypto.load_private_key(state.data)
    except CertError:
        return None  # a torn pending key is simply replaced
    return key if KeySpec.of(key) == spec else None


def _certificate_problem(cert, key, request: LeafRequest, now, renewal_window: bool = True) -> str | None:
    """Why ``cert`` is not the certificate this host should present, or None."""
    if not crypto.same_public_key(cert.public_key(), key):
        return "does not match the private key"
    hygiene = crypto.leaf_problem(cert)
    if hygiene:
        return hygiene
    if not crypto.issued_by(cert, request.ca_certificate):
        earlier = next((ca for ca in request.bundle if crypto.issued_by(cert, ca)), None)
        if earlier is None:
            return "not issued by the CA in root.crt"
        return "%s (%s); %s signs now: a new certificate for the same key" % (
            ROLLED_OVER,
            earlier.subject.rfc4514_string(),
            request.ca_certificate.subject.rfc4514_string(),
        )
    revoked = _revocation_problem(request, cert)
    if revoked:
        return revoked
    cn = crypto.common_name_of(cert)
    if cn != request.common_name:
        return "CN is %r, %r requested" % (cn, request.common_name)
    current = sorted(crypto.general_name_text(n) for n in crypto.subject_alt_names_of(cert))
    wanted = sorted(crypto.general_name_text(n) for n in request.subject_alt_names)
    if current != wanted:
        return "SANs are [%s], [%s] requested" % (", ".join(current), ", ".join(wanted))
    if not set(crypto.PROFILES[request.role].extended_key_usages) <= set(crypto.extended_key_usages_of(cert)):
        return "lacks the %s extended key usage" % ("serverAuth" if request.role == "server" else "clientAuth")
    if renewal_window:
        return due_reason(cert, now, request.renew_before_days, request.renew_fraction)
    return due_reason(cert, now, 0, None)


def _revocation_problem(request: LeafRequest, cert) -> str | None:
    """Why the CRL of the CA that issued ``cert`` (option crl) rules it out, or None."""
    for ca, crl in zip(request.bundle, request.crls):
        if crypto.issued_by(cert, ca):
            reason = revocation.listed_reason(crl, cert.serial_number)
            return None if reason is None else "revoked (%s) by the CA" % reason
    return None


def _revoked(request: LeafRequest, cert_state: FileState) -> bool:
    """Whether the CA's CRL lists the certificate in force."""
    return _loadable(cert_state) and _revocation_problem(request, crypto.load_certificate(cert_state.data)) is not None


def _current_certificate_problem(state: FileState, key, request: LeafRequest, now) -> str | None:
    problem = existing_problem(state)
    if problem:
        return problem
    try:
        cert = crypto.load_certificate(state.data)
    except CertError:
        return "corrupt (not a certificate)"
    return _certificate_problem(cert, key, request, now)


def _same_certificate(data: bytes, wanted_pem: bytes) -> bool:
    try:
        return crypto.load_certificate(data) == crypto.load_certificate(wanted_pem)
    except CertError:
        return False


def _plan_public(
    plan: Plan,
    state: FileState,
    wanted: bytes,
    attributes: Attributes,
    kind: str,
    reason: str | None,
    describe: Callable,
    same: Callable = _same_certificate,
    differs: str = "differs from the CA's current certificate",
) -> None:
    """Write a public PEM file when its content differs (``same``: by default, the same certificate, whatever its
    encoding); otherwise only fix owner/mode."""
    if state.data is not None and not state.error and same(state.data, wanted):
        fix = attribute_change(state, attributes, kind)
        if fix:
            plan.changes.append(fix)
        return
    reason = reason or existing_problem(state) or differs
    plan.changes.append(
        Change(state.path, reason, attributes, wanted, before=describe_before(state, kind), after=describe())
    )


def client_outputs(request: LeafRequest) -> list:
    names = LEAF_NAMES["client"]
    return [
        Output(request.path(names["pk8"]), "pkcs8_der"),
        Output(request.path(names["pem_pk8"]), "pkcs8_pem"),
        Output(request.path(names["pfx"]), "pkcs12", request.pfx_password, request.pfx_friendly_name),
    ]


def _plan_client_formats(plan: LeafPlan, request: LeafRequest, states: dict, key) -> None:
    """client.pk8 (PKCS#8 DER), client.pem.pk8 (PKCS#8 PEM) and client.pfx (PKCS#12 with root.crt)."""
    by_path = {request.path(name): state for name, state in states.items() if name != "directory"}
    plan.changes += plan_outputs(
        client_outputs(request),
        key,
        plan.certificate,
        crypto.chain_for(plan.certificate, list(request.bundle)) if plan.certificate is not None else request.bundle,
        request.key_attributes,
        by_path,
        LEAF_NAMES["client"]["key"],
    )
