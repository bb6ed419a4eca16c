#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) certkeeper.pki contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: signing_cert
short_description: A signing or SSL certificate as <FriendlyName>.pfx, like generateCertificate.ps1
version_added: 0.1.0
description:
  - Makes and keeps a password-protected PKCS#12 file C(<friendly_name>.pfx) in O(path), holding a private key
    and its certificate for O(subject) and O(subject_alt_names), as the YSoft SafeQ script
    C(generateCertificate.ps1 -Subject -FriendlyName -Password -SubjectAlternativeNames) does.
  - The PKCS#12 carries O(friendly_name) as its bag attribute and is readable by openssl, Java's KeyStore,
    .NET and C(cryptography).
  - Decides by opening the existing file with O(password), never by comparing bytes. Regenerates (with a new key)
    when the subject, SANs, profile, key type or issuer differ, inside the renewal window, or on O(force);
    check mode and C(--diff) give the reason.
  - With O(pfx_content), installs a PFX made elsewhere (the C(signing_cert) role's way of putting one
    certificate on every host of a group); a host holding another certificate is reported as drift and replaced.
author:
  - certkeeper.pki contributors (@certkeeper)
extends_documentation_fragment:
  - certkeeper.pki.attributes
  - certkeeper.pki.private_key
  - certkeeper.pki.server_validity
attributes:
  check_mode:
    support: full
    details: Reports every change and its reason; writes nothing.
  diff_mode:
    support: full
    details: Describes each file before and after; never the key or password.
  idempotent:
    support: full
    details: A rerun with the same options rewrites nothing.
  safe_file_operations:
    support: full
    details: Temp file in the same directory with final owner and mode, fsync, rename.
options:
  state:
    description: V(present) keeps the certificate; V(absent) removes C(<friendly_name>.pfx) and its C(.cer)/C(.crt).
    type: str
    choices: [present, absent]
    default: present
  path:
    description: Directory of C(<friendly_name>.pfx); created (0755) when missing.
    type: path
    required: true
  friendly_name:
    description:
      - The name shown in the Windows certificate store, and the file name C(<friendly_name>.pfx).
      - "Must be a safe file name: no path separators, C(..), control characters or any of C(: * ? \" < > |)."
    type: str
    required: true
  subject:
    description:
      - The certificate's subject. A bare value becomes the CN (the FQDN is the preferred form);
        C(CN=x,O=y,C=CZ) is read as a distinguished name, which must contain one CN.
      - Required unless O(pfx_content) or O(state=absent).
    type: str
  subject_alt_names:
    description:
      - Every name and address clients use to connect, as C(DNS:name), C(IP:address) or bare names and
        addresses (IPv4 and IPv6). A wildcard only as the whole left-most label (C(*.company.com)).
    type: list
    elements: str
    default: []
  password:
    description: Password of the PFX. Keep it in Ansible Vault. Never shown in output.
    type: str
  allow_empty_password:
    description: Accept an empty O(password) (for consumers that need an unprotected PFX).
    type: bool
    default: false
  profile:
    description:
      - V(ssl) (default) sets key usage digitalSignature + keyEncipherment (keyAgreement for ECDSA) and extended key
        usage serverAuth + clientAuth, and needs at least one SAN unless O(allow_no_san).
      - V(signing) sets key usage digitalSignature only, for certificates that sign access tokens.
    type: str
    choices: [ssl, signing]
    default: ssl
  allow_no_san:
    description: Accept an O(profile=ssl) certificate without SANs (clients then match the CN, or fail).
    type: bool
    default: false
  valid_days:
    description: Validity of a new certificate, in days.
    type: int
    default: 365
  renew_before:
    description: Regenerate when fewer than this many days of validity are left.
    type: int
    default: 30
  ca_cert_path:
    description: CA certificate on the managed host that issues the certificate; self-signed when unset.
    type: path
  ca_key_path:
    description: Private key of O(ca_cert_path) on the managed host.
    type: path
  owner:
    description: Owner of the PFX.
    type: str
    default: root
  group:
    description: Group of the PFX.
    type: str
    default: root
  mode:
    description: Mode of the PFX (it holds the private key), V(0600) or V(0640).
    type: raw
    default: "0600"
  public_formats:
    description: Also write the public certificate as C(<friendly_name>.cer) (DER) and/or C(<friendly_name>.crt) (PEM), mode 0644.
    type: list
    elements: str
    choices: [cer, crt]
    default: []
  force:
    description: Regenerate (or, with O(pfx_content), replace) even when the existing file is fine or cannot be opened with O(password).
    type: bool
    default: false
  pfx_content:
    description: Base64 of a PFX to install as is (it must open with O(password)). Never shown in output.
    type: str
notes:
  - Requires the C(cryptography) Python library (42 or newer) on the managed host.
  - An existing PFX that does not open with O(password) is an error, never silently overwritten; set O(force) to replace it.
