# -*- coding: utf-8 -*-
# Copyright (c) certkeeper.pki contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A signing / SSL certificate as ``<FriendlyName>.pfx`` (seed 003, generateCertificate.ps1).

Two ways in: *generate* (make or keep the certificate from subject, SANs and profile) and
*install* (put the group's PFX, made once on a source host, on this host as the same bytes).
Either way the decision comes from opening the existing PFX with the password, never from
comparing bytes of a fresh encoding, and every change has a reason.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import os
import re
from dataclasses import dataclass

from .._ca.local import load_ca, sign
from .._ca.self_signed import self_sign
from .._core import crypto
from .._core.crypto import CertError, KeySpec
from .._core.cryptography_import import HAS_CRYPTOGRAPHY, NameOID, hashes, serialization, x509
from .._core.facts import certificate_facts, certificate_line
from .._core.files import (
    ROOT_ONLY_FILE,
    Attributes,
    Change,
    FileState,
    Plan,
    apply_plan,
    attribute_change,
    check_absolute_path,
    describe_before,
    directory_changes,
    private_file_attributes,
    read_state,
)
from .._core.pkcs12 import compatibility_warnings, load_pkcs12, serialize_pkcs12
from .._core.policy import check_days, check_renewal_window, due_reason, server_validity_warnings

PUBLIC_FORMATS = {"cer": serialization.Encoding.DER, "crt": serialization.Encoding.PEM} if HAS_CRYPTOGRAPHY else {}
_UNSAFE_FILE_NAME = re.compile(r'[\x00-\x1f\x7f/\\:*?"<>|]')
_COMMON_PASSWORDS = {
    "123456",
    "12345678",
    "123456789",
    "password",
    "passw0rd",
    "qwerty",
    "changeme",
    "secret",
    "admin",
    "letmein",
}


def validate_friendly_name(name) -> str:
    """The friendly name is also the file name: it must be safe on Linux and Windows alike."""
    if not isinstance(name, str) or not name.strip():
        raise CertError("friendly_name must be a non-empty string")
    if _UNSAFE_FILE_NAME.search(name) or name.strip(" .") in ("", ".."):
        raise CertError(
            "friendly_name %r cannot be a file name: no path separators, control characters or "
            'any of : * ? " < > |' % (name,)
        )
    if name != name.strip(" .") or len(name) > 200:
        raise CertError(
            "friendly_name %r must not start or end with a space or dot, and must be at most 200 characters" % (name,)
        )
    return name


def parse_subject(subject) -> x509.Name:
    """A bare name becomes the CN; ``CN=x,O=y,C=CZ`` is read as an RFC 4514 distinguished name."""
    if not isinstance(subject, str) or not subject.strip():
        raise CertError("subject must be a non-empty string, such as 'YSoft SafeQ' or 'CN=sq.example.com,O=Example'")
    if "=" not in subject:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, crypto.validate_common_name(subject, "subject"))])
    try:
        name = x509.Name.from_rfc4514_string(subject)
    except ValueError as exc:
        raise CertError(
            "subject %r is not a distinguished name (%s); write it as CN=name,O=org,C=CZ" % (subject, exc)
        ) from None
    common_names = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    if len(common_names) != 1:
        raise CertError("subject %r must contain exactly one CN=" % subject)
    crypto.validate_common_name(common_names[0].value, "subject CN")
    return name


def password_warnings(password: str) -> list:
    if password.lower() in _COMMON_PASSWORDS or len(password) < 12:
        return [
            "password is weak (shorter than 12 characters or a well-known password); the PFX holds the "
            "private key, so anyone with the file and a guess has the certificate"
        ]
    return []


def thumbprints(cert) -> dict:
    """SHA-1 as Windows shows it (upper-case hex, no separators) and SHA-256."""
    return {
        "thumbprint_sha1": cert.fingerprint(hashes.SHA1()).hex().upper(),  # nosec - an identifier, not security
        "thumbprint_sha256": cert.fingerprint(hashes.SHA256()).hex().upper(),
    }


@dataclass(frozen=True)
class SigningCertRequest:
    directory: str
    friendly_name: str
    password: str
    subject: x509.Name = None
    subject_alt_names: tuple = ()
    profile: str = "ssl"
    key_spec: KeySpec = KeySpec()
    valid_days: int = 365
    renew_before_days: int = 30
    attributes: Attributes = ROOT_ONLY_FILE
    public_attributes: Attributes = Attributes(0o644, 0, 0)
    public_formats: tuple = ()
    force: bool = False
    issuer: tuple = None  # (CA key, CA certificate) on this host; None for self-signed

    def path(self, extension: str) -> str:
        return os.path.join(self.directory, "%s.%s" % (self.friendly_name, extension))


