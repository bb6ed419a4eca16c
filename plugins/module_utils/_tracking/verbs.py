# -*- coding: utf-8 -*-
# Copyright (c) certkeeper.pki contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""certmonger's verbs on the tracking store, shared by the ``certkeeper`` command and the modules:
request / start-tracking, stop-tracking, resubmit, renew, list."""

from __future__ import annotations

import shlex
from dataclasses import asdict

from .._ca.registry import issuer_for
from .._ca.scep import MissingConfiguration, ScepCAConfig, fetch_config
from .._core import crypto
from .._core.commands import run_command
from .._core.crypto import CertError
from .._core.files import Attributes, Change, Plan, apply_plan, check_absolute_path, read_state
from .certmonger import certmonger_adoptions
from .crl import TrackedCRL, check_crls, describe_crl
from .listing import describe_request
from .metrics import prometheus_text
from .renewal import Renewal, renew_all
from .request import TrackedRequest, UnreadableRecord, shown
from .store import Store


def names_from_certificate(desired: TrackedRequest) -> None:
    """start-tracking without names: take them from the certificate now, as root, once. A renewal
    never reads names from disk, where the service that owns the files could have put others."""
    if desired.subject:
        return
    state = read_state(desired.cert_path)
    if state.data is None or state.error:
        raise CertError("subject is required to request %s (it does not exist yet)" % desired.cert_path)
    cert = crypto.load_certificate(state.data)
    desired.subject = cert.subject.rfc4514_string()
    if not desired.subject_alt_names:
        desired.subject_alt_names = [crypto.general_name_text(n) for n in crypto.subject_alt_names_of(cert)]


def track(store: Store, desired: TrackedRequest, check_mode: bool, runner=run_command) -> dict:
    """Start tracking (or update) ``desired``; request its certificate when the file does not exist yet."""
    names_from_certificate(desired)
    unchecked = ""
    try:
        issuer_for(desired, store=store).preflight()
    except MissingConfiguration as exc:  # a CA configuration an earlier task of the play adds
        if not check_mode:
            raise
        unchecked = "%s (check mode: a task before this one may still add it)" % exc
    with store.lock(create=not check_mode):
        plan = Plan(store.directory_changes())
        record = store.record_change(desired)
        if record:
            plan.changes.append(record)
        cert = read_state(desired.cert_path)
        outcome = None
        if cert.data is None and not cert.error:
            plan.changes.append(
                Change(
                    desired.cert_path,
                    "missing: request it through ca %s" % desired.ca,
                    Attributes(0o644, 0, 0),
                    before="absent\n",
                    after="certificate from ca %s\n" % desired.ca,
                    pending=True,
                )
            )
            if not check_mode:
                outcome = Renewal(desired, store.directory, runner=runner).run(first_issue=True)
        if record or outcome:
            plan.changes = [c for c in plan.changes if not c.directory]  # store.save makes the directories
            if not check_mode:
                store.save(desired)  # with the status the request (if any) left
        else:
            plan.changes = []
    if outcome is not None and outcome.action == "failed":
        raise CertError(
            "requesting %s failed with %s: %s (the request stays tracked and is retried)"
            % (desired.cert_path, outcome.status, outcome.message)
        )
    if unchecked:
        plan.warnings.append(unchecked)
    return _result(plan, desired, outcome)


def untrack(store: Store, request_id: str, check_mode: bool) -> dict:
    """Stop tracking; the certificate and key files stay."""
    with store.lock(create=False):
        existing = store.load(request_id)
        plan = Plan()
        if existing is not None:
            plan.changes += store.remove_changes(request_id, shown(existing))
            if not check_mode:
                apply_plan(plan)
    return _result(plan, None, None)


def resubmit(store: Store, request_id: str, check_mode: bool, runner=run_command) -> dict:
    """Renew now, applying changed names; what ``getcert resubmit`` does."""
    with store.lock(create=not check_mode):
        request = _require(store, request_id)
        plan = Plan(
            [
                Change(
                    request.cert_path,
                    "resubmit",
                    Attributes(0o644, 0, 0),
                    before="current certificate\n",
                    after="renewed through ca %s\n" % request.ca,
                    pending=True,
                )
            ]
        )
        outcome = None if check_mode else renew_all(store, [request], force=True, runner=runner)[0]
    return _result(plan, request, outcome)


def renew(store: Store, request_id: str | None = None, runner=run_command, now=None) -> list:
    """Renew what is due and keep the CRLs from lapsing: one record, or all of them (what the timer runs)."""
    with store.lock(create=False):
        if request_id:
            record = _require(store, request_id, crls=True)
            if isinstance(record, TrackedCRL):
                return check_crls(store, [record], now, runner)
            return renew_all(store, [record], runner=runner, now=now)
        now = now or crypto.now_utc()
        outcomes = renew_all(store, store.all(), runner=runner, now=now)
        outcomes += check_crls(store, store.all(TrackedCRL), now, runner)
        store.note_check(now)
        return outcomes


def listing(store: Store, request_id: str | None = None) -> list:
    """The tracked requests as listings show them (``kind: certificate``), then the tracked CRLs (``kind: crl``)."""
    if request_id:
        record = _require(store, request_id, crls=True)
        return [describe_crl(record) if isinstance(record, TrackedCRL) else describe_request(record)]
    return [describe_request(r) for r in store.all()] + [describe_crl(c) for c in store.all(TrackedCRL)]


def report_prometheus(store: Store, path: str) -> None:
    """Write what the store tracks as a node_exporter textfile at ``path``, atomically (a temp file in its directory,
    then a rename), readable by all: node_exporter's textfile collector reads ``*.prom`` files only."""
    check_absolute_path(path, "--prometheus")
    if not path.endswith(".prom"):
        raise CertError("--prometheus %s: node_exporter's textfile collector reads only files named *.prom" % path)
    text = prometheus_text(listing(store), store.last_check())
    apply_plan(Plan([Change(path, "metrics", Attributes(0o644, 0, 0), text.encode("utf-8"))]))