seealso:
  - name: Signing certificates with the signing_cert role
    description: docs/signing_cert.md in this collection.
    link: https://github.com/certkeeper/pki/blob/main/docs/signing_cert.md
"""

EXAMPLES = r"""
# The seed's example: generateCertificate.ps1 -Subject "YSoft SafeQ" -FriendlyName "YSoft SafeQ Signing Certificate"
#   -SubjectAlternativeNames "*.company.com", "1.2.3.4"
- name: The seed's example, made by Ansible
  certkeeper.pki.signing_cert:
    subject: YSoft SafeQ
    friendly_name: YSoft SafeQ Signing Certificate
    password: "{{ vault_safeq_pfx_password }}"
    subject_alt_names: ["*.company.com", "1.2.3.4"]
    path: /etc/certkeeper/safeq

- name: A token-signing certificate issued by a CA on the host, with the public part for verifiers
  certkeeper.pki.signing_cert:
    subject: CN=tokens.company.com,O=Company,C=CZ
    friendly_name: SafeQ Token Signing
    password: "{{ vault_safeq_pfx_password }}"
    profile: signing
    ca_cert_path: /etc/pki/company-ca.crt
    ca_key_path: /etc/pki/private/company-ca.key
    public_formats: [cer]
    path: /etc/certkeeper/safeq

- name: Remove it
  certkeeper.pki.signing_cert:
    friendly_name: YSoft SafeQ Signing Certificate
    path: /etc/certkeeper/safeq
    state: absent
"""

RETURN = r"""
changes:
  description: What changed (or would in check mode), one entry per file, with the reason.
  returned: always
  type: list
  elements: dict
  sample: [{"path": "/etc/certkeeper/safeq/YSoft SafeQ Signing Certificate.pfx", "action": "write", "reason": "missing"}]
path:
  description: Path of the PFX.
  returned: always
  type: str
friendly_name:
  description: The friendly name (and file name without C(.pfx)).
  returned: always
  type: str
thumbprint_sha1:
  description: SHA-1 thumbprint as Windows shows it (upper-case hex, no separators).
  returned: when O(state=present)
  type: str
thumbprint_sha256:
  description: SHA-256 thumbprint, upper-case hex.
  returned: when O(state=present)
  type: str
subject:
  description: Subject of the certificate (RFC 4514).
  returned: when O(state=present)
  type: str
subject_alt_names:
  description: SANs of the certificate, as C(DNS:x) / C(IP:x).
  returned: when O(state=present)
  type: list
  elements: str
not_after:
  description: End of validity (ISO 8601, UTC).
  returned: when O(state=present)
  type: str
key_usage:
  description: Key usages, e.g. V(digitalSignature), V(keyEncipherment).
  returned: when O(state=present)
  type: list
  elements: str
extended_key_usage:
  description: Extended key usages, e.g. V(serverAuth), V(clientAuth).
  returned: when O(state=present)
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.certkeeper.pki.plugins.module_utils._core.option_specs import (
    KEY_OPTIONS,
    SERVER_VALIDITY_OPTIONS,
    SUBJECT_ALT_NAMES_OPTION,
    VALIDITY_OPTIONS,
)
from ansible_collections.certkeeper.pki.plugins.module_utils._host.module_shell import run_module
from ansible_collections.certkeeper.pki.plugins.module_utils._signing_cert.run import run_signing_cert


def main():
    module = AnsibleModule(
        argument_spec=dict(
            state=dict(type="str", default="present", choices=["present", "absent"]),
            path=dict(type="path", required=True),
            friendly_name=dict(type="str", required=True),
            subject=dict(type="str"),
            password=dict(type="str", no_log=True),
            allow_empty_password=dict(type="bool", default=False, no_log=False),
            profile=dict(type="str", default="ssl", choices=["ssl", "signing"]),
            allow_no_san=dict(type="bool", default=False),
            ca_cert_path=dict(type="path"),
            ca_key_path=dict(type="path", no_log=False),
            owner=dict(type="str", default="root"),
            group=dict(type="str", default="root"),
            mode=dict(type="raw", default="0600"),
            public_formats=dict(type="list", elements="str", default=[], choices=["cer", "crt"]),
            force=dict(type="bool", default=False),
            pfx_content=dict(type="str", no_log=True),
            **KEY_OPTIONS,
            **VALIDITY_OPTIONS,
            **SERVER_VALIDITY_OPTIONS,
            **SUBJECT_ALT_NAMES_OPTION,
        ),
        required_together=[("ca_cert_path", "ca_key_path")],
        mutually_exclusive=[("pfx_content", "subject"), ("pfx_content", "ca_cert_path")],
        supports_check_mode=True,
    )
    run_module(module, run_signing_cert)


if __name__ == "__main__":
    main()