@dataclass
class SigningCertPlan(Plan):
    certificate: x509.Certificate = None


def _open_existing(state: FileState, request: SigningCertRequest):
    """The existing PFX's contents, None when missing; an unopenable file is an error unless forced."""
    if state.is_directory:
        raise CertError("%s is a directory where the PFX belongs; move it away" % state.path)
    if state.data is None and not state.error:
        return None
    try:
        if state.error:
            raise ValueError(state.error)
        return load_pkcs12(state.data, request.password)
    except (ValueError, TypeError):
        if request.force:
            return None
        raise CertError(
            "%s exists but cannot be opened with the given password (or is corrupt); give the right "
            "password, or force: true to replace it" % state.path
        ) from None


def _certificate_problem(bundle, request: SigningCertRequest, now) -> str | None:
    """Why the existing certificate is not the one asked for, or None."""
    cert = bundle.cert.certificate if bundle.cert else None
    if cert is None or bundle.key is None or not crypto.same_public_key(bundle.key, cert.public_key()):
        return "does not hold a certificate with its private key"
    if cert.subject != request.subject:
        return "subject is %s, %s requested" % (cert.subject.rfc4514_string(), request.subject.rfc4514_string())
    current = sorted(crypto.general_name_text(n) for n in crypto.subject_alt_names_of(cert))
    wanted = sorted(crypto.general_name_text(n) for n in request.subject_alt_names)
    if current != wanted:
        return "SANs are [%s], [%s] requested" % (", ".join(current), ", ".join(wanted))
    usage = crypto.PROFILES[request.profile]
    if crypto.extended_key_usages_of(cert) != list(usage.extended_key_usages) or crypto.key_usage_of(
        cert
    ) != crypto.key_usage_for(cert.public_key(), usage.encipherment):
        return "key usage is %s, not what the %s profile sets" % (
            "+".join(crypto.key_usage_names(cert) + crypto.extended_key_usage_names(cert)),
            request.profile,
        )
    spec = KeySpec.of(bundle.key)
    if spec != request.key_spec:
        return "key is %s, %s requested" % (spec or "an unsupported type", request.key_spec)
    issuer = request.issuer[1] if request.issuer else cert
    if not crypto.issued_by(cert, issuer):
        return "not issued by %s" % ("the given CA" if request.issuer else "itself (self-signed requested)")
    due = due_reason(cert, now, request.renew_before_days)
    if due:
        return due
    if bundle.cert.friendly_name != request.friendly_name.encode("utf-8"):
        return "friendly name attribute is %r" % (bundle.cert.friendly_name or b"").decode("utf-8", "replace")
    return None


def _describe(cert, request: SigningCertRequest, attributes: Attributes) -> str:
    return "PKCS#12 %r: %s" % (request.friendly_name, certificate_line(cert, attributes))


def _issue(request: SigningCertRequest, now):
    """A new key and its certificate: signed by the CA on this host, or by the new key itself."""
    key = request.key_spec.generate()
    names = (request.subject, list(request.subject_alt_names), request.profile, request.valid_days, now)
    if request.issuer:
        ca_key, ca_cert = request.issuer
        return key, sign(ca_key, ca_cert, key.public_key(), *names), (ca_cert,)
    return key, self_sign(key, *names), ()


def plan_signing_cert(
    request: SigningCertRequest, states: dict, content: bytes | None = None, now=None
) -> SigningCertPlan:
    """Plan ``<friendly_name>.pfx`` (and its public forms). ``content`` is the group's PFX to install."""
    now = now or datetime.datetime.now(datetime.timezone.utc)
    plan = SigningCertPlan()
    plan.changes += directory_changes(states["directory"], Attributes(0o755, 0, 0), "path", enforce=False)
    pfx_state = states["pfx"]
    existing = _open_existing(pfx_state, request)
    if content is not None:
        reason, data = _plan_installed(plan, request, pfx_state, existing, content)
    else:
        reason, data = _plan_generated(plan, request, pfx_state, existing, now)
    _plan_pfx(plan, request, pfx_state, reason, data)
    for extension in request.public_formats:
        _plan_public_format(plan, request, states[extension], extension)
    return plan


def _plan_installed(
    plan: SigningCertPlan, request: SigningCertRequest, pfx_state: FileState, existing, content: bytes
) -> tuple:
    """(reason or None, PFX bytes): every host of the group holds the same bytes, so the group's PFX is in force."""
    incoming = _load_content(content, request)
    plan.certificate = incoming.cert.certificate
    return _drift_reason(pfx_state, existing, incoming), content


