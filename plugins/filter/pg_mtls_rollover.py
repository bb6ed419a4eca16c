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
"""

EXAMPLES = r"""
- name: CA host - record what the hosts hold
  certkeeper.pki.pg_mtls_certs:
    role: ca
    path: /root/certkeeper-ca/postgresql
    ca_generation: 2
    rollover_report: "{{ ansible_play_hosts | certkeeper.pki.pg_mtls_rollover_report(hostvars, pg_mtls_ca.rollover) }}"
  delegate_to: db1
  run_once: true
"""

RETURN = r"""
_value:
  description: The C(rollover_report) option of C(pg_mtls_certs), C({generation, phase, hosts}); C(hosts) maps each
    host to the serial number of the certificate in force (hex).
  type: dict
"""


def _serial(result) -> str | None:
    """The serial of the certificate a pg_mtls_certs call left in force, or None (skipped, or no certificate)."""
    if not isinstance(result, dict) or result.get("skipped") or result.get("failed"):
        return None
    certificate = result.get("certificate")
    return certificate.get("serial_number") if isinstance(certificate, dict) else None


def pg_mtls_rollover_report(hosts, hostvars, rollover):
    served = {}
    for host in hosts:
        variables = hostvars[host]
        serial = _serial(variables.get("pg_mtls_installed")) or _serial(variables.get("pg_mtls_csr"))
        if serial:
            served[host] = serial
    return {"generation": rollover["generation"], "phase": rollover["phase"], "hosts": served}


class FilterModule:
    def filters(self):
        return {"pg_mtls_rollover_report": pg_mtls_rollover_report}
