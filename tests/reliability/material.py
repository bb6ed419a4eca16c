"""The files and PEMs the bad-input cases point at, made next to a working Lab."""

from __future__ import annotations

import base64
import datetime
import os

from cryptography import x509
from cryptography.hazmat.primitives.serialization import BestAvailableEncryption, pkcs12

from ansible_collections.certkeeper.pki.plugins.module_utils._core import crypto
from ansible_collections.certkeeper.pki.plugins.module_utils._core.crypto import KeySpec
from tests.support.weak_material import pem, rsa_1024, self_signed_ca, sha1_ca

SIGNING_PASSWORD = "Signing-pw-4711-secret"


def _write(path: str, data: bytes, mode: int = 0o600) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as handle:
        handle.write(data)
    os.chmod(path, mode)


def _ca_dir(path: str, key_pem: bytes | None, cert_pem: bytes) -> str:
    os.makedirs(path, mode=0o700)
    if key_pem is not None:
        _write(os.path.join(path, "root.key"), key_pem)
    _write(os.path.join(path, "root.crt"), cert_pem, 0o644)
    return path


class LabMaterial:
    def __init__(self, lab):
        base = lab.base
        self.app1_dir, self.ssl_dir, self.ca_dir = lab.client_dir("app1"), lab.ssl_dir, lab.ca_dir
        self.ca_pem = open(os.path.join(lab.ca_dir, "root.crt")).read()
        self.leaf_pem = open(os.path.join(lab.ssl_dir, "server.crt")).read()
        self.signing_dir, self.signing_password = os.path.join(base, "signing"), SIGNING_PASSWORD
        self.track_dir, self.track_store = os.path.join(base, "track"), os.path.join(base, "store-track")
        os.makedirs(self.track_dir)
        self.bad = os.path.join(base, "bad")
        os.makedirs(self.bad, mode=0o700)

        ca_key = crypto.load_private_key(open(os.path.join(lab.ca_dir, "root.key"), "rb").read())
        ca_cert = crypto.load_certificate(self.ca_pem)
        app1_key = crypto.load_private_key(open(os.path.join(self.app1_dir, "client.key"), "rb").read())
        self.ca_true_leaf_pem = crypto.certificate_pem(_ca_true_certificate(ca_key, ca_cert, app1_key.public_key(),
                                                                            "app1")).decode()
        sha1_key, sha1_cert = sha1_ca()
        self.sha1_ca_pem = sha1_cert.decode()
        weak_key, weak_cert = self_signed_ca(rsa_1024(), common_name="weak CA")
        self.weak_ca_pem = crypto.certificate_pem(weak_cert).decode()
        other_key, other_cert = self_signed_ca(common_name="other CA")
        not_ca_key, not_ca_cert = self_signed_ca(common_name="not a CA", ca=False)
        lab_key_pem = open(os.path.join(lab.ca_dir, "root.key"), "rb").read()
        self.bad_ca = {
            "mismatch": _ca_dir(os.path.join(self.bad, "mismatch"), lab_key_pem, crypto.certificate_pem(other_cert)),
            "not-ca": _ca_dir(os.path.join(self.bad, "not-ca"), pem(not_ca_key), crypto.certificate_pem(not_ca_cert)),
            "truncated": _ca_dir(os.path.join(self.bad, "truncated"), lab_key_pem[:200], self.ca_pem.encode()),
            "cert-as-key": _ca_dir(os.path.join(self.bad, "cert-as-key"), self.ca_pem.encode(), self.ca_pem.encode()),
            "weak": _ca_dir(os.path.join(self.bad, "weak"), pem(weak_key), crypto.certificate_pem(weak_cert)),
            "no-key": _ca_dir(os.path.join(self.bad, "no-key"), None, self.ca_pem.encode()),
            "sha1": _ca_dir(os.path.join(self.bad, "sha1"), sha1_key, sha1_cert),
        }
        # a client directory whose key is a symbolic link to the working key
        self.symlink_dir = os.path.join(self.bad, "symlinked-client")
        os.makedirs(self.symlink_dir)
        os.symlink(os.path.join(self.app1_dir, "client.key"), os.path.join(self.symlink_dir, "client.key"))
        key = KeySpec().generate()
        ca_true = _ca_true_certificate(ca_key, ca_cert, key.public_key(), "sign.example.com")
        self.ca_true_pfx_b64 = base64.b64encode(pkcs12.serialize_key_and_certificates(
            b"Sign", key, ca_true, None, BestAvailableEncryption(b"Ca-true-pfx-123"))).decode()

    def tops(self, lab) -> list:
        """Every directory and file the cases could touch."""
        return [lab.ssl_dir, lab.ca_dir, lab.client_dir("app1"), lab.client_dir("app2"), self.signing_dir,
                self.track_dir, self.track_store, self.bad, os.path.join(lab.cluster.data, "postgresql.conf"),
                os.path.join(lab.cluster.data, "pg_hba.conf")] + [os.path.join(lab.base, "store-" + h)
                                                                  for h in ("db1", "app1", "app2")]

    def load_pfx(self):
        self.pfx_b64 = base64.b64encode(open(os.path.join(self.signing_dir, "Sign.pfx"), "rb").read()).decode()


def _ca_true_certificate(ca_key, ca_cert, public_key, common_name):
    """A certificate for ``public_key`` that wrongly says CA:TRUE, signed by the lab's CA."""
    now = datetime.datetime.now(datetime.timezone.utc)
    return (x509.CertificateBuilder().subject_name(x509.Name.from_rfc4514_string("CN=" + common_name))
            .issuer_name(ca_cert.subject).public_key(public_key).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=90))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH,
                                                  x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(ca_key, crypto.signing_hash(ca_key)))
