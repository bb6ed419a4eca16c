"""Fixtures shared by unit tests."""

from __future__ import annotations

import pytest

from tests.unit.test_pg_mtls import run
from tests.unit.test_pg_mtls_revocation import client_request


@pytest.fixture
def crl_lab(tmp_path):
    """A CA host that is also the server (ca_path) and a client without the CA, each with its own store."""
    ca = str(tmp_path / "ca")
    stores = {name: str(tmp_path / ("store-" + name)) for name in ("ca", "db1", "app1")}
    ca_call = dict(role="ca", path=ca, track=dict(store=stores["ca"]))
    server = dict(role="server", path=str(tmp_path / "db1"), ca_path=ca, common_name="db1.example.com",
                  track=dict(store=stores["db1"], post_save_command="reload postgresql"))
    first = run(**ca_call)
    server["crl"] = first["crl"]  # as the role hands every host the CA call's CRL
    run(**server)
    client = dict(role="client", path=str(tmp_path / "app1"), common_name="user_app1", ca_certificate=first["ca_certificate"],
                  crl=first["crl"], track=dict(store=stores["app1"]))
    signed = run(**ca_call, sign=[client_request("app1", run(**client)["csr"])])
    run(certificate=signed["certificates"]["app1"], **client)
    return dict(ca=ca, stores=stores, ca_call=ca_call, server=server, client=client, tmp=tmp_path)
