# -*- coding: utf-8 -*-
# Copyright (c) certkeeper.pki contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run pg_mtls_certs and record, on the controller, the names this host's certificate must carry.

The CA signs the names the inventory gives a host (``identity``), never names a host reports back:
``identity`` is set here from the task's own arguments, after the module's result arrived, so no
module output can change it."""

from __future__ import annotations

from ansible.plugins.action import ActionBase


class ActionModule(ActionBase):
    _supports_check_mode = True
    _supports_async = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        args = self._task.args
        result.update(
            self._execute_module(module_name="certkeeper.pki.pg_mtls_certs", module_args=args, task_vars=task_vars)
        )
        result["identity"] = {
            "profile": args.get("role"),
            "common_name": args.get("common_name"),
            "subject_alt_names": list(args.get("subject_alt_names") or []),
        }
        return result
