"""Deliberately weak or misused certificates for hygiene tests, built with ``cryptography``."""

from __future__ import annotations

import datetime
import os
import subprocess
import tempfile

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID


def self_signed_ca(key=None, hash_algorithm=None, common_name="weak CA", ca=True):
    """A self-signed certificate (CA:TRUE unless ``ca`` is False), signed with ``hash_algorithm``."""
    key = key or rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
            .sign(key, hash_algorithm or hashes.SHA256()))
    return key, cert


def rsa_1024():
    return rsa.generate_private_key(public_exponent=65537, key_size=1024)


def sha1_ca(common_name="sha1 CA"):
    """(key PEM, certificate PEM) of a CA:TRUE root signed with SHA-1: made by openssl, since
    ``cryptography`` no longer signs with SHA-1."""
    with tempfile.TemporaryDirectory() as directory:
        key, cert = os.path.join(directory, "k"), os.path.join(directory, "c")
        subprocess.run(["openssl", "req", "-x509", "-sha1", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
                        "-out", cert, "-subj", "/CN=" + common_name, "-days", "365",
                        "-addext", "basicConstraints=critical,CA:TRUE"], check=True, capture_output=True)
        return open(key, "rb").read(), open(cert, "rb").read()


def pem(key) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())
