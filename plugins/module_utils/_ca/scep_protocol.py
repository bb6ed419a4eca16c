# -*- coding: utf-8 -*-
# Copyright (c) certkeeper.pki contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A SCEP client (RFC 8894): GetCACaps, GetCACert and PKIOperation (PKCSReq, RenewalReq, CertPoll).

``cryptography`` signs, encrypts and reads certificates, but it cannot put SCEP's signed attributes into a
PKCS#7 SignedData, nor encrypt with 3DES or open a DES-encrypted reply, so the two CMS structures a SCEP
message is made of are written and read here with a small DER encoder and parser, as certmonger does in C.
Every reply is checked before anything is returned: signed by a certificate of the server's GetCACert answer,
our transactionID and nonce echoed, a CertRep. HTTP stays at the edge (``_http``)."""

from __future__ import annotations

import base64
import datetime
import http.client
import os
import socket
import ssl
import threading
import urllib.parse
from dataclasses import dataclass

from .._core.crypto import is_ca_certificate, key_usage_of, same_public_key, signing_hash
from .._core.cryptography_import import (
    AttributeOID,
    Cipher,
    InvalidSignature,
    PKCS1v15,
    TripleDES,
    algorithms,
    ec,
    hashes,
    load_der_pkcs7_certificates,
    modes,
    padding,
    rsa,
    serialization,
    x509,
)
from .._core.errors import CertError

PKCS_REQ, RENEWAL_REQ, CERT_POLL = 19, 17, 20  # messageType values of the requests we send
SUCCESS, FAILURE, PENDING = "SUCCESS", "FAILURE", "PENDING"

_STATUSES = {"0": SUCCESS, "2": FAILURE, "3": PENDING}
_FAIL_INFOS = {"0": "badAlg", "1": "badMessageCheck", "2": "badRequest", "3": "badTime", "4": "badCertId"}
_MAX_REPLY = 1 << 20  # a CertRep holds a few certificates; anything far larger is not one
_MAX_OID = 32

_DATA, _SIGNED_DATA, _ENVELOPED_DATA = "1.2.840.113549.1.7.1", "1.2.840.113549.1.7.2", "1.2.840.113549.1.7.3"
_CONTENT_TYPE, _MESSAGE_DIGEST = "1.2.840.113549.1.9.3", "1.2.840.113549.1.9.4"
_RSA_ENCRYPTION = "1.2.840.113549.1.1.1"
_SCEP = "2.16.840.1.113733.1.9."  # VeriSign's arc for the SCEP attributes
_MESSAGE_TYPE, _PKI_STATUS, _FAIL_INFO = _SCEP + "2", _SCEP + "3", _SCEP + "4"
_SENDER_NONCE, _RECIPIENT_NONCE, _TRANSACTION_ID = _SCEP + "5", _SCEP + "6", _SCEP + "7"
_HASHES = {
    "1.3.14.3.2.26": "SHA1",
    "2.16.840.1.101.3.4.2.1": "SHA256",
    "2.16.840.1.101.3.4.2.2": "SHA384",
    "2.16.840.1.101.3.4.2.3": "SHA512",
}
_AES_128, _DES3 = "2.16.840.1.101.3.4.1.2", "1.2.840.113549.3.7"
_KEY_SIZES = {"1.3.14.3.2.7": 8, _DES3: 24, _AES_128: 16, "2.16.840.1.101.3.4.1.22": 24, "2.16.840.1.101.3.4.1.42": 32}


class ScepError(CertError):
    """The server answered, but not with something we accept: a refusal, a bad or forged reply (CA_REJECTED)."""


class ScepUnreachable(CertError):
    """No usable answer: bad address, connection refused, timeout, HTTP 5xx (CA_UNREACHABLE: try again later).

    Not a ScepError, so that ``except ScepError`` can never take an outage for a refusal."""


@dataclass(frozen=True)
class Reply:
    """A verified CertRep. ``certificate`` (SUCCESS only) is for the CSR's key; ``chain`` its issuers, nearest
    first, from the reply and GetCACert; ``fail_info`` (FAILURE only) one of _FAIL_INFOS' names."""

    status: str
    transaction_id: str
    certificate: x509.Certificate | None = None
    chain: tuple = ()
    fail_info: str | None = None


