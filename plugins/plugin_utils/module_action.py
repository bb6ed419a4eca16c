# -*- coding: utf-8 -*-
# Copyright (c) certkeeper.pki contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""An action plugin that runs its module as Ansible's ``normal`` action does, then puts the result in the
words of the role that called it (``role_words``): a role user reads the role variable they set, a module
user the module's option names (outside the collection's roles nothing is rewritten)."""

from __future__ import annotations

from ansible.plugins.action import ActionBase
from ansible.utils.vars import merge_hash

from ansible_collections.certkeeper.pki.plugins.plugin_utils import ansible_core
from ansible_collections.certkeeper.pki.plugins.plugin_utils.host_facts import (
    refuse_injected_facts,
    without_foreign_facts,
)
from ansible_collections.certkeeper.pki.plugins.plugin_utils.role_words import (
    in_collection_role,
    task_result_in_role_words,
)


class RoleWordsModuleAction(ActionBase):
    """Subclasses name their module in ``MODULE``. Check mode, ``--diff``, ``no_log`` and async behave as
    with the ``normal`` action: the module does check mode and diff itself, the task executor masks a
    no_log result, and an async task is wrapped as ``normal`` wraps it (its polled result comes from
    ``async_status`` as it is, not through this plugin)."""

    MODULE = ""
    _supports_check_mode = True
    _supports_async = True  # the modules ran under the normal action, which supports async, before

    def run(self, tmp=None, task_vars=None):
        if in_collection_role(task_vars):  # the arguments come from role variables a host's facts may override
            refuse_injected_facts(task_vars or {}, self._task.delegate_to)
        result = super().run(tmp, task_vars)
        del tmp  # no longer has any effect
        wrap_async = self._task.async_val and not self._connection.has_native_async
        result = merge_hash(
            result,
            self._execute_module(
                module_name=self.MODULE, module_args=self._task.args, task_vars=task_vars, wrap_async=wrap_async
            ),
        )
        if not wrap_async:
            ansible_core.remove_remote_tmpdir(self)
        result = without_foreign_facts(result)  # a host may not set variables (plugin_utils/host_facts.py)
        return task_result_in_role_words(result, self._templar, task_vars)
