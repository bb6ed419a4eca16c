# -*- coding: utf-8 -*-
# Copyright (c) certkeeper.pki contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A tracked request as listings show it: what ``certkeeper list`` (text and --json), cert_track_info
and the cert_track module's result show, read from the record and the certificate on disk."""

from __future__ import annotations

import datetime

from .._core import crypto
from .._core.crypto import CertError
from .._core.facts import certificate_facts
from .._core.files import read_state
from .._core.policy import due_at
from .request import NEED_GUIDANCE, TrackedRequest, UnreadableRecord

_EKU_NAMES = {
    "serverAuth": "id-kp-serverAuth",
    "clientAuth": "id-kp-clientAuth",
    "codeSigning": "id-kp-codeSigning",
    "emailProtection": "id-kp-emailProtection",
    "timeStamping": "id-kp-timeStamping",
    "OCSPSigning": "id-kp-OCSPSigning",
}


_YES_NO = {True: "yes", False: "no"}


def record_listing(record, kind: str, ca: str) -> dict:
    """The fields every entry of a listing has, a certificate's request or a CRL: ``kind`` tells them apart."""
    return {
        "kind": kind,
        "request_id": record.id,
        "status": record.status,
        "stuck": record.stuck,
        "ca": ca,
        "post_save_command": record.post_save_command,
        "last_error": record.last_error,
        "last_attempt": record.last_attempt,
        "last_renewed": record.last_renewed,
    }


def describe_request(request) -> dict:
    """One request as listings show it: the fields of ``getcert list``, read from the record, ``certificate``: the
    facts of the certificate on disk (None when there is none to read), and ``renew_at``: when it becomes due."""
    if isinstance(request, UnreadableRecord):
        request = TrackedRequest(request.id, "", "", status=NEED_GUIDANCE, last_error=request.error)
    listing = dict(
        record_listing(request, "certificate", request.ca),
        ca_name=request.scep_ca,  # the CA configuration it names (ca scep), as getcert list names the CA
        key_location=request.key_path,
        cert_location=request.cert_path,
        issuer="",
        subject="",
        expires="",
        renew_at="",
        dns=[],
        ip=[],
        key_usage=[],
        eku=[],
        pre_save_command=request.pre_save_command,
        track=True,
        auto_renew=request.auto_renew,
        outputs=[o.public() for o in request.output_list()],
        certificate=None,
    )
    cert = _certificate(request.cert_path)
    if cert is not None:  # getcert's fields, read from the facts
        listing["certificate"] = facts = certificate_facts(cert)
        sans = facts["subject_alt_names"]
        listing.update(
            issuer=facts["issuer"],
            subject=facts["subject"],
            expires=facts["not_after"],
            renew_at=due_at(cert, request.renew_before, request.renew_fraction).isoformat(),
            serial_number=facts["serial_number"],
            dns=[name[4:] for name in sans if name.startswith("DNS:")],
            ip=[name[3:] for name in sans if name.startswith("IP:")],
            key_usage=facts["key_usage"],
            eku=[_EKU_NAMES.get(name, name) for name in facts["extended_key_usage"]],
        )
    return listing


def _certificate(path: str):
    """The certificate in ``path``, or None when there is none to read."""
    state = read_state(path)
    if not state.data:
        return None
    try:
        return crypto.load_certificate(state.data)
    except CertError:
        return None


def format_listing(listings: list) -> str:
    """``getcert list``'s layout, then the tracked CRLs in the same manner."""
    certificates = [item for item in listings if item["kind"] == "certificate"]
    crls = [item for item in listings if item["kind"] == "crl"]
    lines = ["Number of certificates and requests being tracked: %d." % len(certificates)]
    for item in certificates:
        lines += [
            "Request ID '%s':" % item["request_id"],
            "\tstatus: %s" % item["status"],
            "\tstuck: %s" % _YES_NO[item["stuck"]],
        ]
        if item["last_error"]:
            lines.append("\tca-error: %s" % item["last_error"])
        lines += [
            "\tkey pair storage: type=FILE,location='%s'" % item["key_location"],
            "\tcertificate: type=FILE,location='%s'" % item["cert_location"],
            "\tCA: %s" % ("%s (%s)" % (item["ca"], item["ca_name"]) if item.get("ca_name") else item["ca"]),
            "\tissuer: %s" % item["issuer"],
            "\tsubject: %s" % item["subject"],
            "\texpires: %s" % _getcert_time(item["expires"]),
            "\tdns: %s" % ",".join(item["dns"]),
            "\tip: %s" % ",".join(item["ip"]),
            "\tkey usage: %s" % ",".join(item["key_usage"]),
            "\teku: %s" % ",".join(item["eku"]),
            "\tpre-save command: %s" % item["pre_save_command"],
            "\tpost-save command: %s" % item["post_save_command"],
        ]
        lines += ["\toutput: %s (%s)" % (o["path"], o["format"]) for o in item["outputs"]]
        lines += ["\ttrack: %s" % _YES_NO[item["track"]], "\tauto-renew: %s" % _YES_NO[item["auto_renew"]]]
    if crls:
        lines.append("Number of CRLs being tracked: %d." % len(crls))
    for item in crls:
        lines += _crl_lines(item)
    return "\n".join(lines) + "\n"


def _crl_lines(item: dict) -> list:
    lines = [
        "CRL ID '%s':" % item["request_id"],
        "\tstatus: %s" % item["status"],
        "\tstuck: %s" % _YES_NO[item["stuck"]],
    ]
    if item["last_error"]:
        lines.append("\tca-error: %s" % item["last_error"])
    signer = "re-signed on this host" if item["ca"] == "local" else "signed on the CA host, installed by playbook runs"
    lines += ["\tCRL: type=FILE,location='%s'" % item["crl_location"], "\tCA: %s (%s)" % (item["ca"], signer)]
    entries = item.get("crls") or [item]
    if len(entries) > 1:  # one CRL per trusted CA while a CA key rolls over
        lines.append("\tCRLs: %d" % len(entries))
    for entry in entries:
        lines += [
            "\tissuer: %s" % entry["issuer"],
            "\tCRL number: %s" % ("" if entry["crl_number"] is None else entry["crl_number"]),
            "\trevoked: %s" % ("" if entry["revoked"] is None else entry["revoked"]),
            "\tthis update: %s" % _getcert_time(entry["last_update"]),
            "\tnext update: %s" % _getcert_time(entry["next_update"]),
        ]
    return lines + ["\tpost-save command: %s" % item["post_save_command"]]


def _getcert_time(iso: str) -> str:
    """An ISO 8601 moment as getcert prints it (2027-01-31 12:00:00 UTC)."""
    return datetime.datetime.fromisoformat(iso).strftime("%Y-%m-%d %H:%M:%S UTC") if iso else ""