# --- HTTP --------------------------------------------------------------------------------------


def get_ca_caps(url: str, timeout: float = 30.0, cafile: str = "") -> set[str]:
    """The server's capabilities, upper-cased ("POSTPKIOPERATION", "SHA-256", "AES", ...)."""
    try:
        body = _http(url, "GetCACaps", timeout=timeout, cafile=cafile)[1]
    except ScepError:  # servers older than GetCACaps answer it with an HTTP error: they have no capabilities
        return set()
    return {line.strip().upper() for line in body.decode("ascii", "replace").splitlines() if line.strip()}


def get_ca_certs(url: str, timeout: float = 30.0, cafile: str = "") -> list[x509.Certificate]:
    """GetCACert: the CA certificate, or the CA chain and RA certificates (a degenerate PKCS#7)."""
    content_type, body = _http(url, "GetCACert", timeout=timeout, cafile=cafile)
    try:
        if content_type == "application/x-x509-ca-ra-cert":
            return load_der_pkcs7_certificates(body)
        return [x509.load_der_x509_certificate(body)]
    except ValueError:
        raise ScepError(
            "the SCEP server %s answered GetCACert (%s) with no certificate" % (url, content_type)
        ) from None


def enroll(
    url: str,
    *,
    csr: x509.CertificateSigningRequest,
    signer_key: rsa.RSAPrivateKey,
    signer_cert: x509.Certificate,
    ca_certs: list[x509.Certificate],
    caps: set[str],
    message_type: int,
    transaction_id: str | None = None,
    timeout: float = 30.0,
    cafile: str = "",
) -> Reply:
    """Send a PKCSReq, RenewalReq or CertPoll and return the server's verified reply.

    The signer is ``throwaway_signer`` for a PKCSReq, the current certificate and key for a RenewalReq (the CSR
    may have a new key); the server encrypts its reply to it, so a CertPoll must use the same signer and the
    ``transaction_id`` of the first reply. A challenge goes into the CSR first (``csr_with_challenge``)."""
    if message_type not in (PKCS_REQ, RENEWAL_REQ, CERT_POLL):
        raise CertError("unknown SCEP message type %r" % (message_type,))
    if not isinstance(signer_key, rsa.RSAPrivateKey):  # SCEP's replies are encrypted to the signer: RSA only
        raise CertError("SCEP needs an RSA key to sign the request and open the reply")
    transaction_id = transaction_id or _default_transaction_id(csr)
    nonce = os.urandom(16)
    message = _request(message_type, csr, transaction_id, nonce, signer_key, signer_cert, ca_certs, caps)
    if caps & {"POSTPKIOPERATION", "SCEPSTANDARD"}:
        body = _http(url, "PKIOperation", timeout=timeout, cafile=cafile, body=message)[1]
    else:
        encoded = base64.b64encode(message).decode()
        body = _http(url, "PKIOperation", timeout=timeout, cafile=cafile, message=encoded)[1]
    signers = server_certificates(ca_certs)[1]
    try:
        return _reply(body, signers, signer_key, signer_cert, transaction_id, nonce, csr, ca_certs)
    except ScepError:
        raise
    except (ValueError, IndexError, TypeError):  # the parser walked off a structure that is not a CertRep
        raise ScepError("the SCEP server %s answered PKIOperation with a malformed message" % url) from None


