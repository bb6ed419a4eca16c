# -*- coding: utf-8 -*-
# Copyright (c) certkeeper.pki contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The tracking store as Prometheus metrics, in the text format node_exporter's textfile collector reads.

Names and labels follow Prometheus' conventions and the exporters users already alert on (x509-certificate-exporter's
``x509_cert_not_after``, cert-manager's ``..._expiration_timestamp_seconds``, certmonger-exporter's ``..._stuck``):
moments are absolute Unix timestamps in seconds (``..._timestamp_seconds``), a status is a gauge labelled with each
status name (1 for the current one), and every series of a request carries its ``id``."""

from __future__ import annotations

import datetime

from .request import STATUSES

# Each metric and its help line, in the order the file lists them.
METRICS = {
    "certkeeper_certificate_not_after_timestamp_seconds": "When the tracked certificate expires (notAfter).",
    "certkeeper_certificate_not_before_timestamp_seconds": "When the tracked certificate became valid (notBefore).",
    "certkeeper_certificate_renew_at_timestamp_seconds": "When the tracked certificate enters its renewal window.",
    "certkeeper_request_status": "The status of a tracked request: 1 for its current status, 0 for the others.",
    "certkeeper_request_stuck": "1 when a tracked request needs a person (certmonger's stuck), else 0.",
    "certkeeper_request_last_renewed_timestamp_seconds": "When certkeeper last saved a certificate for the request.",
    "certkeeper_crl_next_update_timestamp_seconds": "When the CRL the host serves lapses (nextUpdate).",
    "certkeeper_crl_last_update_timestamp_seconds": "When the CRL the host serves was signed (thisUpdate).",
    "certkeeper_crl_status": "The status of a tracked CRL: 1 for its current status, 0 for the others.",
    "certkeeper_last_check_timestamp_seconds": "When the certkeeper timer last went through the store (renew --all).",
}


def prometheus_text(items: list, last_check: str) -> str:
    """The metrics of ``items`` (``certkeeper list --json``'s entries); ``last_check``: the store's last renew --all
    (ISO 8601; "" when there was none, and then no last-check metric)."""
    samples: dict = {name: [] for name in METRICS}
    for item in items:
        if item["kind"] == "crl":
            _crl_samples(samples, item)
        else:
            _request_samples(samples, item)
    if last_check:
        samples["certkeeper_last_check_timestamp_seconds"].append(({}, _seconds(last_check)))
    lines = []
    for name, rows in samples.items():
        if not rows:
            continue
        lines += ["# HELP %s %s" % (name, METRICS[name]), "# TYPE %s gauge" % name]
        lines += ["%s%s %s" % (name, _labels(labels), _number(value)) for labels, value in rows]
    return "\n".join(lines) + "\n"


def _request_samples(samples: dict, item: dict) -> None:
    request = {"id": item["request_id"]}
    certificate = item.get("certificate")
    if certificate:
        labels = dict(
            request,
            path=item["cert_location"],
            subject=certificate["subject"],
            issuer=certificate["issuer"],
            serial=certificate["serial_number"],
            ca=item["ca"],
        )
        moments = {"not_after": certificate["not_after"], "not_before": certificate["not_before"]}
        moments["renew_at"] = item["renew_at"]
        for name, moment in moments.items():
            samples["certkeeper_certificate_%s_timestamp_seconds" % name].append((labels, _seconds(moment)))
    _status_samples(samples["certkeeper_request_status"], request, item["status"])
    samples["certkeeper_request_stuck"].append((request, 1 if item["stuck"] else 0))
    if item.get("last_renewed"):
        samples["certkeeper_request_last_renewed_timestamp_seconds"].append((request, _seconds(item["last_renewed"])))


def _crl_samples(samples: dict, item: dict) -> None:
    crl = {"id": item["request_id"]}
    for entry in item.get("crls") or []:  # one per trusted CA (two while a CA key rolls over): labels differ by issuer
        if entry.get("next_update"):
            labels = dict(crl, path=item["crl_location"], issuer=entry["issuer"])
            samples["certkeeper_crl_next_update_timestamp_seconds"].append((labels, _seconds(entry["next_update"])))
            samples["certkeeper_crl_last_update_timestamp_seconds"].append((labels, _seconds(entry["last_update"])))
    _status_samples(samples["certkeeper_crl_status"], crl, item["status"])


def _status_samples(rows: list, labels: dict, status: str) -> None:
    for name in STATUSES + (() if status in STATUSES else (status,)):
        rows.append((dict(labels, status=name), 1 if name == status else 0))


def _seconds(iso: str) -> float:
    return datetime.datetime.fromisoformat(iso).timestamp()


def _number(value) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _labels(labels: dict) -> str:
    if not labels:
        return ""
    return "{%s}" % ",".join('%s="%s"' % (key, _escape(str(value))) for key, value in labels.items())


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')