def _drift_reason(pfx_state: FileState, existing, incoming) -> str | None:
    """Why the PFX here is not the group's, or None: same certificate and key, whatever the encoding's bytes."""
    if (
        existing is not None
        and existing.cert
        and existing.cert.certificate == incoming.cert.certificate
        and existing.key is not None
        and crypto.same_public_key(existing.key, incoming.key)
    ):
        return None
    if existing is None:
        return "missing" if pfx_state.data is None else "replaced on request (force)"
    return "holds a different certificate (SHA-256 %s): drift from the group's certificate" % (
        thumbprints(existing.cert.certificate)["thumbprint_sha256"] if existing.cert else "none"
    )


def _plan_generated(plan: SigningCertPlan, request: SigningCertRequest, pfx_state: FileState, existing, now) -> tuple:
    """(reason or None, PFX bytes or None): a new key and certificate only when the existing one cannot stay."""
    reason = _regeneration_reason(request, pfx_state, existing, now)
    if not reason:
        plan.certificate = existing.cert.certificate
        return None, None
    key, cert, chain = _issue(request, now)
    plan.certificate = cert
    return reason, serialize_pkcs12(key, cert, request.password, request.friendly_name, chain)


def _regeneration_reason(request: SigningCertRequest, pfx_state: FileState, existing, now) -> str | None:
    """Why the PFX is made anew (force, missing, not the certificate asked for), or None: it stays."""
    reason = "force: true" if request.force and pfx_state.data is not None else None
    if existing is None:
        return reason or "missing"
    if not reason:
        return _certificate_problem(existing, request, now)
    return reason


def _plan_pfx(
    plan: SigningCertPlan, request: SigningCertRequest, pfx_state: FileState, reason: str | None, data: bytes | None
) -> None:
    """Write the PFX when there is a reason; otherwise only fix its owner/mode: the file holds the private key."""
    if reason:
        plan.changes.append(
            Change(
                pfx_state.path,
                reason,
                request.attributes,
                data,
                before=describe_before(pfx_state, "PKCS#12 file"),
                after=_describe(plan.certificate, request, request.attributes),
            )
        )
        return
    fix = attribute_change(pfx_state, request.attributes, "PKCS#12 file")
    if fix:
        plan.changes.append(fix)


def _plan_public_format(plan: SigningCertPlan, request: SigningCertRequest, state: FileState, extension: str) -> None:
    """A .cer or .crt for consumers that take only the certificate: always the PFX's own."""
    wanted = plan.certificate.public_bytes(PUBLIC_FORMATS[extension])
    if state.data == wanted and not state.error:
        fix = attribute_change(state, request.public_attributes, "public certificate")
        if fix:
            plan.changes.append(fix)
        return
    plan.changes.append(
        Change(
            state.path,
            "missing" if state.data is None else "differs from the PFX's certificate",
            request.public_attributes,
            wanted,
            before=describe_before(state, "certificate"),
            after="public certificate (%s) of %r, %s\n"
            % (extension, request.friendly_name, request.public_attributes.describe()),
        )
    )


def _load_content(content: bytes, request: SigningCertRequest):
    try:
        bundle = load_pkcs12(content, request.password)
    except (ValueError, TypeError):
        raise CertError("pfx_content cannot be opened with the given password") from None
    if bundle.key is None or bundle.cert is None:
        raise CertError("pfx_content does not hold a certificate with its private key")
    problem = crypto.leaf_problem(bundle.cert.certificate)
    if problem:
        raise CertError("pfx_content cannot be installed: %s" % problem)
    return bundle


def plan_removal(request: SigningCertRequest, states: dict) -> Plan:
    plan = Plan()
    for name in ["pfx"] + list(PUBLIC_FORMATS):
        state = states[name]
        if state.data is not None or state.error:
            if state.is_directory:
                raise CertError("%s is a directory; refusing to remove it" % state.path)
            plan.changes.append(
                Change(state.path, "state: absent", state.attributes, before="present\n", after="absent\n", remove=True)
            )
    return plan


# --- the module's work, without Ansible ---------------------------------------------------


def _issuer(params: dict):
    """(key, certificate) of the CA on this host that signs, or None: self-signed."""
    if not params.get("ca_cert_path"):
        return None
    return load_ca(params["ca_cert_path"], params["ca_key_path"])


