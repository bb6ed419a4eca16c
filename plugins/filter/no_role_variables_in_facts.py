# -*- coding: utf-8 -*-
# Copyright (c) certkeeper.pki contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.certkeeper.pki.plugins.plugin_utils.host_facts import injection_problem

DOCUMENTATION = r"""
name: no_role_variables_in_facts
short_description: Refuse hosts whose facts carry the collection's role variables
version_added: 0.2.0
description:
  - Ansible lets the facts a host returns override inventory variables (C(INJECT_FACTS_AS_VARS), on by default), and
    fact caches and AWX fact storage keep them across runs. A compromised host answering with
    C(signing_cert_subject) or C(cert_track_requests) facts would choose its own certificate.
  - Used by the collection's roles before they change anything. Returns C(true) when no host's facts carry a
    C(pg_mtls_*), C(signing_cert_*) or C(cert_track_*) variable; otherwise fails, naming the host and the variables.
extends_documentation_fragment:
  - certkeeper.pki.hostvars
options:
  _input:
    description: Inventory host names to look at (this host, and the host a task is delegated to).
    type: list
    elements: str
    required: true
"""

EXAMPLES = r"""
- name: Refuse facts that carry this role's variables
  ansible.builtin.assert:
    that: "[inventory_hostname] | certkeeper.pki.no_role_variables_in_facts(hostvars)"
"""

RETURN = r"""
_value:
  description: C(true); the filter fails instead of returning anything else.
  type: bool
"""


def no_role_variables_in_facts(hosts, hostvars):
    for host in dict.fromkeys(hosts):
        problem = injection_problem(hostvars, host)
        if problem:
            raise AnsibleFilterError(problem)
    return True


class FilterModule:
    def filters(self):
        return {"no_role_variables_in_facts": no_role_variables_in_facts}
