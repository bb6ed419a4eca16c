# -*- coding: utf-8 -*-
# Copyright (c) certkeeper.pki contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The fleet report, built on the controller from what each host's cert_report_info returned: one document (the
schema of certkeeper-report.json, docs/cert_report.md), its summary, and the gate. Standard library only: the
controller loads this in every worker, and never needs cryptography for it."""

from __future__ import annotations

import datetime

SCHEMA = "certkeeper-report/1"


def fleet_document(results: dict, unreachable: list, now: datetime.datetime) -> dict:
    """``results``: {host: cert_report_info's result}; ``unreachable``: hosts the play lost. Rows sorted by expiry
    (rows without a certificate last), each with its host and its state at ``now``."""
    certificates, crls = [], []
    for host in sorted(results):
        last_check = results[host].get("last_check", "")
        certificates += [
            dict(_certificate_row(host, row, now), last_check=last_check)
            for row in results[host].get("certificates", [])
        ]
        crls += [
            dict(_crl_row(host, dict(row, **entry), now), last_check=last_check)
            for row in results[host].get("crls", [])
            for entry in row.get("crls") or [{}]  # a row per CA's CRL: two while a CA key rolls over
        ]
    certificates.sort(key=lambda row: (row["not_after"] or "9999", row["host"], row["path"]))
    crls.sort(key=lambda row: (row["next_update"] or "9999", row["host"], row["path"]))
    return {
        "schema": SCHEMA,
        "generated_at": now.isoformat(),
        "hosts": sorted(results),
        "unreachable": sorted(unreachable),
        "summary": _summary(certificates, crls, sorted(unreachable)),
        "certificates": certificates,
        "crls": crls,
    }


def _moment(iso: str) -> datetime.datetime | None:
    return datetime.datetime.fromisoformat(iso) if iso else None


def _state(unreadable: bool, stuck: bool, expires, in_window: bool, now) -> str:
    """A row's state at ``now``, the worst first: stuck (a person must act), error (nothing to read), expired,
    renewal window, ok."""
    if stuck:
        return "stuck"
    if unreadable:
        return "error"
    if expires is not None and expires <= now:
        return "expired"
    return "renewal window" if in_window else "ok"


def _days_left(moment, now) -> float | None:
    return None if moment is None else round((moment - now).total_seconds() / 86400, 1)


def _certificate_row(host: str, row: dict, now) -> dict:
    facts = row.get("certificate") or {}
    not_after, renew_at = _moment(facts.get("not_after", "")), _moment(row.get("renew_at", ""))
    in_window = renew_at is not None and renew_at <= now
    state = _state(bool(row.get("error")), bool(row.get("stuck")), not_after, in_window, now)
    return dict(
        host=host,
        source=row["source"],
        path=row["path"],
        id=row.get("id", ""),
        status=row.get("status") or ("" if row["source"] == "tracked" else "UNTRACKED"),
        stuck=bool(row.get("stuck")),
        state=state,
        ca=row.get("ca") or row["source"],
        subject=facts.get("subject", ""),
        issuer=facts.get("issuer", ""),
        serial_number=facts.get("serial_number", ""),
        subject_alt_names=facts.get("subject_alt_names", []),
        not_before=facts.get("not_before", ""),
        not_after=facts.get("not_after", ""),
        renew_at=row.get("renew_at", ""),
        days_left=_days_left(not_after, now),
        last_attempt=row.get("last_attempt", ""),
        last_renewed=row.get("last_renewed", ""),
        last_error=row.get("last_error", ""),
        outputs=row.get("outputs", []),
        error=row.get("error", ""),
    )


def _crl_row(host: str, row: dict, now) -> dict:
    next_update = _moment(row.get("next_update", ""))
    state = _state(next_update is None, bool(row.get("stuck")), next_update, row.get("status") == "NEED_CA", now)
    return dict(
        host=host,
        path=row["crl_location"],
        id=row["request_id"],
        status=row["status"],
        state=state,
        ca=row["ca"],
        issuer=row.get("issuer", ""),
        crl_number=row.get("crl_number"),
        revoked=row.get("revoked"),
        last_update=row.get("last_update", ""),
        next_update=row.get("next_update", ""),
        days_left=_days_left(next_update, now),
        last_error=row.get("last_error", ""),
    )


def _summary(certificates: list, crls: list, unreachable: list) -> dict:
    states: dict = {}
    for row in certificates:
        states[row["state"]] = states.get(row["state"], 0) + 1
    issuers: dict = {}
    for row in certificates:
        if row["issuer"]:
            issuers[row["issuer"]] = issuers.get(row["issuer"], 0) + 1
    dated = [row for row in certificates if row["not_after"]]
    crl_dated = [row for row in crls if row["next_update"]]
    return {
        "certificates": len(certificates),
        "crls": len(crls),
        "states": states,
        "stuck": sum(1 for row in certificates + crls if row["state"] == "stuck"),
        "expired": states.get("expired", 0),
        "in_renewal_window": states.get("renewal window", 0),
        "errors": states.get("error", 0),
        "issuers": issuers,
        "soonest": _brief(dated[0]) if dated else None,
        "soonest_crl": _brief(crl_dated[0], "next_update") if crl_dated else None,
        "unreachable": len(unreachable),
    }


def _brief(row: dict, moment: str = "not_after") -> dict:
    return {"host": row["host"], "path": row["path"], moment: row[moment], "days_left": row["days_left"]}


def gate_problems(document: dict, within_days: int) -> list:
    """What fails the gate (cert_report_fail_within_days): every certificate or CRL that expires within
    ``within_days`` days (or has expired), and every stuck one, as one line each."""
    problems = []
    for row in document["certificates"] + document["crls"]:
        what = "%s %s" % (row["host"], row["path"])
        if row["state"] == "stuck":
            problems.append("%s is stuck (%s): %s" % (what, row["status"], row["last_error"]))
        elif row["days_left"] is not None and row["days_left"] < within_days:
            moment = row.get("not_after") or row.get("next_update")
            problems.append("%s expires %s (%.1f days)" % (what, moment, row["days_left"]))
    return problems
