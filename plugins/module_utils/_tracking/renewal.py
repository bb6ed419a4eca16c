# -*- coding: utf-8 -*-
# Copyright (c) certkeeper.pki contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Renewal of tracked certificates: when one is due, how it is signed, and saving it safely.

Order of a renewal, as certmonger does it: key (rotated by default), CSR, signature through the
request's CA (an issuer of ``_ca/``: the engine never asks which type), pre-save
command, then key + certificate + every derived output written together (all staged before any is
renamed), then the post-save command. A failure at any step keeps the old files and records a
status that tells the truth; the next tick retries what can be retried.
"""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass

from .._ca import base
from .._ca.registry import issuer_for
from .._core import crypto
from .._core.commands import run_command
from .._core.crypto import CertError, KeySpec
from .._core.cryptography_import import x509
from .._core.files import ROOT_ONLY_FILE, Change, Plan, apply_plan, read_state, resolve_attributes
from .._core.outputs import plan_outputs
from .._core.policy import due_reason
from .request import (
    CA_REJECTED,
    CA_UNCONFIGURED,
    CA_UNREACHABLE,
    CA_WORKING,
    MONITORING,
    NEED_CA,
    NEED_GUIDANCE,
    POST_SAVE_FAILED,
    PRE_SAVE_FAILED,
    TrackedRequest,
    UnreadableRecord,
)
from .store import Store


@dataclass
class Outcome:
    id: str
    action: str  # renewed, not due, waiting, failed, skipped
    status: str
    message: str = ""

    def as_dict(self) -> dict:
        return {"id": self.id, "action": self.action, "status": self.status, "message": self.message}


class Renewal:
    """Renews one request. ``store_dir`` keeps the pending key: the key a CA helper is still working on,
    and the new key while it is being saved (so a crash between the renames can be finished later)."""

    def __init__(self, request: TrackedRequest, store_dir: str, now=None, runner=run_command):
        self.request = request
        self.now = now or datetime.datetime.now(datetime.timezone.utc)
        self.runner = runner
        self.store = Store(store_dir)
        self.pending_key_path = self.store.pending_key_path(request.id)

    # -- the steps ---------------------------------------------------------------------------

    def run(self, force: bool = False, first_issue: bool = False) -> Outcome:
        """Renew if due (or ``force``); ``first_issue`` makes a missing key and certificate."""
        try:
            return self._run(force, first_issue)
        except CertError as exc:  # unusable settings or files: this request needs a person, the others go on
            return self._finish("failed", NEED_GUIDANCE, str(exc))

    def _run(self, force: bool, first_issue: bool) -> Outcome:
        """Cheap checks first: a request that is not due, with nothing pending, never has its key read."""
        r = self.request
        if force and r.ca_cookie:  # resubmit starts over, with the names as they are now
            r.ca_cookie = ""
            self._drop_pending()
        current_cert, problem = self._current_certificate(first_issue)
        if problem:
            return self._finish("failed", NEED_GUIDANCE, problem)
        reason = self._renewal_reason(current_cert, force)
        waiting = bool(r.ca_cookie)  # the CA is working on an earlier request
        if reason is None and not waiting and not os.path.exists(self.pending_key_path):
            # the common case, kept cheap: not due, nothing pending; the key is only looked at when due
            if not os.path.exists(r.key_path):
                return self._finish("failed", NEED_GUIDANCE, "tracked key %s is missing" % r.key_path)
            return self._not_due()
        current_key, problem = self._current_key(current_cert)  # may finish a save cut short
        if problem:
            return self._finish("failed", NEED_GUIDANCE, problem)
        if reason is None and not waiting:
            return self._not_due()
        if not (r.auto_renew or force or first_issue):
            return Outcome(r.id, "skipped", r.status, "due (%s) but auto-renew is off" % reason)
        return self._renew(current_cert, current_key, reason)

    def _renewal_reason(self, current_cert, force: bool) -> str | None:
        """Why a certificate is asked for now, or None: the one in force is kept while it is not due."""
        if current_cert is None:
            return "requested"
        if force:
            return "resubmit"
        return due_reason(current_cert, self.now, self.request.renew_before, self.request.renew_fraction)

    def _renew(self, current_cert, current_key, reason: str | None) -> Outcome:
        """One attempt through the request's CA; only a certificate that is fit to be saved replaces the files."""
        r = self.request
        r.last_attempt = self.now.isoformat()
        issuer = issuer_for(r, self.runner, self.store)
        if issuer.defers:  # no key is made here: the CA host's run makes the next one
            return self._finish("waiting", NEED_CA, issuer.deferral(reason or "the CA is working on it"))
        key = self._key(current_key, current_cert is None)
        answer = issuer.issue(self._issue_request(key, current_cert, current_key))
        if answer.outcome != base.ISSUED:
            return self._not_issued(answer, key)
        refusal = self._refusal(answer.certificate, key)
        if refusal is not None:
            return refusal
        outcome = self._save(key, answer.certificate, current_key, reason or "the CA issued it")
        if outcome.action == "renewed":
            issuer.saved()
        return outcome

    def _issue_request(self, key, current_cert, current_key) -> base.IssueRequest:
        """The CA's question: this key, the names as tracked, and the cookie of a request it is still working on."""
        r = self.request
        return base.IssueRequest(
            private_key=key,
            subject=x509.Name.from_rfc4514_string(r.subject),
            subject_alt_names=crypto.parse_subject_alt_names(r.subject_alt_names),  # as tracked, never from disk
            profile=r.profile,
            valid_days=r.valid_days,
            now=self.now,
            current_certificate=current_cert,
            current_key=current_key,
            cookie=r.ca_cookie,
        )

    def _not_issued(self, answer: base.Answer, key) -> Outcome:
        """No certificate: a request the CA still holds is kept for the next tick; one it ended is dropped."""
        r = self.request
        if answer.outcome == base.PENDING:  # the CA works on this key's request: keep both for the next poll
            r.ca_cookie = answer.cookie
            self._keep_pending(key)
            return self._finish("waiting", CA_WORKING, answer.message)
        if answer.outcome == base.UNREACHABLE:  # an outstanding request (cookie, pending key) is kept
            return self._finish("failed", CA_UNREACHABLE, answer.message)
        self._drop_pending()  # the request is over: the next one starts afresh
        r.ca_cookie = ""
        return self._finish("failed", answer.outcome, answer.message)

    def _refusal(self, cert, key) -> Outcome | None:
        """Why the certificate the CA issued must not be saved (the old files serve on), or None."""
        r = self.request
        if not crypto.same_public_key(cert.public_key(), key):
            return self._finish("failed", CA_REJECTED, "the CA returned a certificate for another key")
        if crypto.leaf_problem(cert):
            return self._finish(
                "failed",
                CA_REJECTED,
                "the CA returned a certificate that cannot be used: %s" % crypto.leaf_problem(cert),
            )
        still_due = due_reason(cert, self.now, r.renew_before, r.renew_fraction)
        if still_due:  # e.g. capped by a CA that expires soon: saving it would renew on every tick
            self._drop_pending()
            r.ca_cookie = ""
            return self._finish(
                "failed",
                CA_UNCONFIGURED,
                "the CA issued a certificate that is due at once (%s); "
                "renew the CA certificate or lower renew_before" % still_due,
            )
        return None

    def _not_due(self) -> Outcome:
        r = self.request
        if r.status in (NEED_GUIDANCE, NEED_CA):  # files are fine again and not due
            return self._finish("not due", MONITORING, "")
        return Outcome(r.id, "not due", r.status, r.last_error)

    def _current_certificate(self, first_issue: bool):
        """(certificate, problem); the certificate is None when a first issue has none yet, or when the CA still
        holds the first request (its cookie kept): the timer polls it as it polls a renewal."""
        state = read_state(self.request.cert_path)
        if state.data is None and not state.error and (first_issue or self.request.ca_cookie):
            return None, None
        if state.data is None or state.error or state.is_directory:
            return None, "tracked certificate %s is %s" % (
                state.path,
                state.error or ("a directory" if state.is_directory else "missing"),
            )
        try:
            return crypto.load_certificate(state.data), None
        except CertError:
            return None, "tracked certificate %s is not a certificate" % state.path

    def _current_key(self, current_cert):
        """(key or None, problem). Finishes an interrupted save: a pending key that matches the certificate."""
        r = self.request
        state = read_state(r.key_path)
        if current_cert is None:
            if state.data is None and not state.error:
                return None, None
            try:  # certmonger's way: a key already in place is used for the first request
                return crypto.load_private_key(state.data or b""), None
            except CertError:
                return None, "key %s exists but is not a usable private key" % r.key_path
        if state.data is None or state.error or state.is_directory:
            return None, "tracked key %s is %s" % (state.path, state.error or "missing")
        try:
            key = crypto.load_private_key(state.data)
        except CertError:
            return None, "tracked key %s is not a usable private key" % state.path
        if crypto.same_public_key(key, current_cert.public_key()):
            return key, None
        pending = read_state(self.pending_key_path)
        if pending.data and not r.ca_cookie:
            pending_key = crypto.load_private_key(pending.data)
            if crypto.same_public_key(pending_key, current_cert.public_key()):
                apply_plan(Plan([self._key_change(pending_key)]))  # the save was cut between its renames
                self._drop_pending()
                return pending_key, None
        return None, "tracked key %s does not match certificate %s" % (r.key_path, r.cert_path)

    def _key(self, current_key, current_cert_missing: bool):
        r = self.request
        pending = read_state(self.pending_key_path)
        if r.ca_cookie and pending.data:  # the CA is working on the CSR of this key
            return crypto.load_private_key(pending.data)
        if current_key is not None and (not r.rotate_key or current_cert_missing):
            return current_key
        return KeySpec(r.key_type, r.key_size).generate()

    def _key_change(self, key) -> Change:
        r = self.request
        return Change(
            r.key_path,
            "renewed",
            resolve_attributes(r.key_owner, r.key_group, r.key_mode, "key"),
            crypto.pkcs8_pem(key),
        )

    def _keep_pending(self, key) -> None:
        os.makedirs(os.path.dirname(self.pending_key_path), mode=0o700, exist_ok=True)
        apply_plan(Plan([Change(self.pending_key_path, "pending", ROOT_ONLY_FILE, crypto.pkcs8_pem(key))]))

    def _drop_pending(self) -> None:
        if os.path.exists(self.pending_key_path):
            os.unlink(self.pending_key_path)

    def _save(self, key, cert, current_key, reason: str) -> Outcome:
        r = self.request
        plan = self._save_plan(key, cert, current_key)  # everything that can fail before any command runs
        if r.pre_save_command:
            code, out, err = self.runner(r.pre_save_command)
            if code != 0:
                return self._finish(
                    "failed",
                    PRE_SAVE_FAILED,
                    "pre-save command failed (%s): %s; nothing was "
                    "saved" % ("stopped" if code is None else "exit %d" % code, (err or out)[:300]),
                )
        self._keep_pending(key)  # until key and certificate are both in place
        try:
            apply_plan(plan)
        except CertError as exc:
            self._post_save()  # whatever pre-save stopped must come back, on the old files
            return self._finish("failed", NEED_GUIDANCE, "%s; the old files are kept" % exc)
        self._drop_pending()
        r.ca_cookie = ""
        r.last_renewed = self.now.isoformat()
        message = "renewed (%s), serial %x, expires %s" % (
            reason,
            cert.serial_number,
            cert.not_valid_after_utc.isoformat(),
        )
        failure = self._post_save()
        if failure:
            return self._finish("renewed", POST_SAVE_FAILED, "saved, but the post-save command failed (%s)" % failure)
        return self._finish("renewed", MONITORING, "", message)

    def _post_save(self) -> str | None:
        return post_save_failure(self.request.post_save_command, self.runner)

    def _save_plan(self, key, cert, current_key) -> Plan:
        """Certificate first, then the key: cut between the two renames, the pending key finishes the job."""
        r = self.request
        cert_attributes = resolve_attributes("root", "root", r.cert_mode, "cert")
        changes = [Change(r.cert_path, "renewed", cert_attributes, crypto.certificate_pem(cert))]
        if current_key is None or not crypto.same_public_key(key, current_key):
            changes.append(self._key_change(key))
        outputs = r.output_list()
        chain: tuple = ()
        if r.chain_path:
            chain_state = read_state(r.chain_path)
            if chain_state.data is None or chain_state.error:
                raise CertError("chain_path %s cannot be read: %s" % (r.chain_path, chain_state.error or "missing"))
            try:
                chain = crypto.chain_for(cert, crypto.load_certificates(chain_state.data))
            except CertError:
                raise CertError("chain_path %s holds no certificate" % r.chain_path) from None
        states = {o.path: read_state(o.path) for o in outputs}
        key_attributes = resolve_attributes(r.key_owner, r.key_group, r.key_mode, "key")
        changes += plan_outputs(outputs, key, cert, chain, key_attributes, states, os.path.basename(r.key_path))
        return Plan(changes)

    def _finish(self, action: str, status: str, error: str, message: str = "") -> Outcome:
        self.request.status = status
        self.request.last_error = error
        return Outcome(self.request.id, action, status, message or error)


