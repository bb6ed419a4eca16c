# -*- coding: utf-8 -*-
# Copyright (c) certkeeper.pki contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one place ``cryptography`` is imported. Every other file takes its names from here.

A module reports a missing library in Ansible's words (``module_shell.run_module`` with
CRYPTOGRAPHY_IMPORT_ERROR); ansible-test imports module_utils without it, and a stamp's answer needs none
of it, so a missing library leaves each name None rather than failing the import."""

from __future__ import annotations

import traceback

# pylint: disable=unused-import  # every name is here for the other files to import
try:
    from cryptography import x509
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES  # SCEP servers still send it
    from cryptography.hazmat.primitives import hashes, hmac, padding, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa
    from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
    from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC
    from cryptography.hazmat.primitives.serialization import pkcs12
    from cryptography.hazmat.primitives.serialization.pkcs7 import load_der_pkcs7_certificates
    from cryptography.x509.oid import AttributeOID, ExtendedKeyUsageOID, NameOID
except ImportError:
    CRYPTOGRAPHY_IMPORT_ERROR: str | None = traceback.format_exc()
    x509 = InvalidSignature = hashes = hmac = padding = serialization = ec = rsa = None  # type: ignore
    Cipher = algorithms = modes = PBKDF2HMAC = pkcs12 = ExtendedKeyUsageOID = NameOID = None  # type: ignore
    TripleDES = PKCS1v15 = load_der_pkcs7_certificates = AttributeOID = None  # type: ignore
else:
    CRYPTOGRAPHY_IMPORT_ERROR = None

HAS_CRYPTOGRAPHY = CRYPTOGRAPHY_IMPORT_ERROR is None
