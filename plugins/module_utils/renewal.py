# -*- coding: utf-8 -*-
# Copyright (c) certkeeper.pki contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Renewal of tracked certificates: when one is due, how it is signed, and saving it safely.

Order of a renewal, as certmonger does it: key (rotated by default), CSR, signature through the
request's CA (``local``, ``self_sign``, a certmonger CA ``helper``, or ``ansible``), pre-save
command, then key + certificate + every derived output written together (all staged before any is
renamed), then the post-save command. A failure at any step keeps the old files and records a
status that tells the truth; the next tick retries what can be retried.
"""

from __future__ import annotations

import datetime
import os
import subprocess
from dataclasses import asdict, dataclass

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from . import crypto
from .crypto import CertError, KeySpec
from .files import Change, Plan, apply_plan, read_state, resolve_attributes
from .outputs import plan_outputs
from .policy import due_reason
from .tracking import (CA_REJECTED, CA_UNCONFIGURED, CA_UNREACHABLE, CA_WORKING, MONITORING, NEED_CA, NEED_GUIDANCE,
                       POST_SAVE_FAILED, PRE_SAVE_FAILED, TrackedRequest)

COMMAND_TIMEOUT = 300
PROFILE_USAGES = {
    "server": ([ExtendedKeyUsageOID.SERVER_AUTH], True),
    "client": ([ExtendedKeyUsageOID.CLIENT_AUTH], True),
    "ssl": ([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH], True),
    "signing": ([], False),
}


@dataclass
class Outcome:
    id: str
    action: str  # renewed, not due, waiting, failed, skipped
    status: str
    message: str = ""

    def as_dict(self) -> dict:
        return {"id": self.id, "action": self.action, "status": self.status, "message": self.message}


def run_command(command: str, env: dict | None = None, timeout: int = COMMAND_TIMEOUT):
    """(exit code, stdout, stderr) of ``/bin/sh -c command``; a timeout is exit code None."""
    try:
        proc = subprocess.run(["/bin/sh", "-c", command], env=env, stdin=subprocess.DEVNULL, capture_output=True,
                              text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return None, "", "timed out after %d s" % timeout
    return proc.returncode, proc.stdout, proc.stderr


class Renewal:
    """Renews one request; ``store_dir`` keeps a helper's pending key between polls."""

    def __init__(self, request: TrackedRequest, store_dir: str, now=None, runner=run_command):
        self.request = request
        self.now = now or datetime.datetime.now(datetime.timezone.utc)
        self.runner = runner
        self.pending_key_path = os.path.join(store_dir, "pending", request.id + ".key")

    # -- the steps ---------------------------------------------------------------------------

    def run(self, force: bool = False, first_issue: bool = False) -> Outcome:
        """Renew if due (or ``force``); ``first_issue`` makes a missing key and certificate."""
        r = self.request
        current_key, current_cert, problem = self._current(first_issue)
        if problem:
            return self._finish("failed", NEED_GUIDANCE, problem)
        reason = "requested" if first_issue else "resubmit" if force else due_reason(
            current_cert, self.now, r.renew_before, r.renew_fraction)
        if reason is None and r.status != CA_WORKING:
            if r.status in (NEED_GUIDANCE, NEED_CA):  # files are fine again and not due
                return self._finish("not due", MONITORING, "")
            return Outcome(r.id, "not due", r.status, r.last_error)
        if not (r.auto_renew or force or first_issue):
            return Outcome(r.id, "skipped", r.status, "due (%s) but auto-renew is off" % reason)
        r.last_attempt = self.now.isoformat()
        if r.ca == "ansible":
            return self._finish("waiting", NEED_CA, "due (%s); the next playbook run re-issues it through the CA "
                                "host" % reason)
        key = self._key(current_key, current_cert is None)
        subject, sans = self._names(current_cert)
        try:
            cert, status, message = self._sign(key, subject, sans, current_cert)
        except CertError as exc:
            return self._finish("failed", CA_UNCONFIGURED, str(exc))
        if cert is None:
            return self._finish("waiting" if status == CA_WORKING else "failed", status, message)
        if not crypto.same_public_key(cert.public_key(), key):
            return self._finish("failed", CA_REJECTED, "the CA returned a certificate for another key")
        return self._save(key, cert, current_key, reason)

    def _current(self, first_issue: bool):
        r = self.request
        key_state, cert_state = read_state(r.key_path), read_state(r.cert_path)
        if first_issue and cert_state.data is None and not cert_state.error:
            if key_state.data is None and not key_state.error:
                return None, None, None
            try:  # certmonger's way: a key already in place is used for the first request
                return crypto.load_private_key(key_state.data or b""), None, None
            except CertError:
                return None, None, "key %s exists but is not a usable private key" % r.key_path
        for state, what in ((key_state, "key"), (cert_state, "certificate")):
            if state.data is None or state.error or state.is_directory:
                return None, None, "tracked %s %s is %s" % (what, state.path, state.error or (
                    "a directory" if state.is_directory else "missing"))
        try:
            key, cert = crypto.load_private_key(key_state.data), crypto.load_certificate(cert_state.data)
        except CertError as exc:
            return None, None, "tracked files cannot be read: %s" % exc
        if not crypto.same_public_key(key, cert.public_key()):
            return None, None, "tracked key %s does not match certificate %s" % (r.key_path, r.cert_path)
        return key, cert, None

    def _key(self, current_key, current_cert_missing: bool):
        r = self.request
        pending = read_state(self.pending_key_path)
        if r.status == CA_WORKING and pending.data:
            return crypto.load_private_key(pending.data)
        if current_key is not None and (not r.rotate_key or current_cert_missing):
            return current_key
        return KeySpec(r.key_type, r.key_size).generate()

    def _names(self, current_cert):
        r = self.request
        if r.subject:
            subject = x509.Name.from_rfc4514_string(r.subject)
        elif current_cert is not None:
            subject = current_cert.subject
        else:
            raise CertError("subject is required to request a new certificate")
        if r.subject_alt_names:
            sans = crypto.parse_subject_alt_names(r.subject_alt_names)
        else:
            sans = crypto.subject_alt_names_of(current_cert) if current_cert is not None else []
        return subject, sans

    def _sign(self, key, subject, sans, current_cert):
        """(certificate, status, message); certificate None when the CA did not issue one."""
        r = self.request
        ekus, encipherment = PROFILE_USAGES[r.profile]
        if r.ca == "self_sign":
            cert = crypto.issue_certificate(key, subject, key.public_key(), subject, sans, r.valid_days, ekus,
                                            encipherment, now=self.now)
            return cert, MONITORING, ""
        if r.ca == "local":
            ca_key, ca_cert = load_local_ca(r.ca_cert_path, r.ca_key_path)
            cert = crypto.issue_certificate(ca_key, ca_cert.subject, key.public_key(), subject, sans, r.valid_days,
                                            ekus, encipherment, issuer_not_after=ca_cert.not_valid_after_utc,
                                            now=self.now)
            return cert, MONITORING, ""
        return self._submit_to_helper(key, subject, sans, current_cert)

    def _submit_to_helper(self, key, subject, sans, current_cert):
        """certmonger's CA-helper protocol: SUBMIT (or POLL with the cookie), exit code tells the outcome."""
        r = self.request
        csr = crypto.csr_pem(crypto.build_csr(key, subject, sans)).decode()
        polling = r.status == CA_WORKING and bool(r.ca_cookie)
        env = dict(os.environ, CERTMONGER_OPERATION="POLL" if polling else "SUBMIT", CERTMONGER_CSR=csr,
                   CERTMONGER_REQ_SUBJECT=subject.rfc4514_string(),
                   CERTMONGER_REQ_HOSTNAME="\n".join(n.value for n in sans if isinstance(n, x509.DNSName)),
                   CERTMONGER_REQ_IP_ADDRESS="\n".join(str(n.value) for n in sans if isinstance(n, x509.IPAddress)),
                   CERTMONGER_CA_COOKIE=r.ca_cookie if polling else "")
        if current_cert is not None:
            env["CERTMONGER_CERTIFICATE"] = crypto.certificate_pem(current_cert).decode()
        code, out, err = self.runner(r.helper, env=env)
        said = (out.strip() or err.strip())[:500]
        if code == 0:
            try:
                return crypto.load_certificate(out.strip()), MONITORING, ""
            except CertError:
                return None, CA_REJECTED, "the CA helper exited 0 but printed no certificate: %r" % said[:120]
        if code in (1, 5):  # wait: 1 = cookie on stdout, 5 = delay then cookie
            lines = out.strip().splitlines()
            r.ca_cookie = (lines[-1] if lines else "")
            self._keep_pending(key)
            return None, CA_WORKING, "the CA asked to wait; polled on the next tick"
        self._drop_pending()
        if code == 2:
            return None, CA_REJECTED, "the CA rejected the request: %s" % said
        if code is None or code == 3:
            return None, CA_UNREACHABLE, "the CA could not be reached (%s); retried on the next tick" % (
                said or "exit 3")
        if code in (4, 6):
            return None, CA_UNCONFIGURED, "the CA helper is not configured for this (exit %d): %s" % (code, said)
        return None, CA_UNCONFIGURED, "the CA helper exited %d, which the protocol does not define: %s" % (code, said)

    def _keep_pending(self, key) -> None:
        os.makedirs(os.path.dirname(self.pending_key_path), mode=0o700, exist_ok=True)
        apply_plan(Plan([Change(self.pending_key_path, "pending", resolve_attributes("root", "root", "0600", "key"),
                                crypto.pkcs8_pem(key))]))

    def _drop_pending(self) -> None:
        if os.path.exists(self.pending_key_path):
            os.unlink(self.pending_key_path)

    def _save(self, key, cert, current_key, reason: str) -> Outcome:
        r = self.request
        if r.pre_save_command:
            code, out, err = self.runner(r.pre_save_command)
            if code != 0:
                return self._finish("failed", PRE_SAVE_FAILED, "pre-save command failed (%s): %s; nothing was "
                                    "saved" % ("timeout" if code is None else "exit %d" % code, (err or out)[:300]))
        try:
            apply_plan(self._save_plan(key, cert, current_key))
        except CertError as exc:
            return self._finish("failed", NEED_GUIDANCE, str(exc))
        self._drop_pending()
        r.ca_cookie = ""
        r.last_renewed = self.now.isoformat()
        message = "renewed (%s), serial %x, expires %s" % (reason, cert.serial_number,
                                                            cert.not_valid_after_utc.isoformat())
        if r.post_save_command:
            code, out, err = self.runner(r.post_save_command)
            if code != 0:
                return self._finish("renewed", POST_SAVE_FAILED, "saved, but the post-save command failed (%s): %s"
                                    % ("timeout" if code is None else "exit %d" % code, (err or out)[:300]))
        return self._finish("renewed", MONITORING, "", message)

    def _save_plan(self, key, cert, current_key) -> Plan:
        r = self.request
        key_attributes = resolve_attributes(r.key_owner, r.key_group, r.key_mode, "key")
        cert_attributes = resolve_attributes(r.key_owner, r.key_group, r.cert_mode, "cert")
        changes = [Change(r.cert_path, "renewed", cert_attributes, crypto.certificate_pem(cert))]
        if current_key is None or not crypto.same_public_key(key, current_key):
            changes.insert(0, Change(r.key_path, "renewed", key_attributes, crypto.pkcs8_pem(key)))
        outputs = r.output_list()
        chain = ()
        if r.chain_path:
            chain_state = read_state(r.chain_path)
            if chain_state.data:
                chain = (crypto.load_certificate(chain_state.data),)
        states = {o.path: read_state(o.path) for o in outputs}
        changes += plan_outputs(outputs, key, cert, chain, key_attributes, states, os.path.basename(r.key_path))
        return Plan(changes)

    def _finish(self, action: str, status: str, error: str, message: str = "") -> Outcome:
        self.request.status = status
        self.request.last_error = error
        return Outcome(self.request.id, action, status, message or error)


def load_local_ca(cert_path: str, key_path: str):
    cert_state, key_state = read_state(cert_path), read_state(key_path)
    for state, what in ((cert_state, "CA certificate"), (key_state, "CA key")):
        if state.data is None or state.error:
            raise CertError("%s %s cannot be read: %s" % (what, state.path, state.error or "missing"))
    ca_cert, ca_key = crypto.load_certificate(cert_state.data), crypto.load_private_key(key_state.data)
    if not crypto.same_public_key(ca_key, ca_cert.public_key()):
        raise CertError("CA key %s does not belong to CA certificate %s" % (key_path, cert_path))
    return ca_key, ca_cert


def renew_all(store, requests: list, force: bool = False, now=None, runner=run_command) -> list:
    """Renew each request that is due (all of them with ``force``), saving each status. Call under the lock."""
    outcomes = []
    for request in requests:
        before = asdict(request)
        outcomes.append(Renewal(request, store.directory, now, runner).run(force=force))
        if asdict(request) != before:
            store.save(request)
    return outcomes