def _http(
    url: str, operation: str, *, timeout: float, cafile: str, message: str | None = None, body: bytes | None = None
):
    """(content type, body) of the server's answer to ``operation``; ScepUnreachable when there is none.
    ``cafile``: the CA certificate an https:// server's must chain to (else the system's). One request on its own
    connection (http.client): a redirect is an answer like any other, never followed to another server."""
    parts = urllib.parse.urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = -1
    if parts.scheme not in ("http", "https") or not parts.hostname or port == -1:
        raise CertError("the SCEP URL must be http://HOST[:PORT]/... or https://HOST[:PORT]/..., got %r" % url)
    query = urllib.parse.urlencode({"operation": operation, **({"message": message} if message else {})})
    target = (parts.path or "/") + "?" + (parts.query + "&" if parts.query else "") + query
    headers = {"Content-Type": "application/x-pki-message"} if body is not None else {}
    if parts.scheme == "https":
        try:
            context = ssl.create_default_context(cafile=cafile or None)
        except (OSError, ssl.SSLError) as error:
            raise CertError("the SCEP server's CA file %s cannot be used: %s" % (cafile, error)) from None
        connection: http.client.HTTPConnection = http.client.HTTPSConnection(
            parts.hostname, port, timeout=timeout, context=context
        )
    else:
        connection = http.client.HTTPConnection(parts.hostname, port, timeout=timeout)
    # ``timeout`` bounds each read; the watchdog bounds the whole exchange, so a server that answers a byte at a
    # time cannot hold the renewal run (and the store's lock) for longer
    watchdog = threading.Timer(timeout, _cut, (connection,))
    watchdog.start()
    try:
        connection.request("POST" if body is not None else "GET", target, body=body, headers=headers)
        response = connection.getresponse()
        data = response.read(_MAX_REPLY + 1)
        content_type = response.headers.get_content_type()
    except (OSError, http.client.HTTPException) as error:  # refused, timeout, reset, DNS, TLS
        reason = "no answer within %g s" % timeout if not watchdog.is_alive() else error
        raise ScepUnreachable("the SCEP server %s did not answer %s: %s" % (url, operation, reason)) from None
    finally:
        watchdog.cancel()
        connection.close()
    if response.status != 200:
        said = data[:200].decode("utf-8", "replace").strip()
        text = "the SCEP server %s answered %s with HTTP %d%s" % (
            url,
            operation,
            response.status,
            ": " + said if said else "",
        )
        raise (ScepUnreachable if response.status >= 500 else ScepError)(text)
    if len(data) > _MAX_REPLY:
        raise ScepError("the SCEP server %s answered %s with more than %d bytes" % (url, operation, _MAX_REPLY))
    return content_type, data


def _cut(connection: http.client.HTTPConnection) -> None:
    """End an exchange that ran out of time: a blocked read returns at once."""
    sock = connection.sock
    if sock is not None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


# --- what a caller prepares ----------------------------------------------------------------------


def csr_with_challenge(csr: x509.CertificateSigningRequest, key, challenge: str) -> x509.CertificateSigningRequest:
    """``csr`` again (subject, extensions), signed by ``key``, with the challengePassword attribute.

    The challenge is a secret: nothing here logs it or puts it in a message."""
    builder = x509.CertificateSigningRequestBuilder().subject_name(csr.subject)
    for extension in csr.extensions:
        builder = builder.add_extension(extension.value, extension.critical)
    builder = builder.add_attribute(AttributeOID.CHALLENGE_PASSWORD, challenge.encode())
    return builder.sign(key, signing_hash(key))


def throwaway_signer(key, subject: x509.Name) -> x509.Certificate:
    """A self-signed certificate for ``key``, to sign a PKCSReq (the requester has no certificate yet) and
    receive the reply encrypted to it, as certmonger does. Keep it while the request is pending, to poll."""
    now = datetime.datetime.now(datetime.timezone.utc)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=30))
        .sign(key, hashes.SHA256())
    )


