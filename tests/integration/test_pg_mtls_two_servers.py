"""A second PostgreSQL server gets its certificate through the CA host's batched signing."""

from __future__ import annotations

import os

import pytest
import yaml

from ansible_collections.certkeeper.pki.plugins.module_utils._core import crypto
from ansible_collections.certkeeper.pki.plugins.module_utils._tracking.store import Store

pytestmark = pytest.mark.integration


def test_a_second_server_is_signed_by_the_ca_host_with_its_names(lab):
    data = yaml.safe_load(open(lab.inventory))
    db2_dir = os.path.join(lab.base, "db2")
    data["all"]["children"]["pg_servers"]["hosts"]["db2"] = {
        "pg_mtls_ssl_dir": db2_dir, "pg_mtls_server_cn": "db2.example.com",
        "pg_mtls_server_sans": ["IP:10.0.0.7"], "pg_mtls_manage_config": False, "pg_mtls_reload_command": "true",
        # one machine, two clusters: db2 shares db1's tracking store
        "pg_mtls_track_store": os.path.join(lab.base, "store-db1")}
    inventory = os.path.join(lab.base, "two-servers.yml")
    with open(inventory, "w") as handle:
        yaml.safe_dump(data, handle)

    first = lab.run(inventory=inventory)
    assert first.returncode == 0, first.output
    assert first.invocations["db2"] == 3  # CSR, install, reload; the CA key stays on db1
    assert not os.path.exists(os.path.join(db2_dir, "root.key"))
    cert = crypto.load_certificate(open(os.path.join(db2_dir, "server.crt"), "rb").read())
    root = crypto.load_certificate(open(os.path.join(lab.ca_dir, "root.crt"), "rb").read())
    assert crypto.issued_by(cert, root) and crypto.common_name_of(cert) == "db2.example.com"
    assert [crypto.general_name_text(n) for n in crypto.subject_alt_names_of(cert)] == [
        "DNS:db2.example.com", "IP:10.0.0.7"]
    rerun = lab.run(inventory=inventory)
    assert rerun.changed == {} and rerun.invocations["db2"] == 1
    # each server certificate keeps a record of its own in the shared store
    tracked = {r.cert_path: r for r in Store(os.path.join(lab.base, "store-db1")).all()}
    assert {os.path.join(db2_dir, "server.crt"), os.path.join(lab.ssl_dir, "server.crt")} <= set(tracked)
    assert tracked[os.path.join(db2_dir, "server.crt")].subject == "CN=db2.example.com"
    assert lab.run("--check", inventory=inventory).changed == {}
