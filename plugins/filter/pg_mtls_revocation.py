# -*- coding: utf-8 -*-
# Copyright (c) certkeeper.pki contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

from ansible.errors import AnsibleFilterError

DOCUMENTATION = r"""
name: pg_mtls_revocation_args
short_description: The revocations of the pg_mtls CA call, from the role variables
version_added: 0.2.0
description:
  - Used by the C(pg_mtls) role on the arguments of its CA call, after C(certkeeper.pki.pg_mtls_ca_settings) has read
    C(revoke) from the CA host's C(pg_mtls_revoked).
  - C(pg_mtls_revoked) lists identities, each an inventory host name or a database user (the certificate's CN), as a
    string or a dict C({name, reason}); a string is revoked with the reason V(unspecified). A dict may add C(serial)
    (a certificate issued before the CA kept an index). Any other entry fails, naming C(pg_mtls_revoked).
  - A listed host that is still in the server or client group, or a listed database user that a client of the play
    still logs in as (C(pg_mtls_db_user)), fails naming both, since a revoked identity gets no new certificate; it
    must leave the inventory's groups.
  - Adds C(rekey), one C({name, token}) for each host of the play whose C(pg_mtls_rekey) is set (inventory or extra
    variables; never facts, which the role refuses first).
extends_documentation_fragment:
  - certkeeper.pki.hostvars
options:
  _input:
    description: The CA call's arguments, C(revoke) as C(pg_mtls_revoked) holds it.
    type: dict
    required: true
  hosts:
    description: The hosts of the play (C(ansible_play_hosts)).
    type: list
    elements: str
    required: true
  groups:
    description: The C(groups) magic variable.
    type: dict
    required: true
  server_group:
    description: C(pg_mtls_server_group).
    type: str
    required: true
  client_group:
    description: C(pg_mtls_client_group).
    type: str
    required: true
"""

EXAMPLES = r"""
- name: The CA call with the revocations
  certkeeper.pki.pg_mtls_certs: >-
    {{ {'role': 'ca', 'path': pg_mtls_ca_dir, 'revoke': pg_mtls_revoked}
       | certkeeper.pki.pg_mtls_revocation_args(ansible_play_hosts, hostvars, groups, 'pg_servers', 'pg_clients') }}
"""

RETURN = r"""
_value:
  description:
    - The arguments with C(revoke) as a list of C({name, reason}) (and C(serial) where the entry gives one) and C(rekey)
      as a list of C({name, token}).
  type: dict
"""

VARIABLE = "pg_mtls_revoked"
REKEY_VARIABLE = "pg_mtls_rekey"
DB_USER_VARIABLE = "pg_mtls_db_user"


def _entry(item, index: int) -> dict:
    if isinstance(item, str) and item.strip():
        return {"name": item.strip(), "reason": "unspecified"}
    if (
        isinstance(item, dict)
        and set(item) <= {"name", "reason", "serial"}
        and isinstance(item.get("name"), str)
        and item["name"].strip()
        and isinstance(item.get("reason", "unspecified"), str)
        and isinstance(item.get("serial", ""), (str, int))
    ):
        entry = {"name": item["name"].strip(), "reason": item.get("reason") or "unspecified"}
        if item.get("serial") not in (None, ""):
            entry["serial"] = str(item["serial"]).strip()  # YAML reads a hex serial of digits only as a number
        return entry
    raise AnsibleFilterError(
        "%s[%d] is %r: each entry is an inventory host or a database user, as a string or as {name: ..., reason: ...} "
        "(with serial: ... for a certificate issued before the CA kept an index)" % (VARIABLE, index, item)
    )


def revocations(revoked) -> list:
    """``pg_mtls_revoked`` as the module's ``revoke`` list; an entry listed twice must give the same reason."""
    if revoked is None or revoked == "":
        return []
    if isinstance(revoked, (str, dict)) or not isinstance(revoked, (list, tuple)):
        raise AnsibleFilterError("%s must be a list of names or of {name, reason}, got %r" % (VARIABLE, revoked))
    result: list = []
    reasons: dict = {}
    for index, item in enumerate(revoked):
        entry = _entry(item, index)
        key = (entry["name"], entry.get("serial"))
        seen = reasons.get(key)
        if seen is None:
            reasons[key] = entry["reason"]
            result.append(entry)
        elif seen != entry["reason"]:
            raise AnsibleFilterError(
                "%s lists %s twice, with the reasons %s and %s: keep one"
                % (VARIABLE, entry["name"] + (" (serial %s)" % key[1] if key[1] else ""), seen, entry["reason"])
            )
    return result


def pg_mtls_revocation_args(args, hosts, hostvars, groups, server_group, client_group):
    args = dict(args)
    revoke = revocations(args.get("revoke"))
    names = {entry["name"] for entry in revoke}
    for group in (server_group, client_group):
        for host in groups.get(group) or ():
            if host in names:
                raise AnsibleFilterError(
                    "%s is in %s and in %s: remove it from one of them (a revoked host gets no new certificate)"
                    % (host, VARIABLE, group)
                )
    clients = set(groups.get(client_group) or ()) if names else set()
    rekey = []
    for host in hosts:
        variables = hostvars[host]
        if host in clients:
            user = variables.get(DB_USER_VARIABLE)
            if isinstance(user, str) and user in names:
                raise AnsibleFilterError(
                    "%s is in %s and is the %s of %s, in %s: remove it from one of them (a revoked user gets no new "
                    "certificate)" % (user, VARIABLE, DB_USER_VARIABLE, host, client_group)
                )
        token = variables.get(REKEY_VARIABLE)
        if token is not None and token != "":
            if isinstance(token, (dict, list, bool)):
                raise AnsibleFilterError(
                    "%s is %r for %s: set it to a word that names the incident (its date, a ticket), quoted"
                    % (REKEY_VARIABLE, token, host)
                )
            rekey.append({"name": host, "token": str(token)})
    args["revoke"], args["rekey"] = revoke, rekey
    return args


class FilterModule:
    def filters(self):
        return {"pg_mtls_revocation_args": pg_mtls_revocation_args}
