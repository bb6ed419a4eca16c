# -*- coding: utf-8 -*-
# Copyright (c) certkeeper.pki contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The program the direct-run action plugins (``plugin_utils/direct_action.py``) run on a host: ``_core/stamp.py``
(standard library only), then this file, then ``answer(request, payload, recorded_result)``, as one script for the host's Python.

It needs nothing but the standard library and the stamp reader it is handed, so an unchanged host answers
at a fraction of a module's start-up; only when the stamp has no answer does it unpack the module_utils
sent along and import the work (``direct_run``) from them."""

import json
import os
import sys


def answer(request, payload, recorded_result):
    """For a JSON request of ``module`` (its short name), ``path`` (the directory whose stamp may answer, or
    null), ``options``, ``digests`` (SHA-256 by module_utils file name, of the controller's files),
    ``check_mode`` and ``log`` (the line a module run writes to syslog, or null): writes
    ``{"recorded": <result>}`` when the stamp has one, otherwise what ``direct_run`` answers, run from
    ``payload`` (those module_utils as a base64 zip).
    ``recorded_result``: the stamp reader's (``_core/stamp.py``), the script's first part."""
    asked = json.loads(request)
    if asked["log"]:
        _log(**asked["log"])
    recorded = asked["path"] and recorded_result(asked["path"], asked["options"], asked["digests"].get)
    if recorded:
        sys.stdout.write(json.dumps({"recorded": recorded}) + "\n")
        return
    import base64  # the work's needs, imported here so that an answer from the stamp needs none
    import shutil
    import tempfile

    work_dir = tempfile.mkdtemp(prefix="certkeeper-")  # 0700: no other user can swap the code in it
    try:
        archive = os.path.join(work_dir, "module_utils.zip")
        with open(archive, "wb") as handle:
            handle.write(base64.b64decode(payload))
        sys.path.insert(0, archive)
        from ansible_collections.certkeeper.pki.plugins.module_utils._host.direct_run import run

        run(asked)
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)


def _log(ident, facility, message):
    """What AnsibleModule writes for each module run ("Invoked with ...", secrets masked by the controller)."""
    import syslog

    syslog.openlog(ident, 0, getattr(syslog, facility, syslog.LOG_USER))
    syslog.syslog(syslog.LOG_INFO, message)