def server_certificates(ca_certs: list[x509.Certificate]) -> tuple[x509.Certificate, list[x509.Certificate]]:
    """(the certificate requests are encrypted to, the certificates a reply may be signed by).

    Behind an RA, GetCACert adds RA certificates (not CAs): requests go to one allowing keyEncipherment,
    replies come signed by one allowing digitalSignature. What no RA certificate may do, the CA does."""
    if not ca_certs:
        raise CertError("the SCEP server sent no CA certificate")
    cas = [cert for cert in ca_certs if is_ca_certificate(cert)]
    ras = [cert for cert in ca_certs if cert not in cas]
    recipient = next((cert for cert in ras if _allows(cert, "key_encipherment")), None) or _issuing_ca(ca_certs)
    return recipient, [cert for cert in ras if _allows(cert, "digital_signature")] or cas or list(ca_certs)


def thumbprints(cert: x509.Certificate) -> dict[str, str]:
    """MD5, SHA-1 and SHA-256 fingerprints as certmonger shows them ("A67C2D4B 771AC186 ..."), for a person
    to compare with the CA's before trusting GetCACert's unauthenticated answer."""
    named = {"md5": hashes.MD5(), "sha1": hashes.SHA1(), "sha256": hashes.SHA256()}
    hexes = {name: cert.fingerprint(algorithm).hex().upper() for name, algorithm in named.items()}
    return {name: " ".join(text[i : i + 8] for i in range(0, len(text), 8)) for name, text in hexes.items()}


def _allows(cert: x509.Certificate, usage: str) -> bool:
    key_usage = key_usage_of(cert)
    return key_usage is None or getattr(key_usage, usage)


def _issuing_ca(ca_certs: list[x509.Certificate]) -> x509.Certificate:
    """The CA of a chain that issued none of the others: the one that issues our certificates."""
    cas = [cert for cert in ca_certs if is_ca_certificate(cert)] or list(ca_certs)
    return next((c for c in cas if not any(o.issuer == c.subject and o != c for o in cas)), cas[0])


def _default_transaction_id(csr: x509.CertificateSigningRequest) -> str:
    """A hash of the public key (RFC 8894 3.2.1.1): the same request keeps its transaction across runs."""
    spki = csr.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return _digest("SHA256", spki).hex().upper()


def _digest(hash_name: str, data: bytes) -> bytes:
    digest = hashes.Hash(getattr(hashes, hash_name)())
    digest.update(data)
    return digest.finalize()


# --- DER: just what SCEP's two CMS structures need -----------------------------------------------


def _der(tag: int, content: bytes) -> bytes:
    size = len(content)
    if size < 0x80:
        return bytes((tag, size)) + content
    length = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes((tag, 0x80 | len(length))) + length + content


def _seq(*items: bytes) -> bytes:
    return _der(0x30, b"".join(items))


def _set(*items: bytes) -> bytes:
    return _der(0x31, b"".join(sorted(items)))  # DER orders a SET OF by the encodings of its members


