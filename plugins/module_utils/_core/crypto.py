# -*- coding: utf-8 -*-
# Copyright (c) certkeeper.pki contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Keys, CSRs, certificates and their encodings: pure functions on ``cryptography``."""

from __future__ import annotations

import datetime
import ipaddress
import re
from dataclasses import dataclass

from .cryptography_import import (
    HAS_CRYPTOGRAPHY,
    ExtendedKeyUsageOID,
    InvalidSignature,
    NameOID,
    ec,
    hashes,
    rsa,
    serialization,
    x509,
)
from .errors import CertError
from .option_specs import DEFAULT_KEY_SIZES

# --- keys ------------------------------------------------------------------------------------

_CURVES = {256: ec.SECP256R1, 384: ec.SECP384R1} if HAS_CRYPTOGRAPHY else {}
RSA_SIZES = (2048, 3072, 4096)
ECDSA_SIZES = tuple(_CURVES)


@dataclass(frozen=True)
class KeySpec:
    """Which private key to make: ``rsa`` 2048/3072/4096 or ``ecdsa`` 256 (P-256) / 384 (P-384)."""

    type: str = "rsa"
    size: int = 2048

    def __post_init__(self):
        allowed = {"rsa": RSA_SIZES, "ecdsa": ECDSA_SIZES}
        if self.type not in allowed:
            raise CertError("key_type must be 'rsa' or 'ecdsa', got %r" % (self.type,))
        if self.size not in allowed[self.type]:
            raise CertError(
                "key_size %r is not supported for %s keys; use one of %s"
                % (self.size, self.type, ", ".join(map(str, allowed[self.type])))
            )

    def __str__(self):
        return "RSA-%d" % self.size if self.type == "rsa" else "ECDSA P-%d" % self.size

    @staticmethod
    def default_size(key_type: str) -> int:
        """The size a key of this type gets when none is asked for."""
        return DEFAULT_KEY_SIZES.get(key_type, KeySpec.size)

    def generate(self):
        if self.type == "rsa":
            return rsa.generate_private_key(public_exponent=65537, key_size=self.size)
        return ec.generate_private_key(_CURVES[self.size]())

    @classmethod
    def of(cls, key) -> KeySpec | None:
        """The spec an existing key satisfies, or None for key types we do not make."""
        if isinstance(key, rsa.RSAPrivateKey) and key.key_size in RSA_SIZES:
            return cls("rsa", key.key_size)
        if isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.key_size in ECDSA_SIZES:
            return cls("ecdsa", key.curve.key_size)
        return None


def load_private_key(data: bytes):
    """A private key from PEM or DER (unencrypted); raises CertError when it is not one."""
    for loader in (serialization.load_pem_private_key, serialization.load_der_private_key):
        try:
            return loader(data, password=None)
        except (ValueError, TypeError):
            continue
        except Exception:  # unsupported algorithm and the like
            break
    raise CertError("not an unencrypted private key in PEM or DER form")


def same_public_key(a, b) -> bool:
    """True when two keys (private or public) share one public key."""
    a = a.public_key() if hasattr(a, "private_bytes") else a
    b = b.public_key() if hasattr(b, "private_bytes") else b
    fmt = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return a.public_bytes(*fmt) == b.public_bytes(*fmt)


def pkcs8_pem(key) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def pkcs8_der(key) -> bytes:
    return key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


# --- names -----------------------------------------------------------------------------------

_DNS_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")


def validate_common_name(cn, option: str) -> str:
    if not isinstance(cn, str) or not cn.strip():
        raise CertError("%s must be a non-empty string" % option)
    if len(cn) > 64:
        raise CertError("%s %r is longer than the 64 characters X.509 allows for a CN" % (option, cn))
    if any(ord(c) < 32 or ord(c) == 127 for c in cn):
        raise CertError("%s %r contains control characters" % (option, cn))
    return cn


