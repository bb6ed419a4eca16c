# -*- coding: utf-8 -*-
# Copyright (c) certkeeper.pki contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run pg_mtls_certs in one short program on the host (``direct_action``: an unchanged host answers from its
stamp); record, on the controller, the names this host's certificate must carry.

The CA signs the names the inventory gives a host (``identity``), never names a host reports back:
``identity`` is set here from the task's own arguments, after the result arrived, so no host output can
change it."""

from __future__ import annotations

from ansible_collections.certkeeper.pki.plugins.module_utils._pg_mtls.arguments import ARGUMENT_RULES, ARGUMENT_SPEC
from ansible_collections.certkeeper.pki.plugins.plugin_utils.direct_action import DirectRunAction


class ActionModule(DirectRunAction):
    MODULE = "certkeeper.pki.pg_mtls_certs"
    NAME = "pg_mtls_certs"
    ARGUMENT_SPEC = ARGUMENT_SPEC
    ARGUMENT_RULES = ARGUMENT_RULES
    STAMP_OPTION = "path"

    def finish(self, result: dict, args: dict, task_vars: dict) -> dict:
        result["identity"] = {
            "profile": args.get("role"),
            "common_name": args.get("common_name"),
            "subject_alt_names": list(args.get("subject_alt_names") or []),
            "valid_days": args.get("valid_days"),
        }
        if args.get("role") == "ca":  # every host checks that this is the CA its own settings name
            result["ca_host"] = self._task.delegate_to or task_vars.get("inventory_hostname")
        return result
