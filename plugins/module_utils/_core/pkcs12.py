# -*- coding: utf-8 -*-
# Copyright (c) certkeeper.pki contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""PKCS#12 files that openssl, Java's KeyStore and .NET all read, including with an empty password.

``cryptography`` refuses an empty password for an encrypted PKCS#12, and its unencrypted
PKCS#12 yields no key entry in Java's KeyStore. So the container is assembled here, exactly as
``openssl pkcs12 -export -passout pass:`` (OpenSSL 3) lays it out: certificates in a PBES2
(PBKDF2-HMAC-SHA256, AES-256-CBC) encrypted SafeContents, the key in a PBES2 shrouded key bag,
both bags tagged with friendlyName and localKeyID, and a SHA-256 MAC keyed through the
RFC 7292 appendix B KDF. Every primitive comes from ``cryptography``; only the DER framing is ours.
"""

from __future__ import annotations

import os

from .cryptography_import import (
    PBKDF2HMAC,
    Cipher,
    algorithms,
    hashes,
    hmac,
    modes,
    padding,
    pkcs12,
    serialization,
    x509,
)

ITERATIONS = 2048  # what OpenSSL 3 uses for both the PBES2 KDF and the MAC
SALT_BYTES = 8

_OID_DATA = "1.2.840.113549.1.7.1"
_OID_ENCRYPTED_DATA = "1.2.840.113549.1.7.6"
_OID_SHROUDED_KEY_BAG = "1.2.840.113549.1.12.10.1.2"
_OID_CERT_BAG = "1.2.840.113549.1.12.10.1.3"
_OID_X509_CERTIFICATE = "1.2.840.113549.1.9.22.1"
_OID_FRIENDLY_NAME = "1.2.840.113549.1.9.20"
_OID_LOCAL_KEY_ID = "1.2.840.113549.1.9.21"
_OID_PBES2 = "1.2.840.113549.1.5.13"
_OID_PBKDF2 = "1.2.840.113549.1.5.12"
_OID_HMAC_SHA256 = "1.2.840.113549.2.9"
_OID_AES256_CBC = "2.16.840.1.101.3.4.1.42"
_OID_SHA256 = "2.16.840.1.101.3.4.2.1"


# --- minimal DER encoder: just the types a PKCS#12 file needs -------------------------------


def _tlv(tag: int, body: bytes) -> bytes:
    length = len(body)
    if length < 0x80:
        return bytes([tag, length]) + body
    size = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(size)]) + size + body


def _seq(*items: bytes) -> bytes:
    return _tlv(0x30, b"".join(items))


def _set(*items: bytes) -> bytes:
    return _tlv(0x31, b"".join(sorted(items)))  # DER sorts SET OF members


def _int(value: int) -> bytes:
    return _tlv(0x02, value.to_bytes(value.bit_length() // 8 + 1, "big"))


def _octets(value: bytes) -> bytes:
    return _tlv(0x04, value)


def _explicit0(body: bytes) -> bytes:
    return _tlv(0xA0, body)


def _null() -> bytes:
    return b"\x05\x00"


def _oid(dotted: str) -> bytes:
    arcs = [int(a) for a in dotted.split(".")]
    body = bytearray([40 * arcs[0] + arcs[1]])
    for arc in arcs[2:]:
        chunk = [arc & 0x7F]
        rest = arc >> 7
        while rest:
            chunk.append(0x80 | (rest & 0x7F))
            rest >>= 7
        body.extend(reversed(chunk))
    return _tlv(0x06, bytes(body))


# --- cryptographic pieces --------------------------------------------------------------------


def _bmp_password(password: str) -> bytes:
    """The PKCS#12 MAC password: UTF-16BE with a two-byte terminator, so "" is b"\\0\\0"."""
    return password.encode("utf-16-be") + b"\x00\x00"