def run_signing_cert(params: dict, check_mode: bool) -> dict:
    """The module's call: the PFX and its public forms planned from the files as they are, applied, reported."""
    friendly_name = validate_friendly_name(params["friendly_name"])
    for option in ("path", "ca_cert_path", "ca_key_path"):
        check_absolute_path(params.get(option), option)
    directory = params["path"]
    attributes = private_file_attributes(
        params["owner"], params["group"], params["mode"], "", "the PFX (it holds the private key)"
    )
    states = _read_states(directory, friendly_name)
    if params["state"] == "absent":
        plan = plan_removal(SigningCertRequest(directory, friendly_name, params.get("password") or ""), states)
        certificate, warnings = None, []
    else:
        request, content, warnings = _present_request(params, friendly_name, attributes)
        plan = plan_signing_cert(request, states, content)
        certificate = plan.certificate
    if not check_mode:
        apply_plan(plan)
    return _result(plan, certificate, directory, friendly_name, warnings)


def _read_states(directory: str, friendly_name: str) -> dict:
    """The PFX, its public forms and their directory as they are: what the plan is made from."""
    states = {
        extension: read_state(os.path.join(directory, "%s.%s" % (friendly_name, extension)))
        for extension in ("pfx", "cer", "crt")
    }
    states["directory"] = read_state(directory)
    return states


def _present_request(params: dict, friendly_name: str, attributes: Attributes) -> tuple:
    """(request, the group's PFX to install or None, warnings) for state=present: install one, or generate."""
    password = params.get("password") or ""
    warnings = _check_password(params, password)
    if params.get("pfx_content"):
        content = _decode_pfx_content(params["pfx_content"])
        request = SigningCertRequest(
            params["path"],
            friendly_name,
            password,
            attributes=attributes,
            public_formats=tuple(params["public_formats"]),
            force=params["force"],
        )
        return request, content, warnings
    request, validity_warnings = _generation_request(params, friendly_name, password, attributes)
    return request, None, warnings + validity_warnings


def _check_password(params: dict, password: str) -> list:
    """The PFX holds the private key: an empty password only on request, a weak one said out loud."""
    if password == "" and not params["allow_empty_password"]:
        raise CertError(
            "password is empty; set a password (keep it in Ansible Vault), or allow_empty_password: "
            "true for consumers that need an unprotected PFX"
        )
    return (password_warnings(password) if password else []) + compatibility_warnings(password)


def _decode_pfx_content(pfx_content: str) -> bytes:
    """The group's PFX travels in the options as base64, decoded strictly: a mangled value is refused, never written."""
    try:
        return base64.b64decode(pfx_content, validate=True)
    except (binascii.Error, ValueError):
        raise CertError("pfx_content must be the PFX file's bytes in base64") from None


def _generation_request(params: dict, friendly_name: str, password: str, attributes: Attributes) -> tuple:
    """(request, warnings) for a certificate made here, its names and days checked before any key is made."""
    if not params.get("subject"):
        raise CertError("subject is required to generate a certificate (or give pfx_content to install one)")
    sans = _subject_alt_names(params)
    for option in ("valid_days", "renew_before"):
        check_days(params[option], option)
    check_renewal_window(params["renew_before"], params["valid_days"])
    warnings = server_validity_warnings(params, params["valid_days"]) if params["profile"] == "ssl" else []
    key_size = params.get("key_size") or KeySpec.default_size(params["key_type"])
    request = SigningCertRequest(
        params["path"],
        friendly_name,
        password,
        parse_subject(params["subject"]),
        sans,
        params["profile"],
        KeySpec(params["key_type"], key_size),
        params["valid_days"],
        params["renew_before"],
        attributes,
        public_formats=tuple(params["public_formats"]),
        force=params["force"],
        issuer=_issuer(params),
    )
    return request, warnings


def _subject_alt_names(params: dict) -> tuple:
    """The SANs to certify; an ssl certificate needs them, or clients abort the connection."""
    sans = tuple(crypto.parse_subject_alt_names(params["subject_alt_names"]))
    if params["profile"] == "ssl" and not sans and not params["allow_no_san"]:
        raise CertError(
            "an ssl certificate needs subject_alt_names with every name and address clients use "
            "(or they abort the connection); set allow_no_san: true to accept one without"
        )
    return sans


def _result(plan: Plan, cert, directory: str, friendly_name: str, warnings: list) -> dict:
    plan.warnings += warnings
    result = dict(plan.result(), path=os.path.join(directory, friendly_name + ".pfx"), friendly_name=friendly_name)
    if cert is not None:
        result.update(thumbprints(cert))
        facts = certificate_facts(cert)
        result.update(
            subject=facts["subject"],
            subject_alt_names=facts["subject_alt_names"],
            not_after=facts["not_after"],
            key_usage=crypto.key_usage_names(cert),
            extended_key_usage=crypto.extended_key_usage_names(cert),
        )
    return result
