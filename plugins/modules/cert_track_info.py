#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) certkeeper.pki contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: cert_track_info
short_description: List tracked certificates and their status, like getcert list
version_added: 0.1.0
description:
  - Reads the host's tracking store and the tracked certificates, and returns what C(certkeeper list --json) shows.
author:
  - certkeeper.pki contributors (@certkeeper)
extends_documentation_fragment:
  - certkeeper.pki.attributes
  - certkeeper.pki.attributes.info_module
options:
  id:
    description: Only this request.
    type: str
  store:
    description: Tracking store directory on the host.
    type: path
    default: /var/lib/certkeeper
"""

EXAMPLES = r"""
- name: What is tracked, and is anything stuck?
  certkeeper.pki.cert_track_info:
  register: tracked

- name: Fail when a certificate needs a person
  ansible.builtin.assert:
    that: tracked.requests | selectattr('stuck') | list | length == 0
    fail_msg: "{{ tracked.requests | selectattr('stuck') | map(attribute='request_id') | list }} need attention"
"""

RETURN = r"""
requests:
  description:
    - One entry per tracked request (request_id, status, stuck, key_location, cert_location, ca, ca_name, issuer,
      subject, expires, dns, ip, key_usage, eku, pre_save_command, post_save_command, track, auto_renew,
      last_error, last_renewed, outputs, serial_number), read from the record and the certificate on disk.
    - C(certificate) holds the certificate's facts in the shape every certkeeper result uses (subject, issuer,
      serial_number, not_before, not_after, subject_alt_names, key_usage, extended_key_usage,
      fingerprint_sha256), dates in ISO 8601 UTC; null when there is no certificate to read. C(expires) is its
      C(not_after), C(renew_at) the moment it becomes due (ISO 8601 UTC). C(kind) is C(certificate).
  returned: always
  type: list
  elements: dict
crls:
  description:
    - One entry per tracked CRL (C(kind) C(crl)), such as the C(root.crl) the pg_mtls_certs module installs with
      O(ignore:track) set. Its fields are request_id, status (C(MONITORING), or C(NEED_CA) once it enters its
      renewal window on a host without the CA key, or expired), stuck, crl_location, ca_certificate, ca (C(local)
      where the CA key is on the host and the certkeeper timer re-signs it, C(ansible) where playbook runs install
      it), post_save_command, last_error, last_renewed, and from the CRL on disk issuer, crl_number, revoked (how
      many it lists), last_update and next_update (ISO 8601 UTC, empty when it cannot be read).
  returned: always
  type: list
  elements: dict
  version_added: 0.3.0
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.certkeeper.pki.plugins.module_utils._core.option_specs import DEFAULT_STORE
from ansible_collections.certkeeper.pki.plugins.module_utils._host.module_shell import run_module
from ansible_collections.certkeeper.pki.plugins.module_utils._tracking.modules import run_cert_track_info


def main():
    module = AnsibleModule(
        argument_spec=dict(id=dict(type="str"), store=dict(type="path", default=DEFAULT_STORE)),
        supports_check_mode=True,
    )
    run_module(module, run_cert_track_info)


if __name__ == "__main__":
    main()
