# -*- coding: utf-8 -*-
# Copyright (c) certkeeper.pki contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""certmonger's verbs on the tracking store, shared by the ``certkeeper`` command and the modules:
request / start-tracking, stop-tracking, resubmit, renew, list."""

from __future__ import annotations

import json

from .crypto import CertError
from .files import read_state
from .renewal import Renewal, renew_all, run_command
from .tracking import Store, TrackedRequest, describe_request


def _shown(request: TrackedRequest | None) -> str:
    if request is None:
        return "not tracked\n"
    settings = request.settings()
    settings["outputs"] = [o.public() for o in request.output_list()]
    return json.dumps(settings, indent=2, sort_keys=True) + "\n"


def track(store: Store, desired: TrackedRequest, check_mode: bool, runner=run_command) -> dict:
    """Start tracking (or update) ``desired``; request its certificate when the file does not exist yet."""
    desired.validate()
    with store.lock():
        existing = store.load(desired.id)
        changes, outcome = [], None
        if existing is not None:  # the status belongs to the store, not to the caller
            for name in ("status", "last_error", "last_attempt", "last_renewed", "ca_cookie"):
                setattr(desired, name, getattr(existing, name))
        if existing is None or existing.settings() != desired.settings():
            before, after = existing.settings() if existing else {}, desired.settings()
            changed_fields = sorted(k for k in after if before.get(k) != after[k]) if existing else []
            reason = "update %s" % ", ".join(changed_fields) if existing else "start tracking"
            changes.append({"path": store.path(desired.id), "action": "write", "reason": reason,
                            "diff": {"before_header": store.path(desired.id), "after_header": store.path(desired.id),
                                     "before": _shown(existing), "after": _shown(desired)}})
        cert = read_state(desired.cert_path)
        if cert.data is None and not cert.error:
            changes.append({"path": desired.cert_path, "action": "request certificate",
                            "reason": "missing: request it through ca %s" % desired.ca,
                            "diff": {"before_header": desired.cert_path, "after_header": desired.cert_path,
                                     "before": "absent\n", "after": "certificate from ca %s\n" % desired.ca}})
            if not check_mode:
                outcome = Renewal(desired, store.directory, runner=runner).run(first_issue=True)
        if changes and not check_mode:
            store.save(desired)
    return _result(changes, desired, outcome)


def untrack(store: Store, request_id: str, check_mode: bool) -> dict:
    """Stop tracking; the certificate and key files stay."""
    with store.lock():
        existing = store.load(request_id)
        changes = []
        if existing is not None:
            changes.append({"path": store.path(request_id), "action": "remove", "reason": "stop tracking (files stay)",
                            "diff": {"before_header": store.path(request_id), "after_header": store.path(request_id),
                                     "before": _shown(existing), "after": "not tracked\n"}})
            if not check_mode:
                store.remove(request_id)
    return _result(changes, None, None)


def resubmit(store: Store, request_id: str, check_mode: bool, runner=run_command) -> dict:
    """Renew now, applying changed names; what ``getcert resubmit`` does."""
    with store.lock():
        request = _require(store, request_id)
        change = {"path": request.cert_path, "action": "renew", "reason": "resubmit",
                  "diff": {"before_header": request.cert_path, "after_header": request.cert_path,
                           "before": "current certificate\n", "after": "renewed through ca %s\n" % request.ca}}
        outcome = None
        if not check_mode:
            outcome = renew_all(store, [request], force=True, runner=runner)[0]
    return _result([change], request, outcome)


def renew(store: Store, request_id: str | None = None, runner=run_command, now=None) -> list:
    """Renew what is due: one request, or all of them (what the timer runs)."""
    with store.lock():
        requests = [_require(store, request_id)] if request_id else store.all()
        return renew_all(store, requests, runner=runner, now=now)


def listing(store: Store, request_id: str | None = None) -> list:
    requests = [_require(store, request_id)] if request_id else store.all()
    return [describe_request(r) for r in requests]


def _require(store: Store, request_id: str) -> TrackedRequest:
    request = store.load(request_id)
    if request is None:
        raise CertError("no tracked request with id %r (certkeeper list shows the tracked ones)" % request_id)
    return request


def _result(changes: list, request: TrackedRequest | None, outcome) -> dict:
    result = {"changed": bool(changes), "changes": [{k: c[k] for k in ("path", "action", "reason")} for c in changes],
              "diff": [c["diff"] for c in changes], "warnings": []}
    if request is not None:
        result["request"] = describe_request(request)
    if outcome is not None:
        result["outcome"] = outcome.as_dict()
        if outcome.action == "failed":
            result["warnings"].append("%s: %s" % (outcome.status, outcome.message))
    return result


