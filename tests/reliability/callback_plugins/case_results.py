"""Records, per case, whether its task failed and with what message: the task (or an enclosing
block or include) is named "case <id>". Written as JSON to $CERTKEEPER_CASES_FILE at the end."""

from __future__ import annotations

import json
import os

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = """
name: case_results
type: aggregate
short_description: per-case outcome of the reliability suite's playbooks
description: Test-only; see tests/reliability.
"""


def _case_of(task):
    item = task
    while item is not None:
        name = getattr(item, "name", None) or ""
        if isinstance(name, str) and name.startswith("case "):
            return name[5:]
        item = getattr(item, "_parent", None)
    return None


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "case_results"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self):
        super().__init__()
        self.results = {}

    def _record(self, result, failed):
        case = _case_of(result._task)
        if case is None:
            return
        entry = self.results.setdefault(case, {"failed": False, "msg": "", "changed": False})
        data = result._result
        entry["changed"] = entry["changed"] or bool(data.get("changed"))
        if failed and not entry["failed"]:
            entry.update(failed=True, msg=str(data.get("msg", "")))
        entry.setdefault("warnings", []).extend(str(w) for w in data.get("warnings", []) or [])

    def v2_runner_on_ok(self, result):
        self._record(result, False)

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._record(result, True)

    def v2_playbook_on_stats(self, stats):
        with open(os.environ["CERTKEEPER_CASES_FILE"], "w") as handle:
            json.dump(self.results, handle, indent=1, sort_keys=True)
