#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) certkeeper.pki contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: cert_track_ca
short_description: A SCEP CA configuration in the tracking store (getcert add-scep-ca, list-cas, remove-ca)
version_added: 0.3.0
description:
  - Keeps a SCEP CA configuration in the host's tracking store, as certmonger's C(getcert add-scep-ca) does. Requests
    tracked with C(certkeeper.pki.cert_track) and O(certkeeper.pki.cert_track#module:ca=scep) name it in
    O(certkeeper.pki.cert_track#module:scep_ca).
  - Adding it asks the server for its capabilities (GetCACaps) and its CA and RA certificates (GetCACert) and keeps
    them. Every reply to a request must then be signed by one of those certificates, and every certificate issued
    under them. Over plain HTTP that first answer is not authenticated, so compare the thumbprints this module
    returns (and C(certkeeper list-cas) shows) with the CA's, and give O(thumbprint) to make the run check it.
  - A configuration already there for the same O(url) and O(ca_file) is kept without asking the server again. When the
    server now sends other certificates than those kept, the task fails, naming their thumbprints, unless
    O(thumbprint) names one of the new ones. No run trusts a new CA silently.
  - O(state=absent) removes the configuration; a configuration that tracked requests use is not removed (the task
    fails naming them).
author:
  - certkeeper.pki contributors (@certkeeper)
extends_documentation_fragment:
  - certkeeper.pki.attributes
attributes:
  check_mode:
    support: full
    details: Asks the server (a read) when the configuration is new or its server changed; writes nothing.
  diff_mode:
    support: full
    details: Shows the configuration before and after (its certificates by subject).
  idempotent:
    support: full
    details: A rerun for the same server asks it nothing and changes nothing.
  safe_file_operations:
    support: full
    details: The configuration is written atomically, root-only.
options:
  name:
    description: The configuration's name (certmonger's CA nickname, C(-c)).
    type: str
    required: true
  state:
    description: V(present) adds or updates the configuration; V(absent) removes it.
    type: str
    choices: [present, absent]
    default: present
  url:
    description: The URL of the server's SCEP interface (C(-u)). Required for O(state=present).
    type: str
  ca_file:
    description: For an C(https://) URL, the CA certificate (PEM) the server's TLS certificate must chain to (C(-R)).
    type: path
    default: ""
  renewal_challenge:
    description:
      - Whether renewals carry the challenge password too. V(false) (the default, as for Microsoft NDES, whose PINs
        are one-time) forgets the challenge once the first certificate is issued; V(true) keeps it for renewals
        (micromdm's SCEP server checks it on renewals).
    type: bool
    default: false
  thumbprint:
    description:
      - The SHA-256 thumbprint (hex, spaces or colons allowed) of the server's CA certificate, as the CA publishes it.
        Every certificate the server sends must be that one or issued under it (its RA certificates, intermediates).
        Also accepts the server's certificates when they changed since the configuration was added.
    type: str
    default: ""
  store:
    description: Tracking store directory on the host.
    type: path
    default: /var/lib/certkeeper
seealso:
  - module: certkeeper.pki.cert_track
  - name: Tracking and renewal
    description: docs/cert_track.md (SCEP) in this collection.
    link: https://github.com/certkeeper/pki/blob/main/docs/cert_track.md
"""

EXAMPLES = r"""
- name: Add the company's SCEP CA (compare the thumbprints with the CA's)
  certkeeper.pki.cert_track_ca:
    name: SCEP_example
    url: http://scep.example.com/scep
    renewal_challenge: true
  register: scep_ca

- name: Show the thumbprints to compare
  ansible.builtin.debug:
    msg: "{{ scep_ca.ca.certificates | map(attribute='thumbprints') | list }}"
"""

RETURN = r"""
ca:
  description:
    - The configuration as C(certkeeper list-cas --json) shows it - name, ca_type, url, ca_file, renewal_challenge,
      capabilities, and certificates (subject, issuer, not_after, is_ca, and thumbprints md5, sha1 and sha256 in
      certmonger's format).
  returned: when O(state=present)
  type: dict
changes:
  description: What changed (or would in check mode), with the reason.
  returned: always
  type: list
  elements: dict
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.certkeeper.pki.plugins.module_utils._host.module_shell import run_module
from ansible_collections.certkeeper.pki.plugins.module_utils._tracking.modules import (
    CERT_TRACK_CA_ARGUMENT_SPEC,
    run_cert_track_ca,
)


def main():
    module = AnsibleModule(
        argument_spec=CERT_TRACK_CA_ARGUMENT_SPEC,
        required_if=[("state", "present", ("url",))],
        supports_check_mode=True,
    )
    run_module(module, run_cert_track_ca)


if __name__ == "__main__":
    main()
