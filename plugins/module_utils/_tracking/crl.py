# -*- coding: utf-8 -*-
# Copyright (c) certkeeper.pki contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A tracked CRL: the CRL a host serves (PostgreSQL's ssl_crl_file, libpq's sslcrl, or the CA's own), kept from
lapsing by the certkeeper timer. An expired CRL makes PostgreSQL refuse every certificate of its CA.

With the CA on the host (``ca_key_path``) each tick re-signs the CA's CRL when it is due (rollover.refresh_crls,
the same rule as a playbook run; while a CA key rolls over, the CRL of each CA) and installs them where the host
serves them, then runs the post-save command (PostgreSQL reads ssl_crl_file at reload only). Without the CA, a tick reports the CRL as NEED_CA once it enters
its renewal window (the next playbook run brings the CA's new one) and says so louder once it expired."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import ClassVar

from .._ca import revocation, rollover
from .._core import crypto
from .._core.commands import run_command
from .._core.crypto import CertError
from .._core.files import Change, Plan, apply_plan, describe_before, existing_problem, read_state
from .._core.option_specs import DEFAULT_CRL_VALID_DAYS
from .listing import record_listing
from .renewal import Outcome, post_save_failure, tick_each
from .request import (
    MONITORING,
    NEED_CA,
    NEED_GUIDANCE,
    POST_SAVE_FAILED,
    TrackedRecord,
    UnreadableRecord,
    request_id_for,
    validate_id,
)

CRL_STATUS_FIELDS = ("status", "last_error", "last_attempt", "last_renewed")


def crl_id_for(crl_path: str) -> str:
    """The id of the record that tracks the CRL at ``crl_path`` (one per file, as for certificates)."""
    return request_id_for("crl", crl_path)


@dataclass
class TrackedCRL(TrackedRecord):
    """One tracked CRL. Everything but the status fields is what the playbook run that registered it asked for."""

    status_fields: ClassVar[tuple] = CRL_STATUS_FIELDS
    store_dir: ClassVar[str] = "crls"

    id: str
    crl_path: str  # the CRL this host serves
    ca_cert_path: str  # the CA certificate the CRL must verify against
    ca_key_path: str = ""  # the CA's key when the CA is on this host: its index.json and root.crl lie beside it
    valid_days: int = DEFAULT_CRL_VALID_DAYS  # of a CRL signed here
    post_save_command: str = ""  # run after a new CRL is installed at crl_path
    status: str = MONITORING
    last_error: str = ""
    last_attempt: str = ""
    last_renewed: str = ""

    def reset_status(self) -> bool:
        """Back to MONITORING (a playbook run installed a current CRL); False when it was there already."""
        if (self.status, self.last_error) == (MONITORING, ""):
            return False
        self.status, self.last_error = MONITORING, ""
        return True

    def shown(self) -> str:
        return json.dumps(self.settings(), indent=2, sort_keys=True) + "\n"

    def validate(self) -> TrackedCRL:
        validate_id(self.id)
        for option in ("crl_path", "ca_cert_path") + (("ca_key_path",) if self.ca_key_path else ()):
            if not os.path.isabs(getattr(self, option)):
                raise CertError("%s must be an absolute path, got %r" % (option, getattr(self, option)))
        if self.valid_days < 1:
            raise CertError("valid_days of a CRL must be at least 1, got %r" % self.valid_days)
        return self

    @property
    def signed_here(self) -> bool:
        return bool(self.ca_key_path)

    @property
    def ca_crl_path(self) -> str:
        """Where the CA keeps the CRL it signs (only with the CA on this host)."""
        return os.path.join(os.path.dirname(self.ca_key_path), revocation.CRL_NAME)


class CRLCheck:
    """One tick for one tracked CRL; the outcome and status say what it found or did."""

    def __init__(self, record: TrackedCRL, now=None, runner=run_command):
        self.record = record
        self.now = now or crypto.now_utc()
        self.runner = runner

    def run(self) -> Outcome:
        try:
            return self._run()
        except CertError as exc:
            return self._finish("failed", NEED_GUIDANCE, str(exc))

    def _run(self) -> Outcome:
        r = self.record
        if r.signed_here:
            return self._refresh()
        cas = crypto.load_certificates(_required(r.ca_cert_path, "CA certificate"))
        crls = revocation.crls_per_ca(
            _required(r.crl_path, "CRL"), cas, r.crl_path, r.ca_cert_path
        )  # else NEED_GUIDANCE
        due = next((reason for reason in (revocation.crl_due_reason(crl, self.now) for crl in crls) if reason), None)
        if due:
            return self._finish("waiting", NEED_CA, "%s; the next playbook run installs the CA's current CRL" % due)
        return self._finish("not due", MONITORING, "")

    def _refresh(self) -> Outcome:
        """Re-sign the CA's CRL when due, then install it where this host serves it, when that is another file, and
        run the post-save command; one that failed is run again on the next tick (the service still holds the old
        CRL)."""
        r = self.record
        crls, changes = rollover.refresh_crls(os.path.dirname(r.ca_key_path), self.now, r.valid_days)
        installed = self._installed_copy(crls)
        crl = max(crls, key=revocation.crl_number)  # the one signed last
        if installed is not None:
            changes.append(installed)
        if changes:
            r.last_attempt = self.now.isoformat()
            apply_plan(Plan(changes))
        signed = any(change.data is not None and change.path == r.ca_crl_path for change in changes)
        retry = r.status == POST_SAVE_FAILED
        if installed is None and not signed and not retry:
            return self._finish("not due", MONITORING, "")
        if installed is not None or signed:
            r.last_renewed = self.now.isoformat()
        failure = post_save_failure(r.post_save_command, self.runner) if installed is not None or retry else None
        if failure:
            return self._finish(
                "failed" if retry and installed is None else "renewed",
                POST_SAVE_FAILED,
                "saved, but the post-save command failed (%s)" % failure,
            )
        message = "CRL number %d, next update %s%s" % (
            revocation.crl_number(crl),
            revocation.crl_next_update(crl),
            ", installed at %s" % r.crl_path if installed is not None else "",
        )
        return self._finish("renewed", MONITORING, "", message)

    def _installed_copy(self, crls: list) -> Change | None:
        """root.crl where this host serves it (every CA's CRL, as a playbook run writes it), when it is not the CA's own
        file and its bytes differ."""
        r = self.record
        if r.crl_path == r.ca_crl_path:
            return None
        state, data = read_state(r.crl_path), b"".join(revocation.crl_pem(crl) for crl in crls)
        if state.data == data and not existing_problem(state):
            return None
        return Change(
            r.crl_path,
            "the CA's current CRL",
            revocation.CRL_ATTRIBUTES,
            data,
            before=describe_before(state, "CRL"),
            after="".join(revocation.crl_line(crl, revocation.CRL_ATTRIBUTES) for crl in crls),
        )

    def _finish(self, action: str, status: str, error: str, message: str = ""):
        self.record.status, self.record.last_error = status, error
        return Outcome(self.record.id, action, status, message or error)


def _required(path: str, what: str) -> bytes:
    state = read_state(path)
    if state.data is None or state.error or state.is_directory:
        raise CertError(
            "tracked %s %s is %s" % (what, path, state.error or ("a directory" if state.is_directory else "missing"))
        )
    return state.data


def describe_crl(record) -> dict:
    """One tracked CRL as ``certkeeper list`` shows it: the record's fields and what the CRL on disk says."""
    if isinstance(record, UnreadableRecord):
        record = TrackedCRL(record.id, "", "", status=NEED_GUIDANCE, last_error=record.error)
    listing = dict(
        record_listing(record, "crl", "local" if record.signed_here else "ansible"),
        crl_location=record.crl_path,
        ca_certificate=record.ca_cert_path,
        issuer="",
        crl_number=None,
        revoked=None,
        last_update="",
        next_update="",
        crls=[],
    )
    state = read_state(record.crl_path)
    try:
        crls = revocation.load_crls(state.data or b"")
    except CertError:
        return listing
    entries = [
        dict(
            issuer=crl.issuer.rfc4514_string(),
            crl_number=revocation.crl_number(crl),
            revoked=len(crl),
            last_update=crl.last_update_utc.isoformat(),
            next_update=revocation.crl_next_update(crl),
        )
        for crl in crls
    ]
    # the CRL that lapses first speaks for the file; each CA's own (two while a CA key rolls over) in crls
    listing.update(min(entries, key=lambda entry: entry["next_update"] or "9999"), crls=entries)
    return listing


def check_crls(store, records: list, now=None, runner=run_command) -> list:
    """One tick for each tracked CRL, saving each status that changed. Call under the store's lock."""
    return tick_each(store, records, lambda record: CRLCheck(record, now, runner).run())
