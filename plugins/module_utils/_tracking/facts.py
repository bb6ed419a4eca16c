# -*- coding: utf-8 -*-
# Copyright (c) certkeeper.pki contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A tracked certificate's facts, in one shape: what ``certkeeper list`` (text and --json), cert_track_info
and the cert_track module's result show, read from the record and the certificate on disk."""

from __future__ import annotations

from .._core import crypto
from .._core.crypto import CertError
from .._core.cryptography_import import x509
from .._core.files import read_state
from .request import NEED_GUIDANCE, TrackedRequest, UnreadableRecord

_EKU_NAMES = {
    "serverAuth": "id-kp-serverAuth",
    "clientAuth": "id-kp-clientAuth",
    "codeSigning": "id-kp-codeSigning",
    "emailProtection": "id-kp-emailProtection",
    "timeStamping": "id-kp-timeStamping",
    "OCSPSigning": "id-kp-OCSPSigning",
}


def describe_request(request) -> dict:
    """The fields of ``getcert list`` for one request, read from the record and the certificate on disk."""
    if isinstance(request, UnreadableRecord):
        request = TrackedRequest(request.id, "", "", status=NEED_GUIDANCE, last_error=request.error)
    listing = {
        "request_id": request.id,
        "status": request.status,
        "stuck": request.stuck,
        "key_location": request.key_path,
        "cert_location": request.cert_path,
        "ca": request.ca,
        "issuer": "",
        "subject": "",
        "expires": "",
        "dns": [],
        "ip": [],
        "key_usage": [],
        "eku": [],
        "pre_save_command": request.pre_save_command,
        "post_save_command": request.post_save_command,
        "track": True,
        "auto_renew": request.auto_renew,
        "last_error": request.last_error,
        "last_renewed": request.last_renewed,
        "outputs": [o.public() for o in request.output_list()],
    }
    state = read_state(request.cert_path)
    if state.data:
        try:
            cert = crypto.load_certificate(state.data)
        except CertError:
            return listing
        sans = crypto.subject_alt_names_of(cert)
        listing.update(
            issuer=cert.issuer.rfc4514_string(),
            subject=cert.subject.rfc4514_string(),
            expires=cert.not_valid_after_utc.strftime("%Y-%m-%d %H:%M:%S UTC"),
            serial_number="%x" % cert.serial_number,
            dns=[n.value for n in sans if isinstance(n, x509.DNSName)],
            ip=[str(n.value) for n in sans if isinstance(n, x509.IPAddress)],
            key_usage=crypto.key_usage_names(cert),
            eku=[_EKU_NAMES.get(name, name) for name in crypto.extended_key_usage_names(cert)],
        )
    return listing


def format_listing(listings: list) -> str:
    """``getcert list``'s layout."""
    lines = ["Number of certificates and requests being tracked: %d." % len(listings)]
    yes_no = {True: "yes", False: "no"}
    for item in listings:
        lines += [
            "Request ID '%s':" % item["request_id"],
            "\tstatus: %s" % item["status"],
            "\tstuck: %s" % yes_no[item["stuck"]],
        ]
        if item["last_error"]:
            lines.append("\tca-error: %s" % item["last_error"])
        lines += [
            "\tkey pair storage: type=FILE,location='%s'" % item["key_location"],
            "\tcertificate: type=FILE,location='%s'" % item["cert_location"],
            "\tCA: %s" % item["ca"],
            "\tissuer: %s" % item["issuer"],
            "\tsubject: %s" % item["subject"],
            "\texpires: %s" % item["expires"],
            "\tdns: %s" % ",".join(item["dns"]),
            "\tip: %s" % ",".join(item["ip"]),
            "\tkey usage: %s" % ",".join(item["key_usage"]),
            "\teku: %s" % ",".join(item["eku"]),
            "\tpre-save command: %s" % item["pre_save_command"],
            "\tpost-save command: %s" % item["post_save_command"],
        ]
        lines += ["\toutput: %s (%s)" % (o["path"], o["format"]) for o in item["outputs"]]
        lines += ["\ttrack: %s" % yes_no[item["track"]], "\tauto-renew: %s" % yes_no[item["auto_renew"]]]
    return "\n".join(lines) + "\n"
