# -*- coding: utf-8 -*-
# Copyright (c) certkeeper.pki contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A module's work without the module's start-up (pg_mtls_certs, in the process that read the stamp; cert_report_info).

A module run spends about a quarter of a second of a host's CPU before its first line (Python compiles
``ansible.module_utils.basic`` and its imports from the payload on every run); the work itself needs
none of it. When there is no stamp to answer, the program (``program.answer``) puts the module_utils the
controller sent on ``sys.path`` and calls ``run``, which does what the module does between its argument
checks (made on the controller, with the module's own spec) and its exit: the same function, the same
errors, the same result. The controller shapes the result as the module would (diff, no_log, invocation).

Each line written is one JSON object and the last one is the answer: ``{"result": ...}``, or
``{"fallback": ...}`` when this host cannot do the work this way (the module then runs and reports why).
``{"working": true}`` comes first once the work starts: a process that dies after it did not merely fail
to start, and the controller reports that rather than trying again."""

from __future__ import annotations

import json
import locale
import sys
import traceback

from .._core.cryptography_import import HAS_CRYPTOGRAPHY
from .._core.errors import CertError


def _work(module: str):
    """The work function of ``module``, imported for it alone: a report needs none of pg_mtls's code."""
    if module == "cert_report_info":
        from .._report.host import run_cert_report_info

        return run_cert_report_info
    if module == "pg_mtls_certs":
        from .._pg_mtls.run import run_pg_mtls_certs

        return run_pg_mtls_certs
    raise CertError("no direct run of %r" % module)


def _say(**answer) -> None:
    sys.stdout.write(json.dumps(answer, default=str) + "\n")
    sys.stdout.flush()


def run(asked: dict) -> None:
    """Do the work for the request the program read (``module``, ``options``, ``check_mode``) and answer on
    stdout."""
    module = asked["module"]
    if not HAS_CRYPTOGRAPHY:  # the module says so in Ansible's words (missing_required_lib)
        _say(fallback="cryptography cannot be imported")
        return
    try:  # as AnsibleModule does: the host's locale, so that system errors read in its language
        locale.setlocale(locale.LC_ALL, "")
    except locale.Error:
        pass
    _say(working=True)
    try:
        result = _work(module)(asked["options"], check_mode=asked["check_mode"])
    except CertError as exc:
        result = {"failed": True, "changed": False, "msg": str(exc)}
    except Exception as exc:  # pylint: disable=broad-except  # the module would end with a traceback too
        result = {
            "failed": True,
            "changed": False,
            "msg": "%s stopped on an unexpected error: %s" % (module, exc),
            "exception": traceback.format_exc(),
        }
    _say(result=result)
