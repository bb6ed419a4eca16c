# -*- coding: utf-8 -*-
# Copyright (c) certkeeper.pki contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A certificate's facts, in one shape with ISO 8601 UTC dates: what every result, listing (``certkeeper list
--json``, cert_track_info) and ``--diff`` line says of a certificate. Public facts only, safe to log."""

from __future__ import annotations

from . import crypto
from .files import Attributes


def certificate_facts(cert) -> dict:
    return {
        "subject": cert.subject.rfc4514_string(),
        "issuer": cert.issuer.rfc4514_string(),
        "serial_number": "%x" % cert.serial_number,
        "not_before": cert.not_valid_before_utc.isoformat(),
        "not_after": cert.not_valid_after_utc.isoformat(),
        "subject_alt_names": [crypto.general_name_text(n) for n in crypto.subject_alt_names_of(cert)],
        "key_usage": crypto.key_usage_names(cert),
        "extended_key_usage": crypto.extended_key_usage_names(cert),
        "fingerprint_sha256": crypto.fingerprint_sha256(cert),
    }


def certificate_line(cert, attributes: Attributes, what: str = "certificate") -> str:
    """What --diff shows of a certificate: its facts in one line, then the file's owner and mode."""
    facts = certificate_facts(cert)
    return "%s %s, issuer %s, SANs [%s], %s, expires %s, SHA-256 %s, %s\n" % (
        what,
        facts["subject"],
        facts["issuer"],
        ", ".join(facts["subject_alt_names"]),
        "+".join(facts["key_usage"] + facts["extended_key_usage"]),
        facts["not_after"],
        facts["fingerprint_sha256"],
        attributes.describe(),
    )
