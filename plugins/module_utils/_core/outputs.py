# -*- coding: utf-8 -*-
# Copyright (c) certkeeper.pki contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Derived forms of a key and certificate that consumers read: PKCS#8 DER, PKCS#8 PEM, PKCS#12.

Used when pg_mtls_certs writes a client's files and when a tracked certificate is renewed, so a
renewal regenerates exactly what the first issue wrote."""

from __future__ import annotations

from dataclasses import dataclass

from . import crypto
from .crypto import CertError
from .files import Attributes, Change, attribute_change, describe_before, existing_problem
from .pkcs12 import load_pkcs12, serialize_pkcs12

FORMATS = ("pkcs8_der", "pkcs8_pem", "pkcs12")
_KEY_ENCODINGS = {"pkcs8_der": (crypto.pkcs8_der, "PKCS#8 DER"), "pkcs8_pem": (crypto.pkcs8_pem, "PKCS#8 PEM")}


@dataclass(frozen=True)
class Output:
    """One derived file: ``format`` is pkcs8_der, pkcs8_pem or pkcs12 (with password and alias)."""

    path: str
    format: str
    password: str = ""
    friendly_name: str = "user"

    def __post_init__(self):
        if self.format not in FORMATS:
            raise CertError("output format must be one of %s, got %r" % (", ".join(FORMATS), self.format))

    def public(self) -> dict:
        """What may be shown and stored in listings: never the password."""
        return {"path": self.path, "format": self.format, "friendly_name": self.friendly_name}


def plan_outputs(outputs, key, cert, chain: tuple, attributes: Attributes, states: dict, key_name: str) -> list:
    """Changes that make every output hold ``key`` (and ``cert`` with ``chain`` for PKCS#12).

    ``states`` maps each output path to its FileState. A PKCS#12 output waits while ``cert`` is None."""
    changes = []
    for output in outputs:
        state = states[output.path]
        if output.format == "pkcs12":
            if cert is None:
                continue
            problem = existing_problem(state) or pkcs12_problem(state.data, output, key, cert, chain, key_name)
            label = "PKCS#12 file"
        else:
            encode, label = _KEY_ENCODINGS[output.format]
            problem = existing_problem(state) or (
                None if state.data == encode(key) else "does not hold the key of %s in %s form" % (key_name, label)
            )
            label += " key"
        if problem is None:
            fix = attribute_change(state, attributes, label)
            changes += [fix] if fix else []
            continue
        if output.format == "pkcs12":
            data = serialize_pkcs12(key, cert, output.password, output.friendly_name, chain)
            after = "PKCS#12: key + %s%s, alias %r, %s, %s\n" % (
                crypto.common_name_of(cert),
                " + chain" if chain else "",
                output.friendly_name,
                "empty password" if output.password == "" else "password set",
                attributes.describe(),
            )
        else:
            data = _KEY_ENCODINGS[output.format][0](key)
            after = "%s of %s, %s\n" % (label, key_name, attributes.describe())
        changes.append(Change(state.path, problem, attributes, data, before=describe_before(state, label), after=after))
    return changes


def pkcs12_problem(data: bytes, output: Output, key, cert, chain: tuple, key_name: str) -> str | None:
    """Why an existing PKCS#12 is not the one wanted, decided by opening it with its password."""
    try:
        bundle = load_pkcs12(data, output.password)
    except (ValueError, TypeError):
        return "cannot be opened with the configured password (or is corrupt)"
    if bundle.key is None or not crypto.same_public_key(bundle.key, key):
        return "does not hold the key of %s" % key_name
    if bundle.cert is None or bundle.cert.certificate != cert:
        return "does not hold the current certificate"
    if bundle.cert.friendly_name != output.friendly_name.encode("utf-8"):
        return "alias is %r, %r requested" % (
            (bundle.cert.friendly_name or b"").decode("utf-8", "replace"),
            output.friendly_name,
        )
    if [c.certificate for c in bundle.additional_certs] != list(chain):
        return "does not carry the current CA certificate"
    return None
