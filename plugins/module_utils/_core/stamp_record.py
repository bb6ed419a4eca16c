# -*- coding: utf-8 -*-
# Copyright (c) certkeeper.pki contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Writing a stamp (stamp.py says what it is and how a run reads it): the work's business, which has
``files`` at hand; the stamp's reader needs nothing but the standard library."""

from __future__ import annotations

import json
import os

from .errors import CertError
from .files import ROOT_ONLY_FILE, Change, Plan, apply_plan, forget_seen, seen_facts, trusted_directory
from .stamp import code_in_use, file_facts, read_regular_file, stamp_path, state_digest


def record(directory: str, options: dict, secret_path: str, plan: Plan, result: dict) -> None:
    """Record the verified state the applied ``plan`` leaves; a directory that cannot take the stamp only costs speed.

    The stamp covers what the plan tells: every path it was made from or changed, until the first of its deadlines.
    Nothing here names a file or a deadline, so a planner that reads one more file or verifies one more deadline is
    covered as it is. A plan that verified nothing that ends (no deadline) gives no stamp.

    The facts recorded are those of the inodes this run read through a descriptor and verified, or wrote
    (files.seen_facts), never what the paths name now: a file another user swapped in after the check is
    not recorded as verified, and the next run verifies it. A path the run did not see (a tracking record)
    is stated now only when its directory is root's alone; else no stamp is written."""
    if not plan.deadlines:
        return
    code = code_in_use()
    digest = state_digest(secret_path, options, code)
    if digest is None or None in code.values():
        return
    files = {}
    for path in covered_paths(plan):
        seen, facts = seen_facts(path)
        if not seen:
            if not trusted_directory(os.path.dirname(path)):
                return
            facts = file_facts(path)
        files[path] = facts
    forget_seen()
    stamp = {
        "secret": secret_path,
        "code": code,
        "digest": digest,
        "result": result,
        "valid_until": min(plan.deadlines).timestamp(),
        "files": files,
    }
    data = json.dumps(stamp, sort_keys=True, default=str).encode("utf-8")
    try:
        if read_regular_file(stamp_path(directory), own=True) == data:
            return
    except (OSError, ValueError):
        pass
    try:
        apply_plan(Plan([Change(stamp_path(directory), "stamp", ROOT_ONLY_FILE, data)]))
    except CertError:  # a read-only or full directory
        pass


def covered_paths(plan: Plan) -> list:
    """The paths a stamp of ``plan``'s state must find unmoved: those it was made from and those it changed."""
    return sorted(set(plan.read) | {change.path for change in plan.changes})
