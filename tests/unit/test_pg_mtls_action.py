"""The pg_mtls_certs action plugin's side of the host program: the options it validates on the controller, and
the host's result shaped as the module shapes its own."""

from __future__ import annotations

import ast
import json
import shlex
import subprocess
import sys
from types import SimpleNamespace

import pytest

from ansible_collections.certkeeper.pki.plugins.action.pg_mtls_certs import ActionModule
from ansible_collections.certkeeper.pki.plugins.module_utils._pg_mtls.arguments import ARGUMENT_RULES, ARGUMENT_SPEC
from ansible_collections.certkeeper.pki.plugins.plugin_utils.direct_action import (
    answers,
    as_module_reports,
    invocation_line,
)
from ansible_collections.certkeeper.pki.plugins.plugin_utils.direct_action import direct_options as options_for


def direct_options(args: dict):
    return options_for(ARGUMENT_SPEC, ARGUMENT_RULES, args)


CLIENT = dict(role="client", path="/etc/certkeeper/postgresql", common_name="app",
              ca_certificate="-----BEGIN CERTIFICATE-----", track=dict(store="/var/lib/certkeeper"))


def test_the_options_come_out_as_the_module_sees_them():
    options, no_log_values = direct_options(dict(CLIENT, key_size="2048", pfx_password="pfx secret"))
    assert no_log_values == {"pfx secret"}
    assert options["key_size"] == 2048  # converted as the module converts it
    assert options["pfx_friendly_name"] == "user" and options["valid_days"] == 365  # defaults filled in
    assert options["track"] == {"store": "/var/lib/certkeeper", "id": None, "post_save_command": ""}
    assert options["ca_path"] is None and options["sign"] == []


@pytest.mark.parametrize("args", [
    dict(CLIENT, path="~/pg"),
    dict(CLIENT, track=dict(store="$HOME/store")),
    dict(CLIENT, postgresql_conf="~postgres/postgresql.conf", postgresql_conf_block="ssl = on"),
], ids=["home in path", "variable in a nested path", "home of another user"])
def test_paths_only_the_host_can_expand_leave_it_to_the_module(args):
    assert direct_options(args) is None


@pytest.mark.parametrize("args", [
    dict(CLIENT, role="nobody"), dict(CLIENT, colour="blue"), dict(CLIENT, ca_path="/ca"),
    {key: value for key, value in CLIENT.items() if key != "common_name"},
], ids=["bad choice", "unknown option", "mutually exclusive", "required by role"])
def test_invalid_arguments_are_left_for_the_module_to_report(args):
    assert direct_options(args) is None


def test_a_result_is_reported_as_the_module_reports_it():
    params, no_log_values = direct_options(dict(CLIENT, pfx_password="pfx secret"))
    result = {"changed": True, "failed": False, "msg": "wrote client.pfx sealed with pfx secret",
              "diff": [{"before": "", "after": "x"}], "ca_certificate": None}
    shown = as_module_reports(result, params, no_log_values, diff_mode=False)
    assert "diff" not in shown and shown["changed"] is True and shown["ca_certificate"] is None
    assert "pfx secret" not in repr(shown) and shown["msg"] == "wrote client.pfx sealed with ********"
    assert shown["invocation"]["module_args"]["common_name"] == "app"
    assert shown["invocation"]["module_args"]["pfx_password"] == "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"
    assert as_module_reports(result, params, no_log_values, diff_mode=True)["diff"] == result["diff"]
    assert result["msg"].endswith("pfx secret")  # the caller's result is left as it was


def test_masking_keeps_booleans_and_reaches_warnings_and_nested_values():
    params, no_log_values = direct_options(dict(CLIENT, pfx_password="True"))
    result = {"changed": True, "failed": False, "warnings": ["client.pfx sealed with True"],
              "changes": [{"reason": "password True"}]}
    shown = as_module_reports(result, params, no_log_values, diff_mode=False)
    assert shown["changed"] is True and shown["failed"] is False  # a no_log value that looks like a bool
    assert shown["warnings"] == ["client.pfx sealed with ********"]
    assert shown["changes"] == [{"reason": "password ********"}]


def test_no_warnings_means_no_warnings_key_as_with_the_module():
    params, no_log_values = direct_options(CLIENT)
    assert "warnings" not in as_module_reports({"changed": False, "warnings": []}, params, no_log_values, False)


# --- the decision: answer from the host, or the module ----------------------------------------------

class Host:
    """What the action plugin runs on a host, run here by this Python as a local pipelined connection would;
    or a canned reply (``rc``, ``stdout``) for the ways a host program can end badly."""

    def __init__(self, reply: dict | None = None):
        self.reply, self.calls, self.requests = reply, 0, []

    def __call__(self, command: str, in_data: bytes | None = None, **_kwargs) -> dict:
        self.calls += 1
        self.requests.append(json.loads(ast.literal_eval(in_data.decode().splitlines()[-1][len("answer("):-len(", recorded_result)")])[0]))
        if self.reply is not None:
            return dict({"stderr": ""}, **self.reply)
        proc = subprocess.run(shlex.split(command), input=in_data, capture_output=True, check=False, timeout=120)
        return {"rc": proc.returncode, "stdout": proc.stdout.decode(), "stderr": proc.stderr.decode()}


