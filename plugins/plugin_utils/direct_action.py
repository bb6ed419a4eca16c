# -*- coding: utf-8 -*-
# Copyright (c) certkeeper.pki contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run a module's work with pipelining in one short program on the host instead of a module run.

A module run costs a host about a quarter of a second of CPU before the module's first line (Python
compiles ``ansible.module_utils.basic`` from the payload's zip on every run), however little the module
then does. The work needs none of it. With pipelining the arguments are validated here, with the
module's own argument spec, and the host gets the stamp reader and the program (``_core/stamp.py`` and
``_host/program.py``, standard library only) over the same connection, user and interpreter a module run
would use, with this collection's module_utils as a zip: a host whose stamp answers (a module that keeps
one) does so with about 25 ms of CPU, nothing unpacked; any other does the work from the zip
(``direct_run``): the same function the module calls, its result shaped here as the module shapes it
(diff, no_log masking, invocation). Without pipelining, with a path only the host can expand, with
invalid arguments, or on a host that cannot do it this way, the module runs as usual.

Inside the collection's roles, messages name the role variables (``role_words``) and a host's facts may
not override them (``host_facts``)."""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import os
from typing import ClassVar

from ansible import constants as C
from ansible.module_utils.basic import heuristic_log_sanitize
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.module_utils.common.parameters import remove_values
from ansible.plugins.action import ActionBase
from ansible.utils.display import Display

from ansible_collections.certkeeper.pki.plugins.module_utils._core.stamp import WORK_OPTIONS
from ansible_collections.certkeeper.pki.plugins.module_utils._host.module_shell import reported
from ansible_collections.certkeeper.pki.plugins.plugin_utils import ansible_core
from ansible_collections.certkeeper.pki.plugins.plugin_utils.host_facts import (
    refuse_injected_facts,
    without_foreign_facts,
)
from ansible_collections.certkeeper.pki.plugins.plugin_utils.module_utils_files import (
    module_utils_sources,
    package_archive,
)
from ansible_collections.certkeeper.pki.plugins.plugin_utils.role_words import (
    in_collection_role,
    task_result_in_role_words,
)

display = Display()


@functools.cache
def host_program(compiled: bool) -> tuple:
    """The program (the stamp reader, then the program that asks it), this collection's module_utils as its
    base64 zip (``compiled``: with their .pyc), and the SHA-256 of each of those files (the module ships
    those it imports; a stamp names those that verified, and counts only while each is the same here)."""
    sources = module_utils_sources()
    digests = {name: hashlib.sha256(data).hexdigest() for name, data in sources.items()}
    program = sources["_core/stamp.py"] + b"\n" + sources["_host/program.py"]
    return program.decode("utf-8"), _payload(sources, digests, compiled), digests


def _payload(sources: dict, digests: dict, compiled: bool) -> str:
    """The module_utils zip, base64, made once per playbook run: every task of every host runs in a worker
    forked anew, and deflating the sources costs a worker more than the rest of a rerun's call. The first
    worker leaves it in the run's private temporary directory (named by the sources' digests), the others
    read it."""
    key = hashlib.sha256(json.dumps([digests, compiled], sort_keys=True).encode("utf-8")).hexdigest()[:16]
    path = os.path.join(C.DEFAULT_LOCAL_TMP, "certkeeper-module-utils-%s.b64" % key)
    try:
        with open(path, encoding="ascii") as handle:
            return handle.read()
    except OSError:
        pass
    payload = base64.b64encode(package_archive(sources, compiled)).decode("ascii")
    staged = "%s.%d" % (path, os.getpid())
    try:
        with open(staged, "w", encoding="ascii") as handle:
            handle.write(payload)
        os.replace(staged, path)  # whole or not at all for the worker that reads it next
    except OSError:  # no cache: each worker makes its own
        pass
    return payload


def _path_options(spec: dict, args: dict):
    """The values of type=path options, nested ones included (the module expands ~ and $VARS on the host)."""
    for name, option in spec.items():
        value = args.get(name) if isinstance(args, dict) else None
        if option.get("type") == "path":
            yield value
        elif option.get("type") == "list" and option.get("elements") == "path" and isinstance(value, list):
            yield from value
        elif option.get("options") and isinstance(value, dict):
            yield from _path_options(option["options"], value)


def direct_options(spec: dict, rules: dict, args: dict) -> tuple | None:
    """The module's params for these arguments as the host would compute them, and the values no output may
    show (no_log); None when only the host can tell (invalid arguments, for the module to report; paths to
    expand in the host's environment)."""
    if any(isinstance(v, str) and ("~" in v or "$" in v) for v in _path_options(spec, args)):
        return None
    validated = ArgumentSpecValidator(spec, **rules).validate(dict(args))
    if validated.error_messages:
        return None
    return validated.validated_parameters, ansible_core.no_log_values(validated)


def invocation_line(spec: dict, params: dict, no_log_values: set) -> str:
    """The line AnsibleModule logs on the host for a module run: ``Invoked with name=value ...``, a no_log
    option as NOT_LOGGING_PARAMETER and its value masked wherever else it shows."""
    shown = " ".join(
        "%s=%s" % (name, "NOT_LOGGING_PARAMETER" if spec[name].get("no_log") else heuristic_log_sanitize(str(value)))
        for name, value in params.items()
    )
    return remove_values("Invoked with " + shown, no_log_values)


def as_module_reports(result: dict, params: dict, no_log_values: set, diff_mode: bool) -> dict:
    """A work result as AnsibleModule.exit_json would send it: the diff only under ``--diff``, warnings only if
    any, the module's ``invocation`` (plain data, as it comes back from a module), and every no_log value
    masked (booleans and None kept, as the module keeps them)."""
    result = dict(reported(result, diff_mode), invocation={"module_args": json.loads(json.dumps(params, default=str))})
    if not result.get("warnings"):
        result.pop("warnings", None)
    kept = {key: value for key, value in result.items() if value is None or isinstance(value, bool)}
    return dict(remove_values(result, no_log_values), **kept)


def answers(stdout: str) -> list:
    """The JSON objects the program wrote, one per line; anything else on stdout is not an answer."""
    found = []
    for line in stdout.splitlines():
        try:
            answer = json.loads(line)
        except ValueError:
            continue
        if isinstance(answer, dict):
            found.append(answer)
    return found


class DirectRunAction(ActionBase):
    """Subclasses name their module (``MODULE``, its short name ``NAME`` being what ``direct_run`` knows it by),
    its argument spec and rules, and ``STAMP_OPTION``: the option naming the directory whose stamp may answer
    (none: the work always runs). ``finish`` adds what the controller knows to a result."""

    MODULE: ClassVar[str] = ""
    NAME: ClassVar[str] = ""
    ARGUMENT_SPEC: ClassVar[dict] = {}
    ARGUMENT_RULES: ClassVar[dict] = {}
    STAMP_OPTION: ClassVar[str | None] = None
    _supports_check_mode = True
    _supports_async = False

    def run(self, tmp=None, task_vars=None):
        if in_collection_role(task_vars):  # the arguments come from role variables a host's facts may override
            refuse_injected_facts(task_vars or {}, self._task.delegate_to)
        result = super().run(tmp, task_vars)
        args = self._task.args
        direct = self._direct_result(args, task_vars or {})
        if direct is None:
            result.update(self._execute_module(module_name=self.MODULE, module_args=args, task_vars=task_vars))
        else:
            result.update(direct)
        result = without_foreign_facts(result)  # a host may not set variables (plugin_utils/host_facts.py)
        return task_result_in_role_words(self.finish(result, args, task_vars or {}), self._templar, task_vars)

    def finish(self, result: dict, args: dict, task_vars: dict) -> dict:
        """What the controller adds to the host's result, from the task's own arguments (never from the host)."""
        return result

    def _direct_result(self, args: dict, task_vars: dict) -> dict | None:
        """The task's result from the host's short program (its stamp, or the work done from the zip), or None
        when the module must run instead."""
        if not ansible_core.pipelining_enabled(self):
            return None
        direct = direct_options(self.ARGUMENT_SPEC, self.ARGUMENT_RULES, args)
        if direct is None:
            return None
        params, no_log_values = direct
        response = self._run_program(args, params, no_log_values, task_vars)
        host = self._task.delegate_to or task_vars.get("inventory_hostname")
        said = answers(response.get("stdout", ""))
        last = said[-1] if said else {}
        if isinstance(last.get("recorded"), dict):
            display.vvv("%s: the stamp shows nothing moved; the module does not run" % self.NAME, host)
            return self._report(last["recorded"], params, no_log_values)
        if isinstance(last.get("result"), dict):
            display.vvv("%s: done on the host without a module run" % self.NAME, host)
            return self._report(last["result"], params, no_log_values)
        rc = response.get("rc")
        if {"working": True} in said:  # the work began and the process died: never run it a second time
            display.vvv("%s: the program on the host died at work (rc=%s)" % (self.NAME, rc), host)
            died = {
                "failed": True,
                "changed": False,
                "msg": "%s stopped without a result (rc=%s); the files it had not replaced yet are as they were"
                % (self.NAME, rc),
                "module_stdout": response.get("stdout", ""),
                "module_stderr": response.get("stderr", ""),
                "rc": rc,
            }
            return self._report(died, params, no_log_values)
        reason = last.get("fallback") or "rc=%s" % rc
        display.vvv("%s: the host cannot do it without the module (%s); running the module" % (self.NAME, reason), host)
        return None

    def _run_program(self, args: dict, params: dict, no_log_values: set, task_vars: dict) -> dict:
        """Run the program's ``answer`` on the host as a pipelined module would run: same become, interpreter and
        environment; the request and the code on its stdin (the zip goes along even when the stamp answers:
        80 kB on the same connection costs less than a second round trip)."""
        # A call handed work (a certificate to install, CSRs to sign) never has its answer in a stamp, nor does a
        # module that keeps none: its zip carries the compiled code too, which spares the host most of its start;
        # a call a stamp may answer is sent without it, and a rerun sends the smaller one.
        compiled = not self.STAMP_OPTION or any(params.get(name) for name in WORK_OPTIONS)
        program, payload, digests = host_program(compiled)
        logged = not self._task.no_log and not C.config.get_config_value(
            "DEFAULT_NO_TARGET_SYSLOG", variables=task_vars
        )
        log = {
            "ident": "ansible-" + self.MODULE,
            "facility": task_vars.get("ansible_syslog_facility", C.DEFAULT_SYSLOG_FACILITY),
            "message": invocation_line(self.ARGUMENT_SPEC, params, no_log_values),
        }
        request = json.dumps(
            {
                "module": self.NAME,
                "path": params[self.STAMP_OPTION] if self.STAMP_OPTION else None,
                "options": params,
                "digests": digests,
                "check_mode": bool(self._task.check_mode),
                "log": log if logged else None,
            },
            default=str,
        )
        # the interpreter a module run would use (discovering it if need be)
        shebang = ansible_core.module_shebang(self, self.MODULE, dict(args), task_vars)
        # -I: a program read from stdin would import from the working directory first (the module's wrapper
        # drops that from sys.path for the same reason).
        command = ansible_core.pipelined_command(self, shebang, "-I")
        script = "%s\nanswer(%r, %r, recorded_result)\n" % (program, request, payload)
        return ansible_core.run_on_host(self, command, script.encode("utf-8"))

    def _report(self, result: dict, params: dict, no_log_values: set) -> dict:
        """The host's result as the module reports it (AnsibleModule, module_shell.run_module), cleaned as
        _execute_module cleans a module's: no add_host/add_group or _ansible_* key a host could use to set
        inventory variables, and no fact but the interpreter the controller discovered."""
        result = dict(result)
        ansible_core.clean_module_result(result)
        result.pop("ansible_facts", None)
        result = as_module_reports(result, params, no_log_values, self._task.diff)
        ansible_core.add_interpreter_discovery(self, result)
        return result