def post_save_failure(command: str, runner) -> str | None:
    """Run a post-save command (none: nothing to run); why it failed, or None."""
    if not command:
        return None
    code, out, err = runner(command)
    if code == 0:
        return None
    return "%s: %s" % ("stopped" if code is None else "exit %d" % code, (err or out)[:300])


def _status_of(record) -> tuple:
    return tuple(getattr(record, name) for name in record.status_fields)


def tick_each(store, records: list, tick) -> list:
    """``tick(record) -> Outcome`` for each record of the store (one that could not be read is a failure, and none
    of its commands runs), saving each whose status fields changed: a tick changes those only, and comparing them
    is cheap. Call under the store's lock."""
    outcomes = []
    for record in records:
        if isinstance(record, UnreadableRecord):
            outcomes.append(Outcome(record.id, "failed", NEED_GUIDANCE, record.error))
            continue
        before = _status_of(record)
        outcomes.append(tick(record))
        if _status_of(record) != before:
            store.save(record)
    return outcomes


def renew_all(store, requests: list, force: bool = False, now=None, runner=run_command) -> list:
    """Renew each request that is due (all of them with ``force``), saving each status. Call under the lock."""
    return tick_each(store, requests, lambda request: Renewal(request, store.directory, now, runner).run(force=force))
