"""Counts, per host, the tasks that ran a module on the host (skips and controller-only actions excluded).

Writes {"invocations": {host: n}, "changed": {host: n}} as JSON to $CERTKEEPER_COUNTS_FILE at the end.
"""

from __future__ import annotations

import json
import os
from collections import Counter

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = r"""
name: module_counts
type: aggregate
short_description: count module invocations per host
description: Test helper of certkeeper.pki.
"""

CONTROLLER_ONLY = {"set_fact", "assert", "debug", "meta", "fail", "include_tasks", "import_tasks",
                   "include_role", "import_role", "validate_argument_spec", "group_by", "add_host"}


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "module_counts"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self):
        super().__init__()
        self.invocations, self.changed = Counter(), Counter()

    def _record(self, result, ignore_errors=False):
        action = result._task.action.split(".")[-1]
        if action in CONTROLLER_ONLY:
            return
        host = result._host.get_name()
        self.invocations[host] += 1
        if result._result.get("changed"):
            self.changed[host] += 1

    v2_runner_on_ok = v2_runner_on_failed = _record

    def v2_playbook_on_stats(self, stats):
        path = os.environ.get("CERTKEEPER_COUNTS_FILE")
        if path:
            with open(path, "w") as handle:
                json.dump({"invocations": dict(self.invocations), "changed": dict(self.changed)}, handle)