def _dns_name(name: str, option: str) -> x509.DNSName:
    if re.fullmatch(r"[0-9.]+", name):
        raise CertError("%s: %r is not a valid IP address, and digits alone are not a DNS name" % (option, name))
    labels = name[2:].split(".") if name.startswith("*.") else name.split(".")
    if name.endswith(".") or not all(_DNS_LABEL.match(label) for label in labels):
        raise CertError(
            "%s: %r is not a valid DNS name (a wildcard is allowed only as the whole "
            "left-most label, as in '*.example.com')" % (option, name)
        )
    if name.startswith("*.") and len(labels) < 2:
        raise CertError("%s: wildcard %r must cover a domain with at least two labels" % (option, name))
    return x509.DNSName(name.lower())


def parse_subject_alt_names(entries, option: str = "subject_alt_names") -> list:
    """``DNS:x``, ``IP:x`` or bare names and addresses into GeneralNames (order kept, no repeats)."""
    names = []
    for entry in entries or []:
        if not isinstance(entry, str) or not entry.strip():
            raise CertError("%s: every entry must be a non-empty string, got %r" % (option, entry))
        kind, sep, value = entry.strip().partition(":")
        if sep and kind.upper() == "DNS":
            name: x509.GeneralName = _dns_name(value.strip(), option)
        elif sep and kind.upper() == "IP":
            try:
                name = x509.IPAddress(ipaddress.ip_address(value.strip()))
            except ValueError:
                raise CertError("%s: %r is not a valid IP address" % (option, entry)) from None
        else:
            try:  # bare IPv6 addresses contain ':' too, so try the whole entry as an address first
                name = x509.IPAddress(ipaddress.ip_address(entry.strip()))
            except ValueError:
                if sep:
                    raise CertError("%s: %r has an unknown prefix; use 'DNS:' or 'IP:'" % (option, entry)) from None
                name = _dns_name(entry.strip(), option)
        if name not in names:
            names.append(name)
    return names


def general_name_text(name) -> str:
    if isinstance(name, x509.DNSName):
        return "DNS:" + name.value
    if isinstance(name, x509.IPAddress):
        return "IP:" + str(name.value)
    return str(name.value)


# --- CSRs and certificates -------------------------------------------------------------------


def build_csr(
    key, subject, subject_alt_names=(), extended_key_usages=None, encipherment: bool = True
) -> x509.CertificateSigningRequest:
    """A CSR proving possession of ``key``, for a CN or a full Name, with SANs when given.

    Our own CA takes names from the inventory, not from here; external CA helpers read them. With
    ``extended_key_usages`` (a list, maybe empty) it asks also for the usages of a profile (CA:FALSE, keyUsage,
    extendedKeyUsage), as certmonger's requests do: a CA that copies the requested extensions issues exactly
    the profile."""
    name = subject if isinstance(subject, x509.Name) else common_name_subject(subject)
    builder = x509.CertificateSigningRequestBuilder().subject_name(name)
    if extended_key_usages is not None:
        builder = builder.add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        builder = builder.add_extension(key_usage_for(key.public_key(), encipherment), critical=True)
    if extended_key_usages:
        builder = builder.add_extension(x509.ExtendedKeyUsage(list(extended_key_usages)), critical=False)
    if subject_alt_names:
        builder = builder.add_extension(x509.SubjectAlternativeName(list(subject_alt_names)), critical=False)
    return builder.sign(key, signing_hash(key))


def csr_pem(csr: x509.CertificateSigningRequest) -> bytes:
    return csr.public_bytes(serialization.Encoding.PEM)


def load_csr(pem) -> x509.CertificateSigningRequest:
    try:
        csr = x509.load_pem_x509_csr(pem.encode() if isinstance(pem, str) else pem)
    except ValueError:
        raise CertError("not a PEM certificate signing request") from None
    if not csr.is_signature_valid:
        raise CertError("the CSR's signature does not verify (the requester does not hold the key)")
    return csr


