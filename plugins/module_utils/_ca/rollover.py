# -*- coding: utf-8 -*-
# Copyright (c) certkeeper.pki contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A CA key that changes without a failed connection: the one place that knows a CA directory's generations.

A rollover from generation N to N+1 takes three steps, each the start of a playbook run (istio#30947: skip one and
peers break):

1. ``trust``: the new CA is made in ``next/`` beside the one in force, which keeps signing; every host gets
   ``root.crt`` with both CAs and ``root.crl`` with a CRL of each (PostgreSQL checks every trusted CA's CRL).
2. ``sign``: once every host of the fleet confirmed it holds both CAs, the new CA moves to ``root.*`` and signs;
   the old one moves to ``previous/``, still trusted, its CRL still signed; each leaf of the old CA is reissued.
3. ``done``: once every host of the fleet presents a certificate of the new CA (or is waived), the old CA leaves the
   bundles and its key moves to ``archive/g<N>-<key digest>/``, root-only, never deleted.

``root.key``/``root.crt``/``root.crl`` are the signing CA's in every phase, so everything that signs (the CA call,
the certkeeper timer's ``ca: local`` renewals and CRLs) keeps its paths. ``rollover.json`` (root-only) records the
phase, both generations' keys, which hosts hold both CAs and which moved. CA material is found by its key's digest
wherever it lies, so a run cut short between two renames is completed by the next one."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field

from .._core import crypto
from .._core.crypto import KeySpec
from .._core.cryptography_import import NameOID, x509
from .._core.errors import CertError
from .._core.files import (
    ROOT_ONLY_DIRECTORY,
    ROOT_ONLY_FILE,
    Attributes,
    Change,
    FileState,
    describe_before,
    read_state,
)
from .local import load_ca
from .revocation import CRL_ATTRIBUTES, CRL_NAME, INDEX_NAME, CARecords, key_digest, load_crl

ROLLOVER_NAME = "rollover.json"
KEY_NAME, CERT_NAME = "root.key", "root.crt"
NEXT, PREVIOUS, ARCHIVE = "next", "previous", "archive"
TRUST, SIGN, DONE = "trust", "sign", "done"
STEP = {TRUST: 1, SIGN: 2, DONE: 3}
PUBLIC = Attributes(0o644, 0, 0)
FILE_ATTRIBUTES = {KEY_NAME: ROOT_ONLY_FILE, CERT_NAME: PUBLIC, CRL_NAME: CRL_ATTRIBUTES}


def ca_subject(common_name: str, generation: int):
    """The CA certificate's subject: generation 1 is ``CN=...`` alone (no churn for a CA made before rollovers),
    a later one ``OU=generation N,CN=...``, so reports, CRL issuers and PKCS#12 chains tell the two CAs apart."""
    name = crypto.common_name_subject(common_name)
    if generation < 2:
        return name
    ou = x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "generation %d" % generation)
    return x509.Name([ou] + list(name))


@dataclass
class Generation:
    number: int
    key_sha256: str
    key: str  # the key type, as KeySpec describes it
    subject: str = ""


