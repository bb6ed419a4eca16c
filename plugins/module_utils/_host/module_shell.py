# -*- coding: utf-8 -*-
# Copyright (c) certkeeper.pki contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What every certkeeper module does around its work: errors, warnings, diff, exit."""

from __future__ import annotations

from .._core.errors import CertError


def run_module(module, work, recorded: dict | None = None) -> None:
    """Report ``recorded`` (a stamp's result: nothing moved) or the result of ``work(params, check_mode=...)``."""
    if recorded is None:
        # the work's need, imported here: a stamp's answer needs no cryptography
        from .._core.cryptography_import import CRYPTOGRAPHY_IMPORT_ERROR

        if CRYPTOGRAPHY_IMPORT_ERROR:
            from ansible.module_utils.basic import missing_required_lib

            module.fail_json(msg=missing_required_lib("cryptography"), exception=CRYPTOGRAPHY_IMPORT_ERROR)
    try:
        result = dict(recorded) if recorded is not None else work(module.params, check_mode=module.check_mode)
    except CertError as exc:
        module.fail_json(msg=str(exc), changed=False)
    result = reported(result, module._diff)
    for warning in result.pop("warnings", []):
        module.warn(warning)
    module.exit_json(**result)


def reported(result: dict, diff_mode: bool) -> dict:
    """A work result as the task reports it: the before/after of each change only under ``--diff``."""
    result = dict(result)
    diff = result.pop("diff", [])
    if diff_mode:
        result["diff"] = diff
    return result
