# -*- coding: utf-8 -*-
# Copyright (c) certkeeper.pki contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""``ca: local``: a CA whose key and certificate are files on this host. The one loader of such a CA
(cert_track, signing_cert) and the one way a CA key signs a leaf (pg_mtls's CA signs through it too)."""

from __future__ import annotations

from typing import ClassVar

from .._core import crypto
from .._core.errors import CertError
from .._core.files import read_state
from .base import UNCONFIGURED, Answer, Issuer, IssueRequest


def load_ca(
    cert_path: str, key_path: str, now=None, cert_option: str = "ca_cert_path", key_option: str = "ca_key_path"
):
    """(key, certificate) of the CA in these files, checked: a CA certificate fit to sign (crypto.check_ca),
    the key that belongs to it, and not expired. Errors name the options the user set."""
    key_state, cert_state = read_state(key_path), read_state(cert_path)
    for state, option in ((key_state, key_option), (cert_state, cert_option)):
        if state.data is None or state.error or state.is_directory:
            raise CertError("%s %s cannot be read: %s" % (option, state.path, state.error or "missing"))
    try:
        ca_key = crypto.load_private_key(key_state.data)
    except CertError:
        raise CertError("%s %s is not an unencrypted private key" % (key_option, key_state.path)) from None
    try:
        ca_cert = crypto.load_certificate(cert_state.data)
    except CertError:
        raise CertError("%s %s is not a certificate" % (cert_option, cert_state.path)) from None
    crypto.check_ca(ca_cert, ca_key, "%s %s" % (cert_option, cert_state.path))
    if not crypto.same_public_key(ca_key, ca_cert.public_key()):
        raise CertError("%s %s does not belong to %s %s" % (key_option, key_state.path, cert_option, cert_state.path))
    now = now or crypto.now_utc()
    if ca_cert.not_valid_after_utc <= now:
        raise CertError(
            "%s %s expired on %s; renew the CA first" % (cert_option, cert_state.path, ca_cert.not_valid_after_utc)
        )
    return ca_key, ca_cert


def sign(ca_key, ca_cert, public_key, subject, subject_alt_names: list, profile: str, valid_days: int, now=None):
    """A certificate of ``profile`` for ``public_key``, signed by this CA; never valid past the CA."""
    usage = crypto.PROFILES[profile]
    return crypto.issue_certificate(
        ca_key,
        ca_cert.subject,
        public_key,
        subject,
        list(subject_alt_names),
        valid_days,
        list(usage.extended_key_usages),
        usage.encipherment,
        issuer_not_after=ca_cert.not_valid_after_utc,
        now=now,
    )


class LocalCA(Issuer):
    name = "local"
    summary = "the CA key and certificate on this host"
    options: ClassVar[dict] = {
        "ca_cert_path": {"cli": ("--ca-cert",), "type": "path", "description": "The CA certificate (PEM) that signs."},
        "ca_key_path": {
            "cli": ("--ca-key",),
            "type": "path",
            "no_log": False,  # a path, not a secret
            "description": "The CA's private key (PEM, unencrypted, root-only).",
        },
    }
    required = ("ca_cert_path", "ca_key_path")

    def preflight(self) -> None:
        """A CA that exists but could only sign weak or untrusted certificates is a setting to fix (a CA not
        made yet is waited for)."""
        cert_state, key_state = read_state(self.settings.ca_cert_path), read_state(self.settings.ca_key_path)
        if cert_state.data is None or cert_state.error:
            return
        try:
            key = crypto.load_private_key(key_state.data) if key_state.data and not key_state.error else None
        except CertError:
            key = None
        crypto.check_ca(crypto.load_certificate(cert_state.data), key, "ca_cert_path %s" % self.settings.ca_cert_path)

    def issue(self, request: IssueRequest) -> Answer:
        try:
            ca_key, ca_cert = load_ca(self.settings.ca_cert_path, self.settings.ca_key_path, request.now)
        except CertError as exc:
            return Answer(UNCONFIGURED, message=str(exc))
        cert = sign(
            ca_key,
            ca_cert,
            request.private_key.public_key(),
            request.subject,
            request.subject_alt_names,
            request.profile,
            request.valid_days,
            request.now,
        )
        return Answer.issued(cert)