@dataclass
class RolloverState:
    """What rollover.json records; absent, the CA is generation 1 and never rolled over."""

    generation: int = 1  # the generation in force (done) or rolled to
    phase: str = DONE
    old: Generation | None = None
    new: Generation | None = None
    holding: list = field(default_factory=list)  # hosts that confirmed root.crt with both CAs (step 1)
    moved: dict = field(default_factory=dict)  # host: serial of its certificate of the new CA, confirmed (step 2)
    archived: list = field(default_factory=list)  # archive directories of retired generations, relative
    started: str = ""
    switched: str = ""
    finished: str = ""

    @classmethod
    def parse(cls, state: FileState) -> RolloverState:
        if state.error or state.is_directory:
            raise CertError(_unreadable(state.path, state.error or "a directory"))
        if state.data is None:
            return cls()
        try:
            raw = json.loads(state.data)
            result = cls(**{k: v for k, v in raw.items() if k not in ("old", "new")})
            result.old = Generation(**raw["old"]) if raw.get("old") else None
            result.new = Generation(**raw["new"]) if raw.get("new") else None
            if result.phase not in STEP or not isinstance(result.generation, int) or result.generation < 1:
                raise ValueError("phase %r, generation %r" % (result.phase, result.generation))
            if result.phase != DONE and (result.old is None or result.new is None):
                raise ValueError("a rollover under way names no old or new CA")
            return result
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise CertError(_unreadable(state.path, exc)) from None

    def serialize(self) -> bytes:
        return (json.dumps(asdict(self), indent=1, sort_keys=True) + "\n").encode("utf-8")

    def copy(self) -> RolloverState:
        return RolloverState.parse(FileState("", self.serialize()))

    @property
    def under_way(self) -> bool:
        return self.phase in (TRUST, SIGN)

    def describe(self) -> str:
        return "the rollover to generation %d (%s, step %d of 3: %s)" % (
            self.generation,
            self.new.key if self.new else "",
            STEP[self.phase],
            "generation %d signs, generation %d is trusted beside it"
            % ((self.old.number, self.generation) if self.phase == TRUST else (self.generation, self.old.number)),
        )


def _unreadable(path: str, why) -> str:
    return (
        "%s cannot be read (%s); restore it from a backup. It is not started anew: it records which CA signs and "
        "which hosts hold both CAs" % (path, why)
    )


@dataclass(frozen=True)
class Ask:
    """What the CA call asks for: the generation and key of the CA, and the fleet the rollover waits for."""

    generation: int
    key_spec: KeySpec
    hosts: tuple = ()  # every inventory host of the servers' and clients' groups
    waive: tuple = ()  # hosts step 3 does not wait for
    option: str = "ca_generation"  # names in messages
    key_option: str = "ca_key_type and ca_key_size"


@dataclass
class Decision:
    """The phase this call leaves the CA in, and what it says about it."""

    state: RolloverState
    transition: str = ""  # "start", "switch", "retire" or ""
    reasons: list = field(default_factory=list)
    warnings: list = field(default_factory=list)
    holdouts: dict = field(default_factory=dict)  # host: what of the old CA it still holds
    waiting_for: list = field(default_factory=list)  # hosts not confirmed holding both CAs (step 1)


def check_ask(state: RolloverState, ask: Ask) -> None:
    """Errors before anything changes: a generation taken back or skipped, other parameters mid-way, a waiver for a
    host the rollover does not wait for (a typo would waive nothing)."""
    rolling = state.under_way or ask.generation > state.generation
    if rolling and not ask.hosts:
        raise CertError(
            "%s %d asks for a CA rollover, which needs rollover_hosts: the hosts that must trust the new CA before it "
            "signs; nothing was changed" % (ask.option, ask.generation)
        )
    unknown = sorted(set(ask.waive) - set(ask.hosts))
    if unknown and rolling:
        raise CertError(
            "rollover_waive names %s, not a server or client of the inventory; nothing was changed" % ", ".join(unknown)
        )
    if state.under_way:
        if ask.generation != state.generation:
            raise CertError(
                "%s is %d but %s is under way; finish it with %s: %d, then ask for another; nothing was changed"
                % (ask.option, ask.generation, state.describe(), ask.option, state.generation)
            )
        if str(ask.key_spec) != state.new.key:
            raise CertError(
                "%s ask for %s but %s makes %s; keep them until it is done; nothing was changed"
                % (ask.key_option, ask.key_spec, state.describe(), state.new.key)
            )
        return
    if ask.generation < state.generation:
        raise CertError(
            "%s is %d but the CA is at generation %d: a CA generation is never taken back; nothing was changed"
            % (ask.option, ask.generation, state.generation)
        )
    if ask.generation > state.generation + 1:
        raise CertError(
            "%s is %d but the CA is at generation %d: raise it by one (each rollover takes its own runs); nothing "
            "was changed" % (ask.option, ask.generation, state.generation)
        )


