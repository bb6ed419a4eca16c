# -*- coding: utf-8 -*-
# Copyright (c) certkeeper.pki contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a managed host may not decide: the collection's role variables.

Ansible lets facts a host returns override inventory variables (INJECT_FACTS_AS_VARS, on by default), and fact caches
and AWX keep them across runs. A host that answers ``ansible_facts: {pg_mtls_db_user: postgres}`` would choose the
name the CA signs for it. The collection's roles refuse to run while a host's facts carry one of their variables, and
its action plugins drop every fact a host returns but the interpreter Ansible discovered."""

from __future__ import annotations

from ansible.errors import AnsibleActionFail

ROLE_PREFIXES = ("pg_mtls_", "signing_cert_", "cert_track_")


def injected_role_variables(hostvars, host: str, variables=None) -> list:
    """The role variables that ``host``'s facts carry (facts gathered, returned by a module, or cached).
    ``variables``: ``hostvars[host]`` when the caller has it already (each lookup computes the host's variables)."""
    if variables is None:
        if host not in hostvars:
            return []
        variables = hostvars[host]
    # the names of the facts, without templating them (HostVarsVars keeps its raw variables in _vars)
    raw = getattr(variables, "_vars", variables)
    return _role_variables(raw.get("ansible_facts") if hasattr(raw, "get") else None)


def _role_variables(facts) -> list:
    return sorted(name for name in facts or {} if str(name).startswith(ROLE_PREFIXES))


def injection_problem(hostvars, host: str, variables=None) -> str | None:
    """What to say when ``host``'s facts carry role variables (see injected_role_variables), or None."""
    injected = injected_role_variables(hostvars, host, variables)
    return injection_message(host, injected) if injected else None


def refuse_injected_facts(task_vars: dict, delegated_to: str | None) -> None:
    """At the moment a role's task acts: fail when the facts of its host, or of the host it is delegated to, carry
    role variables (a task earlier in the play may have returned them, after the role's first check)."""
    injected = _role_variables(task_vars.get("ansible_facts"))
    problem = injection_message(task_vars.get("inventory_hostname", "this host"), injected) if injected else None
    if not problem and delegated_to and "hostvars" in task_vars:
        problem = injection_problem(task_vars["hostvars"], delegated_to)
    if problem:
        raise AnsibleActionFail(problem)


def injection_message(host: str, names: list) -> str:
    return (
        "the facts of %s carry %s: a managed host may not choose its own certificate settings (Ansible lets facts "
        "override inventory variables). Clear its facts (fact cache, AWX fact storage) and find out what on that "
        "host returned them; set these variables in the inventory" % (host, ", ".join(names))
    )


def without_foreign_facts(result: dict) -> dict:
    """A host's task result with no facts but the interpreter Ansible discovered (what our modules return)."""
    facts = result.get("ansible_facts")
    if not isinstance(facts, dict):
        return result
    kept = {name: value for name, value in facts.items() if str(name).startswith("discovered_interpreter_")}
    result = dict(result)
    if kept:
        result["ansible_facts"] = kept
    else:
        result.pop("ansible_facts")
    return result