def load_certificate(data) -> x509.Certificate:
    data = data.encode() if isinstance(data, str) else data
    for loader in (x509.load_pem_x509_certificate, x509.load_der_x509_certificate):
        try:
            return loader(data)
        except ValueError:
            continue
    raise CertError("not an X.509 certificate in PEM or DER form")


def certificate_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def signing_hash(key):
    return (
        hashes.SHA384() if isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.key_size > 256 else hashes.SHA256()
    )


def common_name_subject(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def now_utc() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


# Backdating absorbs small clock differences between the CA host and its clients.
_BACKDATE = datetime.timedelta(minutes=5)


def issue_ca_certificate(key, subject, valid_days: int, now=None) -> x509.Certificate:
    """A self-signed root: CA:TRUE (pathlen 0), keyCertSign + cRLSign, random serial; ``subject`` an x509.Name or a
    common name."""
    now = now or now_utc()
    public = key.public_key()
    name = common_name_subject(subject) if isinstance(subject, str) else subject
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _BACKDATE)
        .not_valid_after(now + datetime.timedelta(days=valid_days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .sign(key, signing_hash(key))
    )


TLS_EKUS = (ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH) if HAS_CRYPTOGRAPHY else ()
PROFILE_NAMES = ("server", "client", "ssl", "signing")


@dataclass(frozen=True)
class Profile:
    """What a certificate is for, in its key usages: the one table every issuer and check reads."""

    extended_key_usages: tuple  # what the certificate carries (and a CA's answer must carry)
    encipherment: bool  # keyEncipherment (RSA) or keyAgreement (EC) beside digitalSignature
    allowed_extended_key_usages: tuple | None  # all a CA's answer may carry (None: no limit)


# A TLS certificate may carry both TLS usages, no other (codeSigning, any, ...); a signing one anything.
PROFILES = (
    {
        "server": Profile((ExtendedKeyUsageOID.SERVER_AUTH,), True, TLS_EKUS),
        "client": Profile((ExtendedKeyUsageOID.CLIENT_AUTH,), True, TLS_EKUS),
        "ssl": Profile((ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH), True, TLS_EKUS),
        "signing": Profile((), False, None),
    }
    if HAS_CRYPTOGRAPHY
    else {}
)


def key_usage_for(public_key, encipherment: bool) -> x509.KeyUsage:
    """digitalSignature, plus keyEncipherment (RSA) or keyAgreement (EC) when asked for."""
    is_rsa = isinstance(public_key, rsa.RSAPublicKey)
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=encipherment and is_rsa,
        data_encipherment=False,
        key_agreement=encipherment and not is_rsa,
        key_cert_sign=False,
        crl_sign=False,
        encipher_only=False,
        decipher_only=False,
    )


def issue_certificate(
    signer_key,
    issuer: x509.Name,
    public_key,
    subject: x509.Name,
    subject_alt_names: list,
    valid_days: int,
    extended_key_usages: list,
    encipherment: bool = True,
    issuer_not_after=None,
    now=None,
) -> x509.Certificate:
    """An end-entity certificate (CA:FALSE, random serial) signed by ``signer_key``.

    Self-signed when ``signer_key`` is the subject's own key and ``issuer`` its subject; never
    valid beyond ``issuer_not_after`` (the CA's own expiry) when given."""
    now = now or now_utc()
    not_after = now + datetime.timedelta(days=valid_days)
    if issuer_not_after is not None:
        not_after = min(not_after, issuer_not_after)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _BACKDATE)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(key_usage_for(public_key, encipherment), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(signer_key.public_key()), critical=False)
    )
    if extended_key_usages:
        builder = builder.add_extension(x509.ExtendedKeyUsage(extended_key_usages), critical=False)
    if subject_alt_names:
        builder = builder.add_extension(x509.SubjectAlternativeName(subject_alt_names), critical=False)
    return builder.sign(signer_key, signing_hash(signer_key))


# --- inspection ------------------------------------------------------------------------------