def decide(state: RolloverState, ask: Ask, index, signer_key, now) -> Decision:
    """The transition the CA call makes at the start of a run, from what the last run's hosts confirmed."""
    current_spec = KeySpec.of(signer_key)
    check_ask(state, ask)
    decision = Decision(state.copy())
    if state.phase == DONE:
        if ask.generation == state.generation + 1:
            decision.transition = "start"
        elif current_spec != ask.key_spec:
            decision.warnings.append(
                "the CA key (generation %d) is %s, %s ask for %s: a CA key changes only by a rollover; set %s: %d"
                % (state.generation, current_spec, ask.key_option, ask.key_spec, ask.option, state.generation + 1)
            )
        return decision
    if state.phase == TRUST:
        decision.waiting_for = sorted(set(ask.hosts) - set(state.holding))
        if decision.waiting_for:
            decision.warnings.append(
                "CA rollover step 2 of 3 waits: no run has confirmed that %s hold both CAs (unreachable, failed, or "
                "outside --limit); generation %d keeps signing" % (", ".join(decision.waiting_for), state.old.number)
            )
        else:
            decision.transition = "switch"
        return decision
    decision.holdouts = holdouts(state, ask, index, now)
    if decision.holdouts:
        decision.warnings.append(
            "CA rollover step 3 of 3 waits: generation %d stays trusted while %s have not moved; run the playbook for "
            "them, or list them in rollover_waive"
            % (state.old.number, ", ".join("%s (%s)" % item for item in sorted(decision.holdouts.items())))
        )
    else:
        decision.transition = "retire"
        gone = sorted(_old_holders(state, index, now) - set(ask.hosts))
        if gone:
            decision.warnings.append(
                "generation %d certificates of %s (no longer servers or clients of the inventory) stop being trusted"
                % (state.old.number, ", ".join(gone))
            )
    return decision


def holdouts(state: RolloverState, ask: Ask, index, now) -> dict:
    """host: what it may still present, for each host of the fleet not waived that has not run with the new CA.

    Every host counts, not only those the index shows with a current certificate of the old CA: the index does not
    hold every certificate a host may present (one the CA host's timer renewed, one issued before the index)."""
    found = {}
    for host in ask.hosts:
        if host in ask.waive or host in state.moved:
            continue
        old = [e for e in index.current(host, now) if e.issuer_key_sha256 == state.old.key_sha256]
        found[host] = ", ".join("serial %s, expires %s" % (e.serial, e.not_after[:10]) for e in old) or (
            "no run has confirmed a certificate of generation %d" % state.generation
        )
    return found


def _old_holders(state: RolloverState, index, now) -> set:
    return {
        e.name
        for e in index.certificates
        if e.issuer_key_sha256 == state.old.key_sha256 and e.status == "valid" and not e.expired(now)
    }


def record_report(state: RolloverState, report: dict, index) -> list:
    """Take what the hosts of a run confirmed (report: generation, phase, hosts {name: serial in force}): in step 1
    that they hold both CAs, in step 2 that they present a certificate of the new CA (their own call checked it
    against the CA that signs). A report of another phase (the CA moved on since) counts for nothing; a serial the
    index holds for another host, or from the old CA, is not counted. Warnings."""
    if not state.under_way or report.get("generation") != state.generation or report.get("phase") != state.phase:
        return []
    warnings: list = []
    hosts = report.get("hosts") or {}
    if state.phase == TRUST:
        state.holding = sorted(set(state.holding) | set(hosts))
        return warnings
    for host, serial in sorted(hosts.items()):
        if not serial:
            continue  # waits for its certificate: not moved yet
        known = next((e for e in index.certificates if e.serial == serial), None)
        if known is not None and (
            known not in index.issued_to(host) or known.issuer_key_sha256 == state.old.key_sha256
        ):
            warnings.append(
                "%s reports serial %s, which the CA did not issue to it from generation %d: not counted"
                % (host, serial, state.generation)
            )
            continue
        state.moved[host] = serial  # one the index lacks: the CA host's timer renewed it with the CA that signs
    return warnings


