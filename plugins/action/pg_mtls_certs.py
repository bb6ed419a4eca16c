# -*- coding: utf-8 -*-
# Copyright (c) certkeeper.pki contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run pg_mtls_certs: first ask the host for its stamp's recorded result, run the module when there is none,
and record, on the controller, the names this host's certificate must carry.

A module run costs a host about a quarter of a second of CPU before the module's first line (Python
compiles ``ansible.module_utils.basic`` from the payload's zip on every run), however little the module
then does. An unchanged host needs none of that: the probe is ``stamp.py`` itself, standard library only,
sent over the same pipelined connection, user and interpreter a module run would use, with the options
validated here by the module's own argument spec. It answers from the stamp exactly as the module's first
step would (same file facts, same HMAC, same code check); anything else and the module runs as usual.

The CA signs the names the inventory gives a host (``identity``), never names a host reports back:
``identity`` is set here from the task's own arguments, after the result arrived, so no host output can
change it."""

from __future__ import annotations

import functools
import hashlib
import json

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.plugins.action import ActionBase
from ansible.utils.display import Display

from ansible_collections.certkeeper.pki.plugins.module_utils import stamp
from ansible_collections.certkeeper.pki.plugins.module_utils.module_shell import reported
from ansible_collections.certkeeper.pki.plugins.module_utils.pg_mtls_arguments import ARGUMENT_RULES, ARGUMENT_SPEC
from ansible_collections.certkeeper.pki.plugins.plugin_utils.module_utils_files import module_utils_sources

MODULE = "certkeeper.pki.pg_mtls_certs"
display = Display()


@functools.cache
def _probe_program() -> tuple:
    """stamp.py as the probe's program, and the SHA-256 of every module_utils file here (the module ships
    those it imports; a stamp names those that verified, and counts only while each is the same here)."""
    sources = module_utils_sources()
    digests = {name: hashlib.sha256(data).hexdigest() for name, data in sources.items()}
    return sources["stamp.py"].decode("utf-8"), digests


def _path_options(spec: dict, args: dict):
    """The values of type=path options, nested ones included (the module expands ~ and $VARS on the host)."""
    for name, option in spec.items():
        value = args.get(name) if isinstance(args, dict) else None
        if option.get("type") == "path":
            yield value
        elif option.get("options") and isinstance(value, dict):
            yield from _path_options(option["options"], value)


def probe_options(args: dict) -> dict | None:
    """The module's params for these arguments as the host would compute them, or None when only the host can
    (invalid arguments, for the module to report; paths to expand in the host's environment)."""
    if any(isinstance(v, str) and ("~" in v or "$" in v) for v in _path_options(ARGUMENT_SPEC, args)):
        return None
    validated = ArgumentSpecValidator(ARGUMENT_SPEC, **ARGUMENT_RULES).validate(dict(args))
    if validated.error_messages:
        return None
    return validated.validated_parameters


class ActionModule(ActionBase):
    _supports_check_mode = True
    _supports_async = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        args = self._task.args
        recorded = self._recorded_result(args, task_vars or {})
        if recorded is None:
            result.update(self._execute_module(module_name=MODULE, module_args=args, task_vars=task_vars))
        else:
            result.update(self._report(recorded))
        result["identity"] = {
            "profile": args.get("role"),
            "common_name": args.get("common_name"),
            "subject_alt_names": list(args.get("subject_alt_names") or []),
        }
        return result

    def _recorded_result(self, args: dict, task_vars: dict) -> dict | None:
        """The stamp's recorded result on the host, or None: no stamp, something moved, or no probe possible."""
        if any(args.get(name) for name in stamp.WORK_OPTIONS) or not self._is_pipelining_enabled("new"):
            return None
        options = probe_options(args)
        if options is None:
            return None
        program, digests = _probe_program()
        request = json.dumps({"path": options["path"], "options": options, "digests": digests}, default=str)
        # The interpreter a module run would use (discovering it if need be); 2.16-2.18 return
        # (style, shebang, data, path), 2.19+ (built module, path).
        configured = self._configure_module(module_name=MODULE, module_args=dict(args), task_vars=task_vars)
        shebang = getattr(configured[0], "shebang", configured[1])
        # -I: a program read from stdin would import from the working directory first (the module's wrapper
        # drops that from sys.path for the same reason); the probe needs the standard library only.
        command = self._connection._shell.build_module_command(self._compute_environment_string(), shebang, "-I")
        script = "%s\nprobe(%r)\n" % (program, request)
        response = self._low_level_execute_command(command.strip(), in_data=script.encode("utf-8"))
        host = self._task.delegate_to or task_vars.get("inventory_hostname")
        try:
            recorded = json.loads(response["stdout"].strip().splitlines()[-1])["recorded"]
        except (ValueError, KeyError, IndexError, TypeError):
            display.vvv(
                "pg_mtls_certs: no answer from the stamp (rc=%s); running the module" % response.get("rc"), host
            )
            return None
        if not isinstance(recorded, dict):
            return None
        display.vvv("pg_mtls_certs: the stamp shows nothing moved; the module does not run", host)
        return recorded

    def _report(self, recorded: dict) -> dict:
        """The recorded result as the module reports it (module_shell.run_module), less the module's
        ``invocation`` echo of its arguments."""
        result = reported(recorded, self._task.diff)
        if self._discovered_interpreter_key:  # passed on as _execute_module passes it on
            result["ansible_facts"] = {self._discovered_interpreter_key: self._discovered_interpreter}
        if getattr(self, "_discovery_warnings", None):  # ansible-core < 2.19
            result["warnings"] = result.get("warnings", []) + self._discovery_warnings
        return result
