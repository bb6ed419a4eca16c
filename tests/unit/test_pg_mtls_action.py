"""The pg_mtls_certs action plugin's side of the host program: the options it validates on the controller, and
the host's result shaped as the module shapes its own."""

from __future__ import annotations

import pytest

from ansible_collections.certkeeper.pki.plugins.action.pg_mtls_certs import _answers, as_module_reports, direct_options

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


def test_only_json_objects_on_their_own_lines_are_answers():
    stdout = 'BECOME-SUCCESS-x\n{"working": true}\nnoise {"result": 1}\n[1]\n{"result": {"changed": false}}\n'
    assert _answers(stdout) == [{"working": True}, {"result": {"changed": False}}]