def common_name_of(cert) -> str | None:
    values = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return values[0].value if values else None


def subject_alt_names_of(cert) -> list:
    try:
        return list(cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value)
    except x509.ExtensionNotFound:
        return []


def is_ca_certificate(cert) -> bool:
    try:
        return cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        return False


def extended_key_usages_of(cert) -> list:
    try:
        return list(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)
    except x509.ExtensionNotFound:
        return []


_KEY_USAGE_NAMES = (
    "digital_signature",
    "content_commitment",
    "key_encipherment",
    "data_encipherment",
    "key_agreement",
    "key_cert_sign",
    "crl_sign",
)


def key_usage_of(cert) -> x509.KeyUsage | None:
    try:
        return cert.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return None


def key_usage_names(cert) -> list:
    """Key usages in the camelCase of RFC 5280, e.g. ["digitalSignature", "keyEncipherment"]."""
    usage = key_usage_of(cert)
    if usage is None:
        return []
    return [
        "".join(w.capitalize() if i else w for i, w in enumerate(name.split("_")))
        for name in _KEY_USAGE_NAMES
        if getattr(usage, name)
    ]


def extended_key_usage_names(cert) -> list:
    return [getattr(oid, "_name", None) or oid.dotted_string for oid in extended_key_usages_of(cert)]


def issued_by(cert, ca_cert) -> bool:
    if cert.issuer != ca_cert.subject:
        return False
    try:
        cert.verify_directly_issued_by(ca_cert)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def chain_for(cert, bundle: list) -> tuple:
    """The certificates of ``bundle`` to send along with ``cert`` (a PKCS#12 chain): the one that issued it first,
    then the others in bundle order (a chain file with an intermediate and its root, or two CAs while trust moves)."""
    issuers = [ca for ca in bundle if issued_by(cert, ca)]
    return tuple(issuers[:1] + [ca for ca in bundle if ca not in issuers[:1]])


def load_certificates(data) -> list:
    """Every certificate of a PEM bundle (a leaf and the chain a CA sent with it), or the one DER certificate."""
    data = data.encode() if isinstance(data, str) else data
    try:
        return x509.load_pem_x509_certificates(data)
    except ValueError:
        return [load_certificate(data)]


def _eku_text(oids) -> str:
    return ", ".join(sorted(getattr(oid, "_name", None) or oid.dotted_string for oid in oids)) or "none"


def usage_problem(cert, required_ekus, allowed_ekus) -> str | None:
    """Why a certificate's key usages do not fit what it was asked for, or None.

    ``required_ekus`` must all be present; with ``allowed_ekus`` (None: any) no other may be, and the
    extension must be there (without it a certificate is good for every purpose, code signing included).
    A keyUsage, when present, must allow digitalSignature and must not allow certificate or CRL signing."""
    try:
        ekus = list(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)
    except x509.ExtensionNotFound:
        ekus = None
    if ekus is None and allowed_ekus is not None:
        return "it has no extendedKeyUsage (so it is good for any purpose); the profile needs %s" % _eku_text(
            required_ekus
        )
    missing = [oid for oid in required_ekus if oid not in (ekus or [])]
    if missing:
        return "its extendedKeyUsage (%s) lacks %s, which the profile needs" % (
            _eku_text(ekus or []),
            _eku_text(missing),
        )
    if allowed_ekus is not None:
        extra = [oid for oid in ekus if oid not in allowed_ekus]
        if extra:
            return "its extendedKeyUsage allows %s, which the profile does not (only %s)" % (
                _eku_text(extra),
                _eku_text(allowed_ekus),
            )
    usage = key_usage_of(cert)
    if usage is not None:
        if usage.key_cert_sign or usage.crl_sign:
            return "its keyUsage allows signing certificates or CRLs (%s)" % ", ".join(key_usage_names(cert))
        if not usage.digital_signature:
            return "its keyUsage (%s) lacks digitalSignature, which TLS 1.3 and signatures need" % (
                ", ".join(key_usage_names(cert)) or "none"
            )
    return None