def _pkcs12_kdf(password: bytes, salt: bytes, purpose: int, iterations: int, size: int) -> bytes:
    """RFC 7292 appendix B.2 with SHA-256 (u = 32, v = 64)."""
    u, v = 32, 64

    def stretch(data: bytes) -> bytes:  # repeat to a whole number of v-byte blocks
        length = v * -(-len(data) // v)
        return (data * (length // len(data) + 1))[:length] if data else b""

    block_i = bytearray(stretch(salt) + stretch(password))
    diversifier = bytes([purpose]) * v
    derived = b""
    while len(derived) < size:
        digest = diversifier + bytes(block_i)
        for _round in range(iterations):
            h = hashes.Hash(hashes.SHA256())
            h.update(digest)
            digest = h.finalize()
        derived += digest
        b_int = int.from_bytes((digest * (v // u + 1))[:v], "big")
        for start in range(0, len(block_i), v):
            chunk = int.from_bytes(block_i[start : start + v], "big")
            block_i[start : start + v] = ((chunk + b_int + 1) % (1 << (8 * v))).to_bytes(v, "big")
    return derived[:size]


def _pbes2_encrypt(password: str, plaintext: bytes) -> tuple[bytes, bytes]:
    """Return (AlgorithmIdentifier DER, ciphertext) for PBES2/PBKDF2-HMAC-SHA256/AES-256-CBC."""
    salt, iv = os.urandom(SALT_BYTES), os.urandom(16)
    key = PBKDF2HMAC(hashes.SHA256(), 32, salt, ITERATIONS).derive(password.encode("utf-8"))
    padder = padding.PKCS7(128).padder()
    padded = padder.update(plaintext) + padder.finalize()
    encryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
    ciphertext = encryptor.update(padded) + encryptor.finalize()
    kdf = _seq(_oid(_OID_PBKDF2), _seq(_octets(salt), _int(ITERATIONS), _seq(_oid(_OID_HMAC_SHA256), _null())))
    algorithm = _seq(_oid(_OID_PBES2), _seq(kdf, _seq(_oid(_OID_AES256_CBC), _octets(iv))))
    return algorithm, ciphertext


def _bag_attributes(friendly_name: str, local_key_id: bytes) -> bytes:
    return _set(
        _seq(_oid(_OID_FRIENDLY_NAME), _set(_tlv(0x1E, friendly_name.encode("utf-16-be")))),
        _seq(_oid(_OID_LOCAL_KEY_ID), _set(_octets(local_key_id))),
    )


def serialize_pkcs12(
    key, certificate: x509.Certificate, password: str, friendly_name: str, ca_certificates: tuple = ()
) -> bytes:
    """A password-protected PKCS#12 (the password may be empty) holding key, certificate and chain."""
    cert_der = certificate.public_bytes(serialization.Encoding.DER)
    digest = hashes.Hash(hashes.SHA1())  # localKeyID is conventionally the certificate's SHA-1
    digest.update(cert_der)
    local_key_id = digest.finalize()

    def cert_bag(der: bytes, attributes: bytes) -> bytes:
        return _seq(
            _oid(_OID_CERT_BAG),
            _explicit0(_seq(_oid(_OID_X509_CERTIFICATE), _explicit0(_octets(der)))),
            *([attributes] if attributes else []),
        )

    cert_bags = [cert_bag(cert_der, _bag_attributes(friendly_name, local_key_id))]
    cert_bags += [cert_bag(ca.public_bytes(serialization.Encoding.DER), b"") for ca in ca_certificates]
    cert_algorithm, cert_ciphertext = _pbes2_encrypt(password, _seq(*cert_bags))
    certs_info = _seq(
        _oid(_OID_ENCRYPTED_DATA),
        _explicit0(_seq(_int(0), _seq(_oid(_OID_DATA), cert_algorithm, _tlv(0x80, cert_ciphertext)))),
    )

    pkcs8 = key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    key_algorithm, key_ciphertext = _pbes2_encrypt(password, pkcs8)
    key_bag = _seq(
        _oid(_OID_SHROUDED_KEY_BAG),
        _explicit0(_seq(key_algorithm, _octets(key_ciphertext))),
        _bag_attributes(friendly_name, local_key_id),
    )
    key_info = _seq(_oid(_OID_DATA), _explicit0(_octets(_seq(key_bag))))

    auth_safe = _seq(certs_info, key_info)
    mac_salt = os.urandom(SALT_BYTES)
    mac_key = _pkcs12_kdf(_bmp_password(password), mac_salt, 3, ITERATIONS, 32)
    mac = hmac.HMAC(mac_key, hashes.SHA256())
    mac.update(auth_safe)
    mac_data = _seq(
        _seq(_seq(_oid(_OID_SHA256), _null()), _octets(mac.finalize())), _octets(mac_salt), _int(ITERATIONS)
    )
    return _seq(_int(3), _seq(_oid(_OID_DATA), _explicit0(_octets(auth_safe))), mac_data)


def compatibility_warnings(password: str) -> list:
    """What consumers will trip over with this password."""
    if not password.isascii():
        return ["the PKCS#12 password has non-ASCII characters; Java's PKCS12 KeyStore cannot open such a file"]
    return []


def load_pkcs12(data: bytes, password: str):
    """Parse a PKCS#12 file; raises ValueError when it is corrupt or the password is wrong."""
    return pkcs12.load_pkcs12(data, password.encode("utf-8"))