# --- where each generation's files are -------------------------------------------------------------------------


def locations(state: RolloverState) -> dict:
    """Sub-directory ("" the CA directory itself) -> the Generation whose files belong there in this phase."""
    if state.phase == TRUST:
        return {"": state.old, NEXT: state.new}
    if state.phase == SIGN:
        return {"": state.new, PREVIOUS: state.old}
    return {"": state.new} if state.new else {}


def archive_directory(generation: Generation) -> str:
    """Where a retired generation's files go: named by generation and key, so a run knows it before it retires."""
    return os.path.join(ARCHIVE, "g%d-%s" % (generation.number, generation.key_sha256[:12]))


@dataclass
class Material:
    """One CA's files as found, wherever they lie: the key (bytes), its certificate and CRL (bytes or None)."""

    key: bytes
    cert: bytes | None = None
    crl: bytes | None = None


def find_material(states: dict) -> dict:
    """key digest -> Material, from every file read (path -> FileState) in the CA directory and its sub-directories:
    a run cut short between two renames left each file in one place or the other."""
    keys: dict = {}
    certs: dict = {}
    crls: list = []
    for path, state in sorted(states.items()):
        if state.data is None or state.error:
            continue
        name = os.path.basename(path)
        try:
            if name == KEY_NAME:
                keys.setdefault(key_digest(crypto.load_private_key(state.data).public_key()), state.data)
            elif name == CERT_NAME:
                cert = crypto.load_certificate(state.data)
                certs.setdefault(key_digest(cert.public_key()), (state.data, cert))
            elif name == CRL_NAME:
                crls.append((state.data, load_crl(state.data)))
        except CertError:
            continue  # a torn or foreign file is no CA's material
    found = {}
    for digest, key in keys.items():
        cert_data, cert = certs.get(digest, (None, None))
        crl = next(
            (
                data
                for data, crl in crls
                if cert is not None and crl.issuer == cert.subject and crl.is_signature_valid(cert.public_key())
            ),
            None,
        )
        found[digest] = Material(key, cert_data, crl)
    return found


def layout_changes(directory: str, state: RolloverState, states: dict, found: dict, retiring: Generation | None):
    """(changes, virtual states) that put each generation's files where the phase wants them.

    Writes go where a file is missing or holds another generation's bytes, removals where a generation no longer
    belongs; the retired generation goes to its archive directory first. ``virtual`` maps each path the CA reads to
    the state it has once the changes are applied, for the CA's plan to go on from."""
    changes: list = []
    virtual = dict(states)
    wanted = dict(locations(state))
    if retiring is not None:
        wanted[archive_directory(retiring)] = retiring
    for sub in sorted(wanted, key=lambda s: s == ""):  # the CA directory's own files last: they are what signs
        generation = wanted[sub]
        material = required_material(found, generation, directory, sub)
        if sub:
            _directory(changes, os.path.join(directory, sub), states)
        for name, data in ((KEY_NAME, material.key), (CERT_NAME, material.cert), (CRL_NAME, material.crl)):
            path = os.path.join(directory, sub, name)
            current = states.get(path) or FileState(path)
            if data is None or current.data == data:
                continue
            changes.append(
                Change(
                    path,
                    "generation %d's %s%s" % (generation.number, name, ", archived" if sub.startswith(ARCHIVE) else ""),
                    FILE_ATTRIBUTES[name],
                    data,
                    before=describe_before(current, "file"),
                    after="generation %d's %s, %s\n" % (generation.number, name, FILE_ATTRIBUTES[name].describe()),
                )
            )
            virtual[path] = FileState(path, data, FILE_ATTRIBUTES[name])
    for sub in (NEXT, PREVIOUS):
        if sub in wanted:
            continue
        for name in (KEY_NAME, CERT_NAME, CRL_NAME):
            path = os.path.join(directory, sub, name)
            current = states.get(path)
            if current is not None and current.data is not None:
                changes.append(
                    Change(
                        path,
                        "moved on: %s/ holds no CA in this phase" % sub,
                        FILE_ATTRIBUTES[name],
                        before=describe_before(current, "file"),
                        after="absent\n",
                        remove=True,
                    )
                )
                virtual[path] = FileState(path)
    return changes, virtual


