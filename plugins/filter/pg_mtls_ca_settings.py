# -*- coding: utf-8 -*-
# Copyright (c) certkeeper.pki contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.certkeeper.pki.plugins.plugin_utils.host_facts import injection_problem

DOCUMENTATION = r"""
name: pg_mtls_ca_settings
short_description: The pg_mtls CA settings as the CA host holds them, whatever host asks
version_added: 0.2.0
description:
  - Used by the C(pg_mtls) role. A CA setting (C(pg_mtls_ca_dir), C(pg_mtls_ca_cn), ...) belongs to the CA host. Every
    host of a play, whichever runs first and whatever C(--limit), takes it from the CA host's inventory variables
    (C(hostvars[pg_mtls_ca_host])); where the CA host does not set it, from the value every host shares (the role
    default, play or extra variables).
  - A host whose own inventory gives a CA setting another value than the CA host's would split the CA (a second CA key,
    clients that no longer chain to the server's root), so that fails, naming both hosts and both values.
  - So does a run where the facts of the asking host or of the CA host carry any of the collection's role variables
    (C(pg_mtls_*), C(signing_cert_*), C(cert_track_*)), since a managed host may not choose the CA or the names it
    signs.
extends_documentation_fragment:
  - certkeeper.pki.hostvars
options:
  _input:
    description:
      - The CA settings as the asking host sees them, a dict of variable names and values. C(pg_mtls_ca_host) among
        them is checked to name the CA host for the CA host too.
    type: dict
    required: true
  ca_host:
    description: The CA host (C(pg_mtls_ca_host)).
    type: str
    required: true
  host:
    description: The asking host (C(inventory_hostname)).
    type: str
    required: true
  options:
    description:
      - When given, a dict of module options and the variable each takes (the map the role's messages use too); the
        result is then those options with their settings, as a module's arguments.
    type: dict
  host_settings:
    description:
      - Names among O(_input) that are the CA host's own settings as a host rather than the CA's, such as
        C(pg_mtls_track_store) (where the CA's CRL is tracked). Each is taken from the CA host's inventory, else from
        the value every host shares; other hosts may set their own. A value only the asking host's inventory sets fails, naming the
        variable and both hosts, since the value the CA host has then cannot be known here.
    type: list
    elements: str
    default: []
"""

EXAMPLES = r"""
- name: The CA directory as the CA host has it
  ansible.builtin.debug:
    msg: >-
      {{ ({'pg_mtls_ca_dir': pg_mtls_ca_dir} | certkeeper.pki.pg_mtls_ca_settings(hostvars, pg_mtls_ca_host,
          inventory_hostname)).pg_mtls_ca_dir }}
"""

RETURN = r"""
_value:
  description: The same variable names with the CA host's values (or the module options of O(options)).
  type: dict
"""


def pg_mtls_ca_settings(here, hostvars, ca_host, host, options=None, host_settings=()):
    ca_inventory, own = hostvars[ca_host], hostvars[host]
    for asked, variables in ((host, own), (ca_host, ca_inventory)):  # neither may choose the CA or its names by facts
        problem = injection_problem(hostvars, asked, variables)
        if problem:
            raise AnsibleFilterError(problem)
    settings = {}
    for name, value in here.items():
        if name in host_settings:
            settings[name] = _host_setting(name, value, ca_inventory, own, ca_host, host)
            continue
        if name in ca_inventory:
            wanted = ca_inventory[name]
        elif host != ca_host and name in own:
            if name == "pg_mtls_ca_host" and own[name] == ca_host:
                wanted = ca_host  # the CA host named as itself: one CA
            else:
                raise AnsibleFilterError(
                    "%s is %r for %s but the CA host %s does not set it (so it uses the role's default or your play's "
                    "value): CA settings belong to the CA host; set %s for %s (or for every host)"
                    % (name, own[name], host, ca_host, name, ca_host)
                )
        else:
            wanted = value
        if host != ca_host and name in own and own[name] != wanted:
            raise AnsibleFilterError(
                "%s is %r for %s but %r for the CA host %s: one CA cannot have both; set it for %s only (or the "
                "same for every host)" % (name, own[name], host, wanted, ca_host, ca_host)
            )
        if name == "pg_mtls_ca_host" and wanted != ca_host:
            raise AnsibleFilterError(
                "pg_mtls_ca_host is %r for %s but %r for the CA host %s itself: set pg_mtls_ca_host once for every "
                "host (group all), so that one CA signs for all" % (ca_host, host, wanted, ca_host)
            )
        settings[name] = wanted
    if options:
        return {option: settings[name] for option, name in options.items()}
    return settings


def _host_setting(name, value, ca_inventory, own, ca_host, host):
    """The CA host's own value of ``name``: its inventory's, else the shared one (``value`` unless only ``host``'s
    inventory gives it one)."""
    if name in ca_inventory:
        return ca_inventory[name]
    if host != ca_host and name in own:
        raise AnsibleFilterError(
            "%s is set for %s but not for the CA host %s, whose own value this run needs (the CA's CRL is tracked in its "
            "store): set %s for %s too (or for every host)" % (name, host, ca_host, name, ca_host)
        )
    return value


class FilterModule:
    def filters(self):
        return {"pg_mtls_ca_settings": pg_mtls_ca_settings}