def adopt_certmonger(
    store: Store,
    requests_dir: str,
    cas_dir: str,
    ids: list | None = None,
    dry_run: bool = False,
    getcert: str = "getcert",
    runner=run_command,
) -> list:
    """Take over what certmonger tracks (certmonger.py maps each request): each adoptable request is recorded in the
    store, then certmonger stops tracking it (``getcert stop-tracking``; its files stay), so the two never renew one
    certificate; should that fail, the record goes again. Nothing is issued. One dict per request, with ``outcome``:
    adopted, would adopt (``dry_run``), not adopted (``refusal`` says why), failed, or not found."""
    adoptions = certmonger_adoptions(requests_dir, cas_dir, ids)
    results = []
    for adoption in adoptions:
        entry = dict(adoption.as_dict(), outcome="not adopted", message=adoption.refusal)
        if adoption.request is not None:
            if dry_run:
                entry.update(outcome="would adopt", message="")
            else:
                entry["outcome"], entry["message"] = _adopt(store, adoption, getcert, runner)
        results.append(entry)
    for request_id in sorted(set(ids or ()) - {adoption.id for adoption in adoptions}):
        results.append(
            dict(
                id=request_id,
                source="",
                ca_name="",
                adoptable=False,
                refusal="",
                mapping=[],
                outcome="not found",
                message="certmonger tracks no request %r in %s" % (request_id, requests_dir),
            )
        )
    return results


def _adopt(store: Store, adoption, getcert: str, runner) -> tuple:
    """(outcome, message) of adopting one request."""
    request = adoption.request
    with store.lock():
        existing = store.load(request.id)
        if existing is not None and existing.cert_path != request.cert_path:
            return "not adopted", "certkeeper already tracks id %s, for %s" % (request.id, existing.cert_path)
        change = store.record_change(request)
        if change is not None:
            apply_plan(Plan([change]))
    code, out, err = runner("%s stop-tracking -i %s" % (shlex.quote(getcert), shlex.quote(request.id)))
    if code == 0:
        return "adopted", ""
    with store.lock():  # certmonger still tracks it: certkeeper lets go again, so that one of them renews it
        apply_plan(Plan(store.remove_changes(request.id, shown(request))))
    return "failed", "getcert stop-tracking failed (%s); certmonger keeps tracking it" % (
        (err or out).strip()[:300] or "exit %s" % code
    )


