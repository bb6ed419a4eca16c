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

import contextlib
import datetime
import os
import selectors
import signal
import subprocess
import time
from dataclasses import dataclass

try:
    from cryptography import x509
    from cryptography.x509.oid import ExtendedKeyUsageOID
except ImportError:  # the modules report it (module_shell.run_module); ansible-test imports this without it
    HAS_CRYPTOGRAPHY = False
else:
    HAS_CRYPTOGRAPHY = True

from . import crypto
from .crypto import CertError, KeySpec
from .files import ROOT_ONLY_FILE, Change, Plan, apply_plan, read_state, resolve_attributes
from .outputs import plan_outputs
from .policy import due_reason
from .tracking import (
    CA_REJECTED,
    CA_UNCONFIGURED,
    CA_UNREACHABLE,
    CA_WORKING,
    MONITORING,
    NEED_CA,
    NEED_GUIDANCE,
    POST_SAVE_FAILED,
    PRE_SAVE_FAILED,
    STATUS_FIELDS,
    Store,
    TrackedRequest,
    UnreadableRecord,
)

COMMAND_TIMEOUT = 300  # seconds a helper, pre-save or post-save command may run (CERTKEEPER_COMMAND_TIMEOUT)
OUTPUT_LIMIT = 1024 * 1024  # bytes of stdout and of stderr a command may print; one printing more is stopped
CLOCK_SKEW = datetime.timedelta(minutes=5)  # how far in the future a helper's certificate may start
PROFILE_USAGES = (
    {
        "server": ([ExtendedKeyUsageOID.SERVER_AUTH], True),
        "client": ([ExtendedKeyUsageOID.CLIENT_AUTH], True),
        "ssl": ([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH], True),
        "signing": ([], False),
    }
    if HAS_CRYPTOGRAPHY
    else {}
)
# What a CA helper's certificate must carry for a profile (extendedKeyUsage): all of the first, none but the
# second (None: no limit). A TLS certificate may carry both TLS usages; no other (codeSigning, any, ...).
PROFILE_EKUS = (
    {
        "server": ([ExtendedKeyUsageOID.SERVER_AUTH], crypto.TLS_EKUS),
        "client": ([ExtendedKeyUsageOID.CLIENT_AUTH], crypto.TLS_EKUS),
        "ssl": ([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH], crypto.TLS_EKUS),
        "signing": ([], None),
    }
    if HAS_CRYPTOGRAPHY
    else {}
)


@dataclass
class Outcome:
    id: str
    action: str  # renewed, not due, waiting, failed, skipped
    status: str
    message: str = ""

    def as_dict(self) -> dict:
        return {"id": self.id, "action": self.action, "status": self.status, "message": self.message}


class CommandResult(tuple):
    """``(exit code, stdout, stderr)`` of a command, and ``stopped``: why certkeeper ended it ("timeout",
    "output") or "". The exit code is None when it was stopped."""

    stopped = ""

    def __new__(cls, code, out: str, err: str, stopped: str = ""):
        result = super().__new__(cls, (code, out, err))
        result.stopped = stopped
        return result


