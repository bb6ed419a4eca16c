# -*- coding: utf-8 -*-
# Copyright (c) certkeeper.pki contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: pg_mtls_signing_requests
short_description: Collect the pending CSRs of a play into one batch for the CA
version_added: 0.1.0
description:
  - Used by the C(pg_mtls) role to sign every pending certificate in one call on the CA host.
  - Names (profile, CN, SANs) are taken from the C(identity) that the C(pg_mtls_certs) action sets on the
    controller from the task's own arguments (the inventory); only the CSR comes from the host, so a host
    cannot ask for another host's or user's name.
extends_documentation_fragment:
  - certkeeper.pki.hostvars
options:
  _input:
    description: Inventory host names to look at (usually C(ansible_play_hosts)).
    type: list
    elements: str
    required: true
  result_var:
    description: Name of the variable holding each host's C(pg_mtls_certs) result.
    type: str
    required: true
"""

EXAMPLES = r"""
- name: Sign every pending CSR in one call
  certkeeper.pki.pg_mtls_certs:
    role: ca
    path: /root/certkeeper-ca
    sign: "{{ ansible_play_hosts | certkeeper.pki.pg_mtls_signing_requests(hostvars, 'pg_mtls_csr') }}"
"""

RETURN = r"""
_value:
  description: One C(sign) entry (name, csr, profile, common_name, subject_alt_names, valid_days) per host that needs a
    certificate.
  type: list
  elements: dict
"""


def pg_mtls_signing_requests(hosts, hostvars, result_var):
    requests = []
    for host in hosts:
        result = hostvars[host].get(result_var) or {}
        if result.get("certificate_needed"):
            identity = result["identity"]
            requests.append(
                {
                    "name": host,
                    "csr": result["csr"],
                    "profile": identity["profile"],
                    "common_name": identity["common_name"],
                    "subject_alt_names": list(identity.get("subject_alt_names") or []),
                    "valid_days": identity.get("valid_days"),
                }
            )
    return requests


class FilterModule:
    def filters(self):
        return {"pg_mtls_signing_requests": pg_mtls_signing_requests}
