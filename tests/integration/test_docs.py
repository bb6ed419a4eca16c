"""The documentation users read is complete and renders: ansible-doc, RETURN, argument specs."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import yaml

from tests.integration.conftest import COLLECTIONS, ROOT
from tests.unit.test_pg_mtls import run
from tests.unit.test_signing_cert import run as run_signing_cert

pytestmark = pytest.mark.integration
CONTRACT_VARIABLES = {
    "pg_mtls_conf_dir", "pg_mtls_ssl_dir", "pg_mtls_server_cn", "pg_mtls_server_sans", "pg_mtls_ca_host",
    "pg_mtls_ca_dir", "pg_mtls_db_user", "pg_mtls_client_dir", "pg_mtls_client_key_owner",
    "pg_mtls_client_key_group", "pg_mtls_client_key_mode", "pg_mtls_pfx_password", "pg_mtls_reload_command",
    "pg_mtls_hba_rules"}


def ansible_doc(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([os.path.join(os.path.dirname(sys.executable), "ansible-doc"), *args],
                          env=dict(os.environ, ANSIBLE_COLLECTIONS_PATH=COLLECTIONS), capture_output=True, text=True, check=False)


@pytest.mark.parametrize("kind, name", [("module", "certkeeper.pki.pg_mtls_certs"), ("role", "certkeeper.pki.pg_mtls"),
                                        ("filter", "certkeeper.pki.pg_mtls_signing_requests"),
                                        ("filter", "certkeeper.pki.pg_mtls_revocation_args"),
                                        ("filter", "certkeeper.pki.cert_track_request"),
                                        ("module", "certkeeper.pki.signing_cert"), ("role", "certkeeper.pki.signing_cert"),
                                        ("module", "certkeeper.pki.cert_track"),
                                        ("module", "certkeeper.pki.cert_track_info"), ("role", "certkeeper.pki.cert_track"),
                                        ("module", "certkeeper.pki.certkeeper_command")])
def test_ansible_doc_renders_without_warnings(kind, name):
    result = ansible_doc("-t", kind, name)
    assert result.returncode == 0 and name in result.stdout, result.stderr
    assert "WARNING" not in result.stderr and "ERROR" not in result.stderr, result.stderr


def test_every_returned_key_is_documented(tmp_path):
    doc = json.loads(ansible_doc("--json", "certkeeper.pki.pg_mtls_certs").stdout)["certkeeper.pki.pg_mtls_certs"]
    documented = set(doc["return"]) | {"changed", "diff", "warnings"}
    server = run(role="server", path=str(tmp_path / "s"), ca_path=str(tmp_path / "ca"), common_name="db")
    client = run(role="client", path=str(tmp_path / "c"), common_name="app", ca_certificate=server["ca_certificate"])
    ca = run(role="ca", path=str(tmp_path / "ca"), sign=[dict(name="c", csr=client["csr"], profile="client",
                                                              common_name="app", subject_alt_names=[])])
    returned = set(server) | set(client) | set(ca)
    assert returned <= documented, returned - documented
    assert doc["doc"]["attributes"]["check_mode"]["support"] == "full"


def test_cert_track_returns_what_it_documents(tmp_path):
    from ansible_collections.certkeeper.pki.plugins.module_utils._tracking.modules import run_cert_track, run_cert_track_info
    doc = json.loads(ansible_doc("--json", "certkeeper.pki.cert_track").stdout)["certkeeper.pki.cert_track"]
    params = dict(id="web", state="present", store=str(tmp_path / "store"), cert_path=str(tmp_path / "w.crt"),
                  key_path=str(tmp_path / "w.key"), ca="self_sign", subject="CN=web", subject_alt_names=["web"],
                  profile="server", key_type="rsa", key_size=None, rotate_key=True, renew_before=30,
                  renew_fraction=0.3333, valid_days=365, key_owner="root", key_group="root", key_mode="0600",
                  cert_mode="0644", outputs=[], pre_save_command="", post_save_command="", auto_renew=True)
    returned = set(run_cert_track(params, check_mode=False))
    assert returned <= set(doc["return"]) | {"changed", "diff", "warnings"}, returned
    info = json.loads(ansible_doc("--json", "certkeeper.pki.cert_track_info").stdout)["certkeeper.pki.cert_track_info"]
    listed = run_cert_track_info(dict(store=str(tmp_path / "store"), id=None), check_mode=True)
    assert set(listed) <= set(info["return"]) | {"changed"} and listed["requests"][0]["request_id"] == "web"


def test_signing_cert_returns_what_it_documents(tmp_path):
    doc = json.loads(ansible_doc("--json", "certkeeper.pki.signing_cert").stdout)["certkeeper.pki.signing_cert"]
    documented = set(doc["return"]) | {"changed", "diff", "warnings"}
    returned = set(run_signing_cert(path=str(tmp_path / "x")))
    assert returned <= documented, returned - documented


@pytest.mark.parametrize("role", ["pg_mtls", "signing_cert", "cert_track"])
def test_role_defaults_and_contract_variables_are_in_the_argument_spec(role):
    specs = yaml.safe_load(open(os.path.join(ROOT, "roles", role, "meta/argument_specs.yml")))
    options = set(specs["argument_specs"]["main"]["options"])
    defaults = set(yaml.safe_load(open(os.path.join(ROOT, "roles", role, "defaults/main.yml"))))
    assert defaults <= options, defaults - options
    if role == "pg_mtls":
        assert CONTRACT_VARIABLES <= options, CONTRACT_VARIABLES - options
    assert all(spec.get("description") for spec in specs["argument_specs"]["main"]["options"].values())


MODULES = sorted(name[:-3] for name in os.listdir(os.path.join(ROOT, "plugins", "modules")) if name.endswith(".py"))


@pytest.mark.parametrize("module", MODULES)
def test_every_module_states_the_four_attributes(module):
    doc = json.loads(ansible_doc("--json", "certkeeper.pki." + module).stdout)["certkeeper.pki." + module]["doc"]
    for attribute in ("check_mode", "diff_mode", "idempotent", "safe_file_operations"):
        spec = doc["attributes"][attribute]
        assert spec["support"] in ("full", "partial", "none") and spec["description"], (module, attribute)
    assert doc["author"] and all("(@" in author for author in doc["author"])
    rendered = ansible_doc("certkeeper.pki." + module).stdout
    assert "ATTRIBUTES" in rendered and "safe_file_operations" in rendered and "EXAMPLES" in rendered


@pytest.mark.parametrize("role", ["pg_mtls", "signing_cert", "cert_track"])
def test_ansible_doc_documents_each_role_option(role):
    """What an AWX survey is built from: every option named, typed and described by ansible-doc -t role."""
    doc = json.loads(ansible_doc("-t", "role", "--json", "certkeeper.pki." + role).stdout)["certkeeper.pki." + role]
    main = doc["entry_points"]["main"]
    assert main["short_description"] and main["description"]
    rendered = ansible_doc("-t", "role", "certkeeper.pki." + role).stdout
    for option, spec in main["options"].items():
        assert spec.get("description") and spec.get("type"), (role, option)
        assert option in rendered