def run_command(
    command: str,
    env: dict | None = None,
    timeout: int | None = None,
    limit: int | None = None,
) -> CommandResult:
    """``/bin/sh -c command``: (exit code, stdout, stderr); a command that was stopped has exit code None.

    The timeout (CERTKEEPER_COMMAND_TIMEOUT seconds, 300 by default) ends the command's whole process
    group, so a helper's own children cannot keep the renewal waiting. Output is read as it comes, at most
    ``limit`` bytes of each stream (OUTPUT_LIMIT, 1 MiB, by default): a command printing more is killed the
    same way (``stopped == "output"``), so memory stays bounded whatever a command prints."""
    timeout = timeout or int(os.environ.get("CERTKEEPER_COMMAND_TIMEOUT") or COMMAND_TIMEOUT)
    limit = limit or OUTPUT_LIMIT
    proc = subprocess.Popen(
        ["/bin/sh", "-c", command],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    deadline = time.monotonic() + timeout
    kept: dict = {proc.stdout: bytearray(), proc.stderr: bytearray()}
    stopped, reason = "", ""
    try:
        with selectors.DefaultSelector() as selector:
            for stream in kept:
                selector.register(stream, selectors.EVENT_READ)
            while selector.get_map() and not stopped:
                left = deadline - time.monotonic()
                if left <= 0:
                    stopped, reason = "timeout", "timed out after %d s" % timeout
                    break
                for ready, _events in selector.select(min(left, 1.0)):
                    chunk = os.read(ready.fd, 65536)
                    if not chunk:
                        selector.unregister(ready.fileobj)
                        continue
                    buffer = kept[ready.fileobj]
                    room = limit - len(buffer)
                    buffer += chunk[: max(room, 0)]
                    if len(chunk) > room:
                        name = "stdout" if ready.fileobj is proc.stdout else "stderr"
                        stopped, reason = "output", "printed more than %d bytes on %s; stopped" % (limit, name)
                        break
        if not stopped:
            try:
                proc.wait(timeout=max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                stopped, reason = "timeout", "timed out after %d s" % timeout
    except BaseException:
        stopped = "interrupted"
        raise
    finally:
        if stopped:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
        proc.stdout.close()
        proc.stderr.close()
        proc.wait()
    if stopped:
        return CommandResult(None, "", reason, stopped)
    out, err = (kept[s].decode("utf-8", "replace") for s in (proc.stdout, proc.stderr))
    return CommandResult(proc.returncode, out, err)


class Renewal:
    """Renews one request. ``store_dir`` keeps the pending key: the key a CA helper is still working on,
    and the new key while it is being saved (so a crash between the renames can be finished later)."""

    def __init__(self, request: TrackedRequest, store_dir: str, now=None, runner=run_command):
        self.request = request
        self.now = now or datetime.datetime.now(datetime.timezone.utc)
        self.runner = runner
        self.pending_key_path = Store(store_dir).pending_key_path(request.id)

    # -- the steps ---------------------------------------------------------------------------

    def run(self, force: bool = False, first_issue: bool = False) -> Outcome:
        """Renew if due (or ``force``); ``first_issue`` makes a missing key and certificate."""
        try:
            return self._run(force, first_issue)
        except CertError as exc:  # unusable settings or files: this request needs a person, the others go on
            return self._finish("failed", NEED_GUIDANCE, str(exc))

    def _run(self, force: bool, first_issue: bool) -> Outcome:
        r = self.request
        if force and r.ca_cookie:  # resubmit starts over, with the names as they are now
            r.ca_cookie = ""
            self._drop_pending()
        current_cert, problem = self._current_certificate(first_issue)
        if problem:
            return self._finish("failed", NEED_GUIDANCE, problem)
        reason = (
            "requested"
            if current_cert is None
            else "resubmit"
            if force
            else due_reason(current_cert, self.now, r.renew_before, r.renew_fraction)
        )
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
        r.last_attempt = self.now.isoformat()
        if r.ca == "ansible":
            return self._finish(
                "waiting",
                NEED_CA,
                "due (%s); the next playbook run re-issues it through the CA "
                "host" % (reason or "the CA is working on it"),
            )
        key = self._key(current_key, current_cert is None)
        subject = x509.Name.from_rfc4514_string(r.subject)
        sans = crypto.parse_subject_alt_names(r.subject_alt_names)  # the names tracked, never those on disk
        cert, status, message = self._sign(key, subject, sans, current_cert)
        if cert is None:
            return self._finish("waiting" if status == CA_WORKING else "failed", status, message)
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
        return self._save(key, cert, current_key, reason or "the CA issued it")

    def _not_due(self) -> Outcome:
        r = self.request
        if r.status in (NEED_GUIDANCE, NEED_CA):  # files are fine again and not due
            return self._finish("not due", MONITORING, "")
        return Outcome(r.id, "not due", r.status, r.last_error)

    def _current_certificate(self, first_issue: bool):
        """(certificate, problem); the certificate is None when a first issue has none yet."""
        state = read_state(self.request.cert_path)
        if state.data is None and not state.error and first_issue:
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

    def _sign(self, key, subject, sans, current_cert):
        """(certificate, status, message); certificate None when the CA did not issue one."""
        r = self.request
        ekus, encipherment = PROFILE_USAGES[r.profile]
        if r.ca == "self_sign":
            cert = crypto.issue_certificate(
                key, subject, key.public_key(), subject, sans, r.valid_days, ekus, encipherment, now=self.now
            )
            return cert, MONITORING, ""
        if r.ca == "local":
            try:
                ca_key, ca_cert = load_local_ca(r.ca_cert_path, r.ca_key_path, self.now)
            except CertError as exc:
                return None, CA_UNCONFIGURED, str(exc)
            cert = crypto.issue_certificate(
                ca_key,
                ca_cert.subject,
                key.public_key(),
                subject,
                sans,
                r.valid_days,
                ekus,
                encipherment,
                issuer_not_after=ca_cert.not_valid_after_utc,
                now=self.now,
            )
            return cert, MONITORING, ""
        return self._submit_to_helper(key, subject, sans, current_cert)

    def _submit_to_helper(self, key, subject, sans, current_cert):
        """certmonger's CA-helper protocol: SUBMIT (or POLL with the cookie), exit code tells the outcome."""
        r = self.request
        ekus, encipherment = PROFILE_USAGES[r.profile]
        csr = crypto.csr_pem(crypto.build_csr(key, subject, sans, ekus, encipherment)).decode()
        polling = bool(r.ca_cookie)
        env = dict(
            os.environ,
            CERTMONGER_OPERATION="POLL" if polling else "SUBMIT",
            CERTMONGER_CSR=csr,
            CERTMONGER_REQ_SUBJECT=subject.rfc4514_string(),
            CERTMONGER_REQ_HOSTNAME="\n".join(n.value for n in sans if isinstance(n, x509.DNSName)),
            CERTMONGER_REQ_IP_ADDRESS="\n".join(str(n.value) for n in sans if isinstance(n, x509.IPAddress)),
            CERTMONGER_CA_COOKIE=r.ca_cookie,
        )
        if current_cert is not None:
            env["CERTMONGER_CERTIFICATE"] = crypto.certificate_pem(current_cert).decode()
        result = self.runner(r.helper, env=env)
        code, out, err = result
        said = (out.strip() or err.strip())[:500]
        if getattr(result, "stopped", "") == "output":  # a CA answers with a certificate, not megabytes
            self._drop_pending()
            r.ca_cookie = ""
            return None, CA_REJECTED, "the CA helper %s; its answer is refused" % err
        if code == 0:
            try:
                issued = crypto.load_certificates(out.strip())
            except CertError:
                return None, CA_REJECTED, "the CA helper exited 0 but printed no certificate: %r" % said[:120]
            problem, status = self._answer_problem(issued[0], issued[1:], key, subject, sans)
            if problem:
                self._drop_pending()
                r.ca_cookie = ""
                return None, status, problem
            return issued[0], MONITORING, ""
        if code in (1, 5):
            # 1: the cookie on stdout; 5: a delay in seconds, then (optionally) a new cookie
            lines = out.strip().splitlines()
            cookie = lines[0] if code == 1 and lines else lines[1] if code == 5 and len(lines) > 1 else ""
            r.ca_cookie = cookie or r.ca_cookie or "submitted"
            self._keep_pending(key)
            return None, CA_WORKING, "the CA asked to wait; polled on the next tick"
        if code is None or code == 3:  # an outstanding request (cookie, pending key) is kept for the next poll
            return (
                None,
                CA_UNREACHABLE,
                "the CA could not be reached (%s); retried on the next tick" % (said or "exit 3"),
            )
        self._drop_pending()
        r.ca_cookie = ""
        if code == 2:
            return None, CA_REJECTED, "the CA rejected the request: %s" % said
        if code in (4, 6):
            return None, CA_UNCONFIGURED, "the CA helper is not configured for this (exit %d): %s" % (code, said)
        return None, CA_UNCONFIGURED, "the CA helper exited %d, which the protocol does not define: %s" % (code, said)

    def _answer_problem(self, cert, sent_along, key, subject, sans):
        """(problem, status) of a CA helper's certificate, or (None, None) when it is what was asked for:
        the request's key, subject and SANs, the profile's key usages, in force now (give or take
        CLOCK_SKEW), and issued by the configured CA (ca_cert_path, chain_path) when one is configured.
        A helper speaks for a CA root does not control; what it answers is checked like any input."""
        r = self.request

        def refused(reason):
            return "the CA helper's certificate is refused (nothing saved): %s" % reason, CA_REJECTED

        if not crypto.same_public_key(cert.public_key(), key):
            return refused("it certifies another key, not the one of this request")
        if cert.subject != subject:
            return refused(
                "its subject is %r, the request's is %r" % (cert.subject.rfc4514_string(), subject.rfc4514_string())
            )
        asked = sorted(_name_text(n) for n in sans)
        got = sorted(_name_text(n) for n in crypto.subject_alt_names_of(cert))
        common_name = (crypto.common_name_of(cert) or "").lower()
        if got != asked and not (not asked and got == ["DNS:" + common_name]):  # a CA may add the CN as its SAN
            return refused(
                "its subject alternative names are [%s], the request's [%s]" % (", ".join(got), ", ".join(asked))
            )
        if cert.not_valid_before_utc > self.now + CLOCK_SKEW:
            return refused(
                "it is valid only from %s, later than now (%s) by more than the %d minutes allowed for clock skew"
                % (cert.not_valid_before_utc.isoformat(), self.now.isoformat(), CLOCK_SKEW.seconds // 60)
            )
        required, allowed = PROFILE_EKUS[r.profile]
        problem = crypto.usage_problem(cert, required, allowed)
        if problem:
            return refused("%s (profile %s)" % (problem, r.profile))
        anchors = []
        for option, path in (("ca_cert_path", r.ca_cert_path), ("chain_path", r.chain_path)):
            if not path:
                continue
            state = read_state(path)
            if state.data is None or state.error:
                return "%s %s cannot be read: %s" % (option, path, state.error or "missing"), CA_UNCONFIGURED
            try:
                anchors += crypto.load_certificates(state.data)
            except CertError:
                return "%s %s holds no certificate" % (option, path), CA_UNCONFIGURED
        if anchors:
            problem = crypto.chain_problem(cert, sent_along, anchors, self.now)
            if problem:
                return refused(problem)
        return None, None

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
        if not self.request.post_save_command:
            return None
        code, out, err = self.runner(self.request.post_save_command)
        if code == 0:
            return None
        return "%s: %s" % ("stopped" if code is None else "exit %d" % code, (err or out)[:300])

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
            chain = (crypto.load_certificate(chain_state.data),)
        states = {o.path: read_state(o.path) for o in outputs}
        key_attributes = resolve_attributes(r.key_owner, r.key_group, r.key_mode, "key")
        changes += plan_outputs(outputs, key, cert, chain, key_attributes, states, os.path.basename(r.key_path))
        return Plan(changes)

    def _finish(self, action: str, status: str, error: str, message: str = "") -> Outcome:
        self.request.status = status
        self.request.last_error = error
        return Outcome(self.request.id, action, status, message or error)


def _name_text(name) -> str:
    """A SAN as text, DNS names in lower case (as requests keep them; DNS compares without case)."""
    text = crypto.general_name_text(name)
    return "DNS:" + name.value.lower() if isinstance(name, x509.DNSName) else text


def load_local_ca(cert_path: str, key_path: str, now):
    cert_state, key_state = read_state(cert_path), read_state(key_path)
    for state, what in ((cert_state, "CA certificate"), (key_state, "CA key")):
        if state.data is None or state.error:
            raise CertError("%s %s cannot be read: %s" % (what, state.path, state.error or "missing"))
    ca_cert, ca_key = crypto.load_certificate(cert_state.data), crypto.load_private_key(key_state.data)
    crypto.check_ca(ca_cert, ca_key, "CA certificate %s" % cert_path)
    if not crypto.same_public_key(ca_key, ca_cert.public_key()):
        raise CertError("CA key %s does not belong to CA certificate %s" % (key_path, cert_path))
    if ca_cert.not_valid_after_utc <= now:
        raise CertError(
            "CA certificate %s expired on %s; renew the CA first" % (cert_path, ca_cert.not_valid_after_utc)
        )
    return ca_key, ca_cert


def _status_of(request) -> tuple:
    return tuple(getattr(request, name) for name in STATUS_FIELDS)


def renew_all(store, requests: list, force: bool = False, now=None, runner=run_command) -> list:
    """Renew each request that is due (all of them with ``force``), saving each status. Call under the lock."""
    outcomes = []
    for request in requests:
        if isinstance(request, UnreadableRecord):
            outcomes.append(Outcome(request.id, "failed", NEED_GUIDANCE, request.error))
            continue
        before = _status_of(request)  # a renewal changes the status fields only; comparing them is cheap
        outcomes.append(Renewal(request, store.directory, now, runner).run(force=force))
        if _status_of(request) != before:
            store.save(request)
    return outcomes
