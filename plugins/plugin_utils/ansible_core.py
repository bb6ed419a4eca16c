# -*- coding: utf-8 -*-
# Copyright (c) certkeeper.pki contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one place the action plugins use ansible-core's private or version-dependent API.

Each function says how ansible-core 2.16 (the oldest of meta/runtime.yml) to 2.19 behave; the action plugins call
these instead of the names. tests/unit/test_ansible_core_adapter.py runs each against the installed ansible-core,
and scripts/quality.sh runs it on the oldest and the newest supported one."""

from __future__ import annotations

from ansible.module_utils.common.arg_spec import ValidationResult
from ansible.plugins.action import ActionBase
from ansible.vars import clean


def no_log_values(validated: ValidationResult) -> set:
    """The values an ArgumentSpecValidator result says no output may show. 2.16-2.19 keep them in
    ``_no_log_values`` with no public accessor; AnsibleModule reads them from there too."""
    return validated._no_log_values


def pipelining_enabled(action: ActionBase) -> bool:
    """Whether ``_execute_module`` would pipeline a Python module over this task's connection. 2.16-2.18 decide
    in ActionBase (pipelining option, connection, become su, keep_remote_files), 2.19+ ask the connection."""
    return action._is_pipelining_enabled("new")


def module_shebang(action: ActionBase, module_name: str, module_args: dict, task_vars: dict) -> str:
    """The shebang a run of this module would have: ``ansible_python_interpreter``, or the interpreter discovered
    on the host (discovery's state stays on ``action`` for ``add_interpreter_discovery``). ``_configure_module``
    returns (style, shebang, data, path) on 2.16-2.18, (built module, path) on 2.19+."""
    configured = action._configure_module(module_name=module_name, module_args=module_args, task_vars=task_vars)
    return configured[1] if len(configured) == 4 else configured[0].shebang


def pipelined_command(action: ActionBase, shebang: str, interpreter_option: str) -> str:
    """The command line of a pipelined module run: the task's environment, then the interpreter of ``shebang``
    with ``interpreter_option``, reading its program from stdin. Built by the connection's shell plugin
    (``_shell``), the same on 2.16-2.19."""
    environment = action._compute_environment_string()
    return action._connection._shell.build_module_command(environment, shebang, interpreter_option).strip()


def run_on_host(action: ActionBase, command: str, stdin: bytes) -> dict:
    """Run ``command`` on the host with ``stdin``, over the task's connection and become, as ``_execute_module``
    runs a pipelined module: ``rc``, ``stdout``, ``stderr`` (the same on 2.16-2.19)."""
    return action._low_level_execute_command(command, in_data=stdin)


def clean_module_result(result: dict) -> None:
    """Remove from a module's result, in place, what ``_execute_module`` removes: ``_ansible_*`` and other internal
    keys (add_host, add_group), empty warnings and deprecations, discovered-interpreter facts. ansible.vars.clean
    is not public API; the same on 2.16-2.19."""
    clean.remove_internal_keys(result)


def add_interpreter_discovery(action: ActionBase, result: dict) -> None:
    """Add to ``result``, in place, what ``_execute_module`` adds after the module ran: the interpreter discovered
    for it, as the only fact (later tasks on the host use it). 2.16-2.18 also leave discovery's warnings and
    deprecations on the action for the result; 2.19+ display them when discovering."""
    if action._discovered_interpreter_key:
        result["ansible_facts"] = {action._discovered_interpreter_key: action._discovered_interpreter}
    for key, attribute in (("warnings", "_discovery_warnings"), ("deprecations", "_discovery_deprecation_warnings")):
        found = getattr(action, attribute, None)  # 2.16-2.18 only
        if found:
            result[key] = result.get(key, []) + found


def remove_remote_tmpdir(action: ActionBase) -> None:
    """Remove the host's temporary directory ``_execute_module`` made and left for the action plugin, as the
    ``normal`` action does. Its path is the shell plugin's ``tmpdir`` on 2.16-2.19."""
    action._remove_tmp_path(action._connection._shell.tmpdir)


def run_action(action: ActionBase, name: str, args: dict, task_vars: dict) -> dict:
    """Run another action plugin (``ansible.legacy.copy``, say) for a copy of this task with ``args``, over the
    same connection, as ansible-core's own ``template`` action runs ``copy``. ``_shared_loader_obj`` is
    ansible.plugins.loader on 2.16-2.19 (passed by the task executor before 2.19, set by ActionBase since)."""
    task = action._task.copy()
    task.args = args
    other = action._shared_loader_obj.action_loader.get(
        name,
        task=task,
        connection=action._connection,
        play_context=action._play_context,
        loader=action._loader,
        templar=action._templar,
        shared_loader_obj=action._shared_loader_obj,
    )
    return other.run(task_vars=task_vars)