def required_material(found: dict, generation: Generation, directory: str, sub: str) -> Material:
    material = found.get(generation.key_sha256)
    if material is None or material.cert is None:
        raise CertError(
            "the key of CA generation %d (%s, recorded in %s) is found nowhere in %s; restore %s from a backup "
            "of the CA directory; nothing was changed"
            % (
                generation.number,
                generation.subject,
                ROLLOVER_NAME,
                directory,
                os.path.join(directory, sub, KEY_NAME if material is None else CERT_NAME),
            )
        )
    return material


def _directory(changes: list, path: str, states: dict) -> None:
    state = states.get(path)
    if state is None or (state.data is None and not state.is_directory):
        if not any(c.path == path for c in changes):
            changes.append(
                Change(
                    path,
                    "CA rollover directory missing",
                    ROOT_ONLY_DIRECTORY,
                    before="absent\n",
                    after="directory, %s\n" % ROOT_ONLY_DIRECTORY.describe(),
                    directory=True,
                )
            )


def paths_read(directory: str, state: RolloverState | None = None) -> list:
    """Every path the CA's layout is planned from, absent ones too: rollover.json, the CA directory's own files,
    ``next/`` and ``previous/``, and the archive the old CA goes to once a rollover is under way."""
    subs = ["", NEXT, PREVIOUS]
    if state is not None and state.under_way:
        subs.append(archive_directory(state.old))
    paths = [os.path.join(directory, ROLLOVER_NAME)]
    for sub in subs:
        if sub:
            paths.append(os.path.join(directory, sub))
        paths += [os.path.join(directory, sub, name) for name in (KEY_NAME, CERT_NAME, CRL_NAME)]
    return paths


def attribute_issuers(records: CARecords, state: RolloverState) -> None:
    """Once a CA key rolled over, each CA's CRL lists only its own certificates: an index entry without an issuer
    (written before the first rollover) is the old generation's. Done on every call, not only when the rollover
    starts: a run cut short before index.json was written must not leave one out of every CRL."""
    records.by_issuer = state.new is not None
    if state.old is not None:
        attributed = records.index.attribute_unknown_issuers(state.old.key_sha256)
        if attributed:
            records.reasons.append(
                "record generation %d as the issuer of %d certificates" % (state.old.number, attributed)
            )


def refresh_crls(directory: str, now, valid_days: int) -> tuple:
    """(the CRL of every CA the hosts trust, in bundle order; the changes that keep them so): what the certkeeper timer
    on the CA host does between playbook runs. Each CA's CRL is signed anew exactly when a CA call would sign it
    (crl_problem), in its own directory, the index keeping the CRL number; the CA directory's files are pg_mtls's
    layout. Every CRL, not only the signing CA's: a host that trusts two CAs needs a current CRL of each."""
    state = RolloverState.parse(read_state(os.path.join(directory, ROLLOVER_NAME)))
    records = CARecords.read(read_state(os.path.join(directory, INDEX_NAME)))
    attribute_issuers(records, state)
    subs = sorted(locations(state).items(), key=lambda item: item[1].number) or [("", None)]
    crls, changes = [], []
    for sub, _generation in subs:
        ca_key, ca_cert = load_ca(os.path.join(directory, sub, CERT_NAME), os.path.join(directory, sub, KEY_NAME), now)
        crl, change = records.plan_crl(
            ca_key, ca_cert, read_state(os.path.join(directory, sub, CRL_NAME)), now, valid_days
        )
        crls.append(crl)
        changes.append(change)
    return crls, [change for change in [records.index_change()] + changes if change is not None]