def plugin(args: dict, host: Host, pipelining: bool = True, check_mode: bool = False, diff: bool = False,
           no_log: bool = False):
    """The action plugin with the few ActionBase services _direct_result uses, and nothing of a play."""
    action = ActionModule.__new__(ActionModule)  # ActionBase.__init__ wants a whole play; none of it is used here
    action._task = SimpleNamespace(args=args, check_mode=check_mode, diff=diff, delegate_to=None, no_log=no_log)
    action._connection = SimpleNamespace(_shell=SimpleNamespace(
        build_module_command=lambda env, shebang, arg: "%s %s" % (shebang[2:], arg)))
    action._discovered_interpreter_key = None
    action._is_pipelining_enabled = lambda *_args: pipelining
    action._configure_module = lambda **_kwargs: (SimpleNamespace(shebang="#!" + sys.executable), None)
    action._compute_environment_string = lambda: ""
    action._low_level_execute_command = host
    return action


def _server(tmp_path, **extra) -> dict:
    return dict(role="server", path=str(tmp_path / "srv"), ca_path=str(tmp_path / "ca"), common_name="db1", **extra)


def test_the_work_then_the_stamp_answer_on_the_host(tmp_path):
    host = Host()
    made = plugin(_server(tmp_path), host)._direct_result(_server(tmp_path), {})
    assert made["changed"] and "diff" not in made and made["invocation"]["module_args"]["common_name"] == "db1"
    assert (tmp_path / "srv" / "server.crt").is_file()
    again = plugin(_server(tmp_path), host, diff=True)._direct_result(_server(tmp_path), {})
    assert again["changed"] is False and again["diff"] == [] and host.calls == 2


def test_the_host_logs_the_invocation_as_a_module_run_does_unless_no_log(tmp_path):
    host = Host({"rc": 0, "stdout": '{"result": {"changed": false}}\n'})
    plugin(_server(tmp_path), host)._direct_result(_server(tmp_path, pfx_password="pfx secret"), {})
    plugin(_server(tmp_path), host, no_log=True)._direct_result(_server(tmp_path), {})
    logged, quiet = host.requests
    assert logged["log"]["ident"] == "ansible-certkeeper.pki.pg_mtls_certs" and logged["log"]["facility"] == "LOG_USER"
    assert "pfx_password=NOT_LOGGING_PARAMETER" in logged["log"]["message"] and quiet["log"] is None


def test_the_invocation_line_masks_what_no_log_covers():
    params, no_log_values = direct_options(dict(CLIENT, pfx_password="pfx secret", common_name="pfx secret"))
    line = invocation_line(ARGUMENT_SPEC, params, no_log_values)
    assert line.startswith("Invoked with role=client path=/etc/certkeeper/postgresql ")
    assert "pfx_password=NOT_LOGGING_PARAMETER" in line and "common_name=********" in line
    assert "pfx secret" not in line


def test_check_mode_reaches_the_host(tmp_path):
    checked = plugin(_server(tmp_path), Host(), check_mode=True)._direct_result(_server(tmp_path), {})
    assert checked["changed"] and not (tmp_path / "srv").exists()


def test_an_error_of_the_work_is_the_task_result(tmp_path):
    refused = plugin(_server(tmp_path), Host())._direct_result(_server(tmp_path, valid_days=0), {})
    assert refused["failed"] and "valid_days" in refused["msg"] and not (tmp_path / "srv").exists()


@pytest.mark.parametrize("reply", [
    {"rc": 1, "stdout": ""},  # no Python 3 there, say: the program never started
    {"rc": 0, "stdout": '{"fallback": "cryptography cannot be imported"}\n'},
    {"rc": 0, "stdout": "garbage\n"},
], ids=["did not start", "cannot import cryptography", "garbage"])
def test_a_program_that_could_not_do_the_work_leaves_it_to_the_module(tmp_path, reply):
    assert plugin(_server(tmp_path), Host(reply))._direct_result(_server(tmp_path), {}) is None


def test_a_program_that_died_at_work_fails_the_task_and_is_not_replaced_by_the_module(tmp_path):
    died = {"rc": 137, "stdout": 'noise\n{"working": true}\n'}
    result = plugin(_server(tmp_path), Host(died))._direct_result(_server(tmp_path, pfx_password="pfx secret"), {})
    assert result["failed"] and result["msg"].startswith("pg_mtls_certs stopped without a result (rc=137)")
    assert result["module_stdout"] == died["stdout"] and result["rc"] == 137


@pytest.mark.parametrize("args, pipelining", [
    (dict(role="server", path="~/srv", common_name="db1", ca_path="/ca"), True),
    (dict(role="server", path="/srv", common_name="db1", ca_path="/ca", colour="blue"), True),
    (dict(role="server", path="/srv", common_name="db1", ca_path="/ca"), False),
], ids=["home in path", "invalid arguments", "no pipelining"])
def test_the_module_runs_when_the_controller_cannot_prepare_the_call(args, pipelining):
    host = Host()
    assert plugin(args, host, pipelining=pipelining)._direct_result(args, {}) is None and host.calls == 0


def test_only_json_objects_on_their_own_lines_are_answers():
    stdout = 'BECOME-SUCCESS-x\n{"working": true}\nnoise {"result": 1}\n[1]\n{"result": {"changed": false}}\n'
    assert answers(stdout) == [{"working": True}, {"result": {"changed": False}}]
