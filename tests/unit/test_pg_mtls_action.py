"""The pg_mtls_certs action plugin's side of the stamp probe: the options it validates on the controller."""

from __future__ import annotations

import pytest

from ansible_collections.certkeeper.pki.plugins.action.pg_mtls_certs import probe_options

CLIENT = dict(role="client", path="/etc/certkeeper/postgresql", common_name="app",
              ca_certificate="-----BEGIN CERTIFICATE-----", track=dict(store="/var/lib/certkeeper"))


def test_the_options_come_out_as_the_module_sees_them():
    options = probe_options(dict(CLIENT, key_size="2048"))
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
    assert probe_options(args) is None


@pytest.mark.parametrize("args", [
    dict(CLIENT, role="nobody"), dict(CLIENT, colour="blue"), dict(CLIENT, ca_path="/ca"),
    {key: value for key, value in CLIENT.items() if key != "common_name"},
], ids=["bad choice", "unknown option", "mutually exclusive", "required by role"])
def test_invalid_arguments_are_left_for_the_module_to_report(args):
    assert probe_options(args) is None