def _int(value: int) -> bytes:
    return _der(0x02, value.to_bytes(value.bit_length() // 8 + 1, "big", signed=True))


def _oid(dotted: str) -> bytes:
    first, second, *rest = map(int, dotted.split("."))
    body = b""
    for arc in (40 * first + second, *rest):
        count = max(1, (arc.bit_length() + 6) // 7)  # base-128 digits, the high bit set on all but the last
        body += bytes((arc >> 7 * i) & 0x7F | (0x80 if i else 0) for i in reversed(range(count)))
    return _der(0x06, body)


def _algorithm(oid: str) -> bytes:
    return _seq(_oid(oid), _der(0x05, b""))


def _attribute(oid: str, value: bytes) -> bytes:
    return _seq(_oid(oid), _set(value))


@dataclass(frozen=True)
class _Node:
    """One parsed DER element: its tag, its content and its whole encoding."""

    tag: int
    content: bytes
    raw: bytes

    def items(self) -> list[_Node]:
        nodes, pos = [], 0
        while pos < len(self.content):
            node = _read(self.content, pos)
            nodes.append(node)
            pos += len(node.raw)
        return nodes

    def oid(self) -> str:
        if len(self.content) > _MAX_OID:  # every OID SCEP uses is short; a long one is an attack on this loop
            raise ValueError("an OBJECT IDENTIFIER of %d bytes" % len(self.content))
        arcs, value = [], 0
        for byte in self.content:
            value = (value << 7) | (byte & 0x7F)
            if not byte & 0x80:
                arcs.append(value)
                value = 0
        first = min(arcs[0] // 40, 2)
        return ".".join(map(str, (first, arcs[0] - 40 * first, *arcs[1:])))


def _read(data: bytes, pos: int = 0) -> _Node:
    """The element at ``pos``; definite lengths only (DER), as every SCEP server we know sends."""
    tag, size, start = data[pos], data[pos + 1], pos + 2
    if size & 0x80:
        count = size & 0x7F
        if not 0 < count <= 4:
            raise ScepError("the SCEP reply is not DER (indefinite or oversized length)")
        size, start = int.from_bytes(data[start : start + count], "big"), start + count
    if start + size > len(data):
        raise ScepError("the SCEP reply is truncated")
    return _Node(tag, data[start : start + size], data[pos : start + size])


def _tbs_fields(cert: x509.Certificate) -> list[_Node]:
    """tbsCertificate's fields after the version: serial, signature, issuer, validity, subject, ..."""
    fields = _read(cert.public_bytes(serialization.Encoding.DER)).items()[0].items()
    return fields[1:] if fields[0].tag == 0xA0 else fields


def _issuer_and_serial(cert: x509.Certificate) -> bytes:
    """IssuerAndSerialNumber with the issuer's bytes as in the certificate: servers compare them verbatim."""
    fields = _tbs_fields(cert)
    return _seq(fields[2].raw, fields[0].raw)  # issuer, serialNumber


# --- CMS: the request we send and the reply we open --------------------------------------------


def _cipher(oid: str, key: bytes):
    if len(key) != _KEY_SIZES.get(oid):
        raise ScepError("the SCEP reply uses an unknown cipher or a wrong key size (%s)" % oid)
    if oid.startswith("2.16.840.1.101.3.4.1."):
        return algorithms.AES(key)
    return TripleDES(key * 3 if len(key) == 8 else key)  # single DES is 3DES with one key three times


def _envelope(data: bytes, recipient: x509.Certificate, cipher_oid: str) -> bytes:
    """EnvelopedData: ``data`` encrypted for ``recipient``'s RSA key (PKCS#1 v1.5 key transport)."""
    public_key = recipient.public_key()
    if not isinstance(public_key, rsa.RSAPublicKey):
        raise ScepError("the SCEP server's encryption certificate has no RSA key")
    key = os.urandom(_KEY_SIZES[cipher_oid])
    algorithm = _cipher(cipher_oid, key)
    iv = os.urandom(algorithm.block_size // 8)
    padder = padding.PKCS7(algorithm.block_size).padder()
    encryptor = Cipher(algorithm, modes.CBC(iv)).encryptor()
    encrypted = encryptor.update(padder.update(data) + padder.finalize()) + encryptor.finalize()
    encrypted_key = public_key.encrypt(key, PKCS1v15())
    recipient_info = _seq(
        _int(0), _issuer_and_serial(recipient), _algorithm(_RSA_ENCRYPTION), _der(0x04, encrypted_key)
    )
    content = _seq(_oid(_DATA), _seq(_oid(cipher_oid), _der(0x04, iv)), _der(0x80, encrypted))
    return _seq(_oid(_ENVELOPED_DATA), _der(0xA0, _seq(_int(0), _set(recipient_info), content)))


def _open_envelope(data: bytes, key: rsa.RSAPrivateKey, cert: x509.Certificate) -> bytes:
    """The content of an EnvelopedData encrypted to ``cert`` (whose key is ``key``)."""
    kind, wrapped = _read(data).items()
    if kind.oid() != _ENVELOPED_DATA:
        raise ScepError("the SCEP reply's content is not an EnvelopedData")
    fields = [node for node in wrapped.items()[0].items()[1:] if node.tag in (0x30, 0x31)]  # no originator
    recipient_infos, encrypted_info = fields[:2]
    # KeyTransRecipientInfo: version, IssuerAndSerialNumber, keyEncryptionAlgorithm, encryptedKey
    ours = [info.items() for info in recipient_infos.items() if info.items()[1].raw == _issuer_and_serial(cert)]
    if not ours:
        raise ScepError("the SCEP reply is not encrypted to our certificate")
    content_key = key.decrypt(ours[0][3].content, PKCS1v15())
    cipher_info, body = encrypted_info.items()[1:3]  # after the content type
    cipher_oid, iv = cipher_info.items()[:2]
    algorithm = _cipher(cipher_oid.oid(), content_key)
    encrypted = body.content if body.tag == 0x80 else b"".join(part.content for part in body.items())
    decryptor = Cipher(algorithm, modes.CBC(iv.content)).decryptor()
    unpadder = padding.PKCS7(algorithm.block_size).unpadder()
    return unpadder.update(decryptor.update(encrypted) + decryptor.finalize()) + unpadder.finalize()


def _signed_data(content: bytes, key: rsa.RSAPrivateKey, cert: x509.Certificate, hash_name: str, attributes) -> bytes:
    """SignedData over ``content`` with the SCEP ``attributes`` among the signed attributes, ``cert`` included."""
    hash_oid = next(oid for oid, name in _HASHES.items() if name == hash_name)
    signed = _set(
        _attribute(_CONTENT_TYPE, _oid(_DATA)),
        _attribute(_MESSAGE_DIGEST, _der(0x04, _digest(hash_name, content))),
        *attributes,
    )
    signature = key.sign(signed, PKCS1v15(), getattr(hashes, hash_name)())  # over the SET, stored as [0]
    signer_info = _seq(
        _int(1),
        _issuer_and_serial(cert),
        _algorithm(hash_oid),
        b"\xa0" + signed[1:],
        _algorithm(_RSA_ENCRYPTION),
        _der(0x04, signature),
    )
    body = _seq(
        _int(1),
        _set(_algorithm(hash_oid)),
        _seq(_oid(_DATA), _der(0xA0, _der(0x04, content))),
        _der(0xA0, cert.public_bytes(serialization.Encoding.DER)),
        _set(signer_info),
    )
    return _seq(_oid(_SIGNED_DATA), _der(0xA0, body))


def _open_signed_data(data: bytes, signers: list[x509.Certificate]) -> tuple[dict[str, _Node], bytes]:
    """(signed attributes by OID, content) of a SignedData that one of ``signers`` signed; ScepError if none."""
    kind, wrapped = _read(data).items()
    if kind.oid() != _SIGNED_DATA:
        raise ScepError("the SCEP reply is not a SignedData")
    fields = wrapped.items()[0].items()
    encapsulated, signer_infos = fields[2].items(), fields[-1].items()
    content = encapsulated[1].items()[0].content if len(encapsulated) > 1 else b""
    if len(signer_infos) != 1:
        raise ScepError("the SCEP reply has %d signers, not one" % len(signer_infos))
    # version, sid, digestAlgorithm, signedAttrs, signatureAlgorithm, signature
    signer_info = signer_infos[0].items()
    digest_algorithm, signed, signature = signer_info[2], signer_info[3], signer_info[5]
    hash_name = _HASHES.get(digest_algorithm.items()[0].oid())
    if signed.tag != 0xA0 or hash_name is None:
        raise ScepError("the SCEP reply has no signed attributes, or an unknown digest algorithm")
    # Who signed is decided by the signature alone, with the certificates we trust: the reply's own are not.
    to_verify = b"\x31" + signed.raw[1:]
    if not any(_verifies(cert, signature.content, to_verify, hash_name) for cert in signers):
        raise ScepError("the SCEP reply is not signed by the server's CA or RA certificate")
    attributes = {attribute.items()[0].oid(): attribute.items()[1].items()[0] for attribute in signed.items()}
    if _MESSAGE_DIGEST not in attributes or attributes[_MESSAGE_DIGEST].content != _digest(hash_name, content):
        raise ScepError("the SCEP reply's messageDigest does not match its content")
    return attributes, content


def _verifies(cert: x509.Certificate, signature: bytes, data: bytes, hash_name: str) -> bool:
    key, algorithm = cert.public_key(), getattr(hashes, hash_name)()
    try:
        if isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, data, PKCS1v15(), algorithm)
        elif isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, data, ec.ECDSA(algorithm))
        else:
            return False
    except InvalidSignature:
        return False
    return True


def _request(message_type, csr, transaction_id, nonce, signer_key, signer_cert, ca_certs, caps) -> bytes:
    """The PKIMessage: the CSR (for a CertPoll, IssuerAndSubject) encrypted to the server, signed by us."""
    content = csr.public_bytes(serialization.Encoding.DER)
    if message_type == CERT_POLL:  # IssuerAndSubject: the CA's name and the requested subject name
        content = _seq(_tbs_fields(_issuing_ca(ca_certs))[4].raw, _read(content).items()[0].items()[1].raw)
    cipher = _AES_128 if caps & {"AES", "SCEPSTANDARD"} else _DES3
    envelope = _envelope(content, server_certificates(ca_certs)[0], cipher)
    attributes = [
        _attribute(_MESSAGE_TYPE, _der(0x13, str(message_type).encode())),
        _attribute(_TRANSACTION_ID, _der(0x13, transaction_id.encode("ascii"))),
        _attribute(_SENDER_NONCE, _der(0x04, nonce)),
    ]
    hash_name = "SHA256" if caps & {"SHA-256", "SCEPSTANDARD"} else "SHA1"
    return _signed_data(envelope, signer_key, signer_cert, hash_name, attributes)


def _reply(data, signers, signer_key, signer_cert, transaction_id, nonce, csr, ca_certs) -> Reply:
    """The Reply of a CertRep, once it proved to answer our very request; ScepError otherwise."""
    attributes, content = _open_signed_data(data, signers)

    def text(oid: str) -> str | None:
        return attributes[oid].content.decode("ascii", "replace") if oid in attributes else None

    if text(_MESSAGE_TYPE) != "3":
        raise ScepError("the SCEP reply is not a CertRep (messageType %s)" % text(_MESSAGE_TYPE))
    if text(_TRANSACTION_ID) != transaction_id:
        raise ScepError("the SCEP reply is for another transaction")
    if _RECIPIENT_NONCE not in attributes or attributes[_RECIPIENT_NONCE].content != nonce:
        raise ScepError("the SCEP reply does not answer our request (recipientNonce differs from our nonce)")
    status = _STATUSES.get(text(_PKI_STATUS))
    if status is None:
        raise ScepError("the SCEP reply has an unknown pkiStatus %r" % text(_PKI_STATUS))
    if status == FAILURE:
        fail_info = text(_FAIL_INFO)
        return Reply(status, transaction_id, fail_info=_FAIL_INFOS.get(fail_info, "unknown (%s)" % fail_info))
    if status == PENDING:
        return Reply(status, transaction_id)
    issued = load_der_pkcs7_certificates(_open_envelope(content, signer_key, signer_cert))
    leaf = next((cert for cert in issued if same_public_key(cert.public_key(), csr.public_key())), None)
    if leaf is None:
        raise ScepError("the SCEP reply holds no certificate for the requested key")
    return Reply(status, transaction_id, certificate=leaf, chain=_chain(leaf, issued + list(ca_certs)))


def _chain(leaf: x509.Certificate, pool: list[x509.Certificate]) -> tuple:
    """``leaf``'s issuers from ``pool``, nearest first, each checked to have signed the one before."""
    chain, current = [], leaf
    while current.issuer != current.subject:
        issuer = next((cert for cert in pool if cert not in chain and _issued(current, cert)), None)
        if issuer is None:
            break
        chain.append(issuer)
        current = issuer
    return tuple(chain)


def _issued(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True