def add_scep_ca(
    store: Store,
    config: ScepCAConfig,
    check_mode: bool,
    thumbprint: str = "",
    declared: bool = False,
    fetch=fetch_config,
) -> dict:
    """Add (or update) the SCEP CA configuration ``config`` (name, URL, CA file, renewal challenge). The server's
    capabilities and CA certificates are asked and kept; ``list-cas`` shows their thumbprints to compare, and with a
    ``thumbprint`` (SHA-256) every one of them must be that certificate or issued under it (``pinned_problem``).

    ``declared`` (the cert_track_ca module: a playbook states what should be): a configuration already there for the
    same server is kept without asking it again, and a server whose certificates changed since is refused unless
    ``thumbprint`` names one of the new ones, so no run takes a new CA silently. ``certkeeper add-scep-ca`` run again
    by a person takes what the server sends now, as ``getcert add-scep-ca`` does."""
    with store.lock(create=not check_mode):
        existing = store.load(config.id, ScepCAConfig)
        same_server = existing is not None and (existing.url, existing.ca_file) == (config.url, config.ca_file)
        if declared and same_server and not (thumbprint and existing.pinned_problem(thumbprint)):
            wanted = ScepCAConfig(**dict(asdict(existing), renewal_challenge=config.renewal_challenge))
        else:
            wanted = fetch(config.id, config.url, config.ca_file, config.renewal_challenge)
            problem = thumbprint and wanted.pinned_problem(thumbprint)
            if problem:
                raise CertError("the SCEP server %s: %s; nothing changed" % (config.url, problem))
            if declared and existing is not None and not thumbprint and existing.ca_certs != wanted.ca_certs:
                raise CertError(
                    "the SCEP server %s now sends other CA certificates than when CA %r was added (now: %s); compare "
                    "them with the CA's and give the thumbprint to accept them; nothing changed"
                    % (config.url, config.id, "; ".join(wanted.sha256_thumbprints()))
                )
        plan = Plan()
        if existing != wanted:
            reason = "add SCEP CA" if existing is None else "update SCEP CA"
            before = existing.shown() if existing is not None else "absent\n"
            plan.changes = store.directory_changes(ScepCAConfig)
            plan.changes.append(store.save_change(wanted, reason, before, wanted.shown()))
            if not check_mode:
                store.ensure(ScepCAConfig)
                apply_plan(Plan([c for c in plan.changes if not c.directory]))
    return dict(plan.result(), ca=wanted.describe())


def list_cas(store: Store, name: str | None = None) -> list:
    """The CA configurations, as ``getcert list-cas`` shows them (one, or all)."""
    if name:
        return [_require_ca(store, name).describe()]
    return [
        config.describe() if isinstance(config, ScepCAConfig) else {"name": config.id, "error": config.error}
        for config in store.all(ScepCAConfig)
    ]


def remove_ca(store: Store, name: str, check_mode: bool) -> dict:
    """Remove a CA configuration that no tracked request uses."""
    with store.lock(create=False):
        config = _require_ca(store, name)
        records = store.all()
        unreadable = sorted(r.id for r in records if isinstance(r, UnreadableRecord))
        if unreadable:  # it may use this CA
            raise CertError(
                "CA %r is not removed while tracking records cannot be read (%s)" % (name, ", ".join(unreadable))
            )
        users = sorted(r.id for r in records if r.ca == "scep" and r.scep_ca == name)
        if users:
            raise CertError(
                "CA %r is used by %s; stop tracking them or move them to another CA first" % (name, ", ".join(users))
            )
        plan = Plan([store.record_removal(name, "remove CA", config.shown(), "absent\n", kind=ScepCAConfig)])
        if not check_mode:
            apply_plan(plan)
    return plan.result()


def _require_ca(store: Store, name: str) -> ScepCAConfig:
    config = store.load(name, ScepCAConfig)
    if config is None:
        raise CertError("no CA configuration named %r (certkeeper list-cas shows them)" % name)
    return config


def _require(store: Store, request_id: str, crls: bool = False):
    record = store.load(request_id) or (store.load(request_id, TrackedCRL) if crls else None)
    if record is None:
        raise CertError("no tracked request with id %r (certkeeper list shows the tracked ones)" % request_id)
    return record


def _result(plan: Plan, request: TrackedRequest | None, outcome) -> dict:
    result = plan.result()
    if request is not None:
        result["request"] = describe_request(request)
    if outcome is not None:
        result["outcome"] = outcome.as_dict()
        if outcome.action == "failed":
            result["warnings"].append("%s: %s" % (outcome.status, outcome.message))
    return result