def _valid_at(cert, now) -> bool:
    return cert.not_valid_before_utc <= now <= cert.not_valid_after_utc


def chain_problem(cert, intermediates, anchors, now=None, depth: int = 4) -> str | None:
    """Why ``cert`` does not chain up to one of ``anchors`` (the CA certificates configured as trusted),
    through CA certificates of ``intermediates`` (untrusted, e.g. those a CA sent along), or None.
    Every link is checked by name and signature; each CA on the way must be CA:TRUE and valid ``now``."""
    now = now or now_utc()
    current = cert
    for _link in range(depth + 1):
        for anchor in anchors:
            if is_ca_certificate(anchor) and _valid_at(anchor, now) and issued_by(current, anchor):
                return None
        issuer = next(
            (c for c in intermediates if is_ca_certificate(c) and _valid_at(c, now) and issued_by(current, c)),
            None,
        )
        if issuer is None:
            return "it does not verify against the configured CA (%s): issued by %s%s" % (
                "; ".join(a.subject.rfc4514_string() for a in anchors) or "none",
                current.issuer.rfc4514_string(),
                "" if current is cert else " (through %s)" % current.subject.rfc4514_string(),
            )
        current = issuer
    return "its chain to the configured CA is longer than %d certificates" % depth


# --- hygiene ---------------------------------------------------------------------------------

_WEAK_HASHES = ("sha1", "md5")
MIN_RSA_BITS = 2048
MIN_EC_BITS = 256


def weak_key_problem(key) -> str | None:
    """Why a private or public key is too weak to sign or be certified, or None."""
    key = key.public_key() if hasattr(key, "private_bytes") else key
    if not isinstance(key, (rsa.RSAPublicKey, ec.EllipticCurvePublicKey)):
        return "is a %s key; certkeeper signs and certifies RSA and ECDSA keys only" % type(key).__name__.lstrip("_")
    if isinstance(key, rsa.RSAPublicKey) and key.key_size < MIN_RSA_BITS:
        return "is RSA-%d; RSA keys must have at least %d bits" % (key.key_size, MIN_RSA_BITS)
    if isinstance(key, ec.EllipticCurvePublicKey) and key.curve.key_size < MIN_EC_BITS:
        return "is on a %d-bit curve; use P-256 or stronger" % key.curve.key_size
    return None


def weak_signature_problem(cert) -> str | None:
    """A certificate signed with SHA-1 or MD5, which TLS clients refuse; None when its hash is strong."""
    algorithm = cert.signature_hash_algorithm
    if algorithm is not None and algorithm.name in _WEAK_HASHES:
        return "is signed with %s, which clients refuse; reissue it with SHA-256" % algorithm.name.upper()
    return None


def check_ca(cert, key, what: str) -> None:
    """Refuse a CA certificate or key that would make weak or untrusted leaves; ``what`` names the option."""
    if not is_ca_certificate(cert):
        raise CertError("%s is not a CA certificate (no basicConstraints CA:TRUE)" % what)
    problem = weak_signature_problem(cert) or weak_key_problem(cert.public_key())
    if problem:
        raise CertError("%s %s" % (what, problem))
    if key is not None and weak_key_problem(key):
        raise CertError("the CA key of %s %s" % (what, weak_key_problem(key)))


def leaf_problem(cert) -> str | None:
    """Why a certificate must not be installed as an end-entity certificate, or None."""
    if is_ca_certificate(cert):
        return "it is a CA certificate (CA:TRUE); a server or client certificate must be CA:FALSE"
    return weak_signature_problem(cert) or (
        "its key %s" % weak_key_problem(cert.public_key()) if weak_key_problem(cert.public_key()) else None
    )


def fingerprint_sha256(cert) -> str:
    return cert.fingerprint(hashes.SHA256()).hex(":").upper()
