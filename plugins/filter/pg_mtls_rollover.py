# -*- coding: utf-8 -*-
# Copyright (c) certkeeper.pki contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: pg_mtls_rollover_report
short_description: What the hosts of a play hold while the pg_mtls CA key rolls over
version_added: 0.1.0
description:
  - Used by the C(pg_mtls) role once every host installed its files and PostgreSQL reloaded, for the CA host to record
    which hosts hold both CAs (step 1 of a rollover) and which certificate each presents (step 2).
  - A host counts only if it is still in the play (its tasks succeeded) and its C(pg_mtls_certs) call ran as a server
    or a client (which checked its certificate against the CA that signs). The CA does not count a serial its index
    holds for another host, or from the old CA.
extends_documentation_fragment:
  - certkeeper.pki.hostvars
options:
  _input:
    description: Inventory host names (C(ansible_play_hosts)).
    type: list
    elements: str
    required: true
  rollover:
    description: The C(rollover) result of the CA call (C(generation), C(phase)).
    type: dict
    required: true
  result_vars:
    description:
      - Names of the variables holding each host's C(pg_mtls_certs) results of the run, the last call first (the
        install, then the first call); the first that ran tells the certificate in force.
    type: list
    elements: str
    default: [pg_mtls_installed, pg_mtls_csr]
"""

EXAMPLES = r"""
- name: CA host - record what the hosts hold
  certkeeper.pki.pg_mtls_certs:
    role: ca
    path: /root/certkeeper-ca/postgresql
    ca_generation: 2
    rollover_report: >-
      {{ ansible_play_hosts | certkeeper.pki.pg_mtls_rollover_report(hostvars, pg_mtls_ca.rollover,
                                                                     ['client_installed', 'client_tls']) }}
  delegate_to: db1
  run_once: true
"""

RETURN = r"""
_value:
  description: The C(rollover_report) option of C(pg_mtls_certs), C({generation, phase, hosts}); C(hosts) maps each
    host whose call succeeded to the serial number of the certificate in force (hex; empty while it waits for one).
  type: dict
"""


def _leaf_result(result) -> dict | None:
    """A pg_mtls_certs result of a server's or client's call that ran and succeeded, or None."""
    if (
        not isinstance(result, dict)
        or result.get("skipped")
        or result.get("failed")
        or "certificate_needed" not in result
    ):
        return None
    return result


def pg_mtls_rollover_report(hosts, hostvars, rollover, result_vars=("pg_mtls_installed", "pg_mtls_csr")):
    served = {}
    for host in hosts:
        results = [_leaf_result(hostvars[host].get(name)) for name in result_vars]
        result = next((found for found in results if found is not None), None)
        if result is not None:
            certificate = result.get("certificate")
            served[host] = certificate.get("serial_number", "") if isinstance(certificate, dict) else ""
    return {"generation": rollover["generation"], "phase": rollover["phase"], "hosts": served}


class FilterModule:
    def filters(self):
        return {"pg_mtls_rollover_report": pg_mtls_rollover_report}
