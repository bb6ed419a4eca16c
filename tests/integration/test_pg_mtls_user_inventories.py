"""pg_mtls on an inventory written the way the docs tell users to write it, not the way the other fixtures do:
CA settings as host variables of the CA host, the clients' group first, one tracking store shared by every
inventory host of the machine (they all reach this one machine), and the role in the user's own play
(``hosts: all``), whose first host is a client. Each scenario is checked with real psql logins."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
from contextlib import redirect_stdout

import pytest
import yaml

from ansible_collections.certkeeper.pki.plugins.module_utils._host.cli import main as certkeeper_main
from ansible_collections.certkeeper.pki.plugins.module_utils._tracking.store import Store
from tests.integration.conftest import run_playbook
from tests.support.throwaway_pg import ThrowawayPostgres

pytestmark = pytest.mark.integration
DEFAULT_CA_DIR = "/root/certkeeper-ca/postgresql"  # roles/pg_mtls/defaults/main.yml: where a stray second CA would go


class UserLab:
    def __init__(self, base: str, cluster: ThrowawayPostgres):
        self.base, self.cluster = base, cluster
        self.ca_dir, self.ssl_dir, self.store = (os.path.join(base, n) for n in ("ca", "ssl", "store"))
        self.playbook = os.path.join(base, "site.yml")
        with open(self.playbook, "w") as handle:  # the README's "use the role in your own play"
            yaml.safe_dump([{"name": "Our databases", "hosts": "all", "gather_facts": False,
                             "roles": ["certkeeper.pki.pg_mtls"]}], handle)
        self.inventory = self.write_inventory("inventory.yml")

    def client_dir(self, host: str) -> str:
        return os.path.join(self.base, host)

    def write_inventory(self, name: str, **host_vars) -> str:
        hosts = {
            "app1": {"pg_mtls_db_user": "app1", "pg_mtls_client_dir": self.client_dir("app1")},
            "app2": {"pg_mtls_db_user": "app2", "pg_mtls_client_dir": self.client_dir("app2")},
            "db1": {"pg_mtls_ca_dir": self.ca_dir, "pg_mtls_ca_cn": "Users' PostgreSQL CA",
                    "pg_mtls_conf_dir": self.cluster.data, "pg_mtls_ssl_dir": self.ssl_dir,
                    "pg_mtls_server_cn": "localhost", "pg_mtls_server_sans": ["IP:127.0.0.1"],
                    "pg_mtls_reload_command": self.cluster.reload_command,
                    "pg_mtls_hba_rules": [{"address": "127.0.0.1/32"}]},
        }
        for host, values in host_vars.items():
            hosts[host].update(values)
        inventory = {"all": {
            "vars": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable,
                     "pg_mtls_track_store": self.store},  # one machine, one store
            "children": {"pg_clients": {"hosts": {h: hosts[h] for h in ("app1", "app2")}},
                         "pg_servers": {"hosts": {"db1": hosts["db1"]}}}}}
        path = os.path.join(self.base, name)
        with open(path, "w") as handle:
            yaml.safe_dump(inventory, handle)
        return path

    def run(self, *args: str, inventory: str | None = None, playbook: str | None = None, env: dict | None = None):
        return run_playbook(playbook or self.playbook, inventory or self.inventory, *args, tmp_dir=self.base, env=env)

    def files(self) -> dict:
        """Every file of every host, stamps and tracking records included: bytes, mode, owner."""
        found = {}
        for top in (self.ca_dir, self.ssl_dir, self.store, self.client_dir("app1"), self.client_dir("app2"),
                    os.path.join(self.cluster.data, "postgresql.conf"), os.path.join(self.cluster.data, "pg_hba.conf")):
            paths = [top] if os.path.isfile(top) else [os.path.join(d, n) for d, _s, names in os.walk(top)
                                                       for n in names]
            for path in paths:
                if os.path.basename(path) == "lock":
                    continue
                st = os.stat(path)
                found[path] = (open(path, "rb").read(), st.st_mode, st.st_uid, st.st_gid)
        return found

    def login(self, host: str) -> subprocess.CompletedProcess:
        directory = self.client_dir(host)
        conninfo = ("host=localhost port=%d dbname=postgres user=%s sslmode=verify-full sslrootcert=%s sslcert=%s "
                    "sslkey=%s" % (self.cluster.port, host, os.path.join(directory, "root.crt"),
                                   os.path.join(directory, "client.crt"), os.path.join(directory, "client.key")))
        return subprocess.run(["psql", conninfo, "-Atc", "select current_user"], capture_output=True, text=True,
                              check=False)

    def certkeeper(self, *args: str) -> str:
        out = io.StringIO()
        with redirect_stdout(out):
            assert certkeeper_main(["--store", self.store, *args]) in (0, None)
        return out.getvalue()


@pytest.fixture(scope="module")
def user_lab():
    base = tempfile.mkdtemp(prefix="certkeeper-users-")
    os.chmod(base, 0o755)
    cluster = ThrowawayPostgres(os.path.join(base, "pg")).start(roles=["app1", "app2"])
    os.makedirs(os.path.join(base, "ssl"), mode=0o755)
    default_ca_existed = os.path.exists(DEFAULT_CA_DIR)
    try:
        lab = UserLab(base, cluster)
        first = lab.run()
        assert first.returncode == 0, first.output
        yield lab
        assert os.path.exists(DEFAULT_CA_DIR) == default_ca_existed  # never a second CA in the default place
    finally:
        cluster.stop()
        shutil.rmtree(base, ignore_errors=True)


def roots(lab) -> set:
    return {open(os.path.join(d, "root.crt"), "rb").read()
            for d in (lab.ca_dir, lab.ssl_dir, lab.client_dir("app1"), lab.client_dir("app2"))}


def keys(lab) -> dict:
    return {p: data for p, (data, *_rest) in lab.files().items() if p.endswith((".key", ".pending"))}


def test_the_first_run_makes_one_ca_on_the_ca_host_and_every_client_logs_in(user_lab):
    assert len(roots(user_lab)) == 1
    # the CA's name is a host variable of the CA host; the play's first host is app1, which does not set it
    subject = subprocess.run(["openssl", "x509", "-noout", "-subject", "-nameopt", "RFC2253", "-in",
                              os.path.join(user_lab.client_dir("app1"), "root.crt")],
                             capture_output=True, text=True, check=True).stdout
    assert subject.strip() == "subject=CN=Users' PostgreSQL CA"
    for host in ("app1", "app2"):
        login = user_lab.login(host)
        assert login.returncode == 0 and login.stdout.strip() == host, login.stdout + login.stderr
    rerun = user_lab.run()
    assert rerun.returncode == 0 and rerun.changed == {}, rerun.output
    check = user_lab.run("--check", "--diff")
    assert check.returncode == 0 and check.changed == {}, check.output


@pytest.mark.parametrize("limit", ["app1", "app1,app2", "db1"])
def test_limit_makes_no_new_key_and_keeps_one_root(user_lab, limit):
    before = user_lab.files()
    run = user_lab.run("--limit", limit)
    assert run.returncode == 0, run.output
    assert run.changed == {}, run.output
    assert user_lab.files() == before  # no new key anywhere, root.crt the same on every host, stamps untouched
    for host in ("app1", "app2"):
        assert user_lab.login(host).returncode == 0
    assert user_lab.run().changed == {}


def test_limit_to_one_client_whose_certificate_is_missing_reissues_it_through_the_one_ca(user_lab):
    os.unlink(os.path.join(user_lab.client_dir("app1"), "client.crt"))
    # the CA's key, root and CRL stay; its index records the certificate it signs
    kept = [os.path.join(user_lab.ca_dir, name) for name in ("root.key", "root.crt", "root.crl")]
    ca_files = {p: v for p, v in user_lab.files().items() if p in kept}
    run = user_lab.run("--limit", "app1")
    assert run.returncode == 0, run.output
    assert {p: v for p, v in user_lab.files().items() if p in kept} == ca_files
    assert len(roots(user_lab)) == 1
    assert user_lab.login("app1").returncode == 0
    assert user_lab.run().changed == {}


def test_two_identities_on_one_machine_keep_a_record_each(user_lab):
    listing = json.loads(user_lab.certkeeper("list", "--json"))
    by_cert = {item["cert_location"]: item for item in listing}
    assert set(by_cert) == {os.path.join(user_lab.client_dir("app1"), "client.crt"),
                            os.path.join(user_lab.client_dir("app2"), "client.crt"),
                            os.path.join(user_lab.ssl_dir, "server.crt")}
    assert len({item["request_id"] for item in listing}) == 3
    assert {by_cert[os.path.join(user_lab.client_dir(h), "client.crt")]["subject"] for h in ("app1", "app2")} == {
        "CN=app1", "CN=app2"}


def test_a_renewal_renews_both_clients_and_their_records_show_monitoring_at_once(user_lab):
    # the timer finds both client certificates due (a renewal window longer than their life) and reports them
    # NEED_CA; the playbook run re-issues both through the CA host and the records are MONITORING right after
    store = Store(user_lab.store)
    for request in store.all():
        if request.profile == "client":
            request.renew_before = 400
            request.valid_days = 500
            store.save(request)
    user_lab.certkeeper("renew", "--all")
    statuses = {r.cert_path: r.status for r in Store(user_lab.store).all() if r.profile == "client"}
    assert set(statuses.values()) == {"NEED_CA"}, statuses
    serials = {h: open(os.path.join(user_lab.client_dir(h), "client.crt"), "rb").read() for h in ("app1", "app2")}
    renew = user_lab.write_inventory("renew.yml", app1={"pg_mtls_renew_before": 400, "pg_mtls_valid_days": 500},
                                     app2={"pg_mtls_renew_before": 400, "pg_mtls_valid_days": 500})
    run = user_lab.run(inventory=renew)
    assert run.returncode == 0, run.output
    for host in ("app1", "app2"):
        assert open(os.path.join(user_lab.client_dir(host), "client.crt"), "rb").read() != serials[host]
        assert user_lab.login(host).returncode == 0
    listing = json.loads(user_lab.certkeeper("list", "--json"))
    assert [item["status"] for item in listing] == ["MONITORING"] * 3, listing
    crls = json.loads(user_lab.certkeeper("list", "--crls", "--json"))
    assert crls and {item["status"] for item in crls} == {"MONITORING"}, crls
    # cert_check, the documented check, passes right after the run that fixed things
    check = user_lab.run(playbook="certkeeper.pki.cert_check",
                         inventory=user_lab.write_inventory("check.yml"), )
    assert check.returncode == 0, check.output
    back = user_lab.run()  # back to the first inventory's settings: renew_before 30 again
    assert back.returncode == 0, back.output


def test_a_record_of_the_earlier_version_moves_to_its_certificate_id_without_a_reissue(user_lab):
    store = Store(user_lab.store)
    app1_cert = os.path.join(user_lab.client_dir("app1"), "client.crt")
    current = next(r for r in store.all() if r.cert_path == app1_cert)
    old_path = store.path(current.id)
    current.id, current.last_renewed = "pg_mtls-client", "2026-01-02T03:04:05Z"
    store.save(current)
    os.unlink(old_path)
    cert_before = open(app1_cert, "rb").read()
    run = user_lab.run()
    assert run.returncode == 0, run.output
    assert open(app1_cert, "rb").read() == cert_before  # nothing re-issued
    moved = next(r for r in Store(user_lab.store).all() if r.cert_path == app1_cert)
    assert moved.id != "pg_mtls-client" and moved.last_renewed == "2026-01-02T03:04:05Z"
    assert not os.path.exists(store.path("pg_mtls-client"))
    assert user_lab.run().changed == {}


def test_a_ca_setting_of_a_client_that_differs_from_the_ca_hosts_fails_naming_both(user_lab):
    before = user_lab.files()
    bad = user_lab.write_inventory("split.yml", app1={"pg_mtls_ca_dir": os.path.join(user_lab.base, "other-ca")})
    run = user_lab.run(inventory=bad)
    assert run.returncode != 0
    assert "pg_mtls_ca_dir is" in run.output and "for app1 but" in run.output and "db1" in run.output, run.output
    assert user_lab.files() == before
    assert not os.path.exists(os.path.join(user_lab.base, "other-ca"))


def test_a_corrupt_root_crt_fails_naming_it_and_the_reissue_variable_certifies_the_same_key(user_lab):
    root = os.path.join(user_lab.ca_dir, "root.crt")
    data = open(root, "rb").read()
    with open(root, "wb") as handle:
        handle.write(data[: len(data) // 3])
    before = user_lab.files()
    run = user_lab.run()
    assert run.returncode != 0
    assert root in run.output and "corrupt (not a certificate)" in run.output and "pg_mtls_ca_reissue" in run.output
    assert "(host db1)" in run.output
    assert user_lab.files() == before  # nothing changed anywhere, stamps included
    fixed = user_lab.run("-e", "pg_mtls_ca_reissue=true")
    assert fixed.returncode == 0, fixed.output
    new_root = os.path.join(user_lab.ca_dir, "root.crt")
    fingerprint = subprocess.run(["openssl", "x509", "-noout", "-fingerprint", "-sha256", "-in", new_root],
                                 capture_output=True, text=True, check=True).stdout.strip().split("=", 1)[1]
    assert "[WARNING]" in fixed.output, fixed.output
    assert fingerprint.lower() in "".join(fixed.output.split()).lower(), fixed.output  # the warning names it
    for leaf in (os.path.join(user_lab.ssl_dir, "server.crt"),
                 *(os.path.join(user_lab.client_dir(h), "client.crt") for h in ("app1", "app2"))):
        verify = subprocess.run(["openssl", "verify", "-CAfile", new_root, leaf], capture_output=True, text=True,
                                check=False)
        assert verify.returncode == 0, verify.stdout + verify.stderr
    assert len(roots(user_lab)) == 1
    for host in ("app1", "app2"):
        assert user_lab.login(host).returncode == 0
    assert user_lab.run().changed == {}


BAD_VALUES = [
    ("db1", "pg_mtls_server_sans", ["IP:999.1.1.1"]),
    ("db1", "pg_mtls_server_cn", ""),
    ("db1", "pg_mtls_server_key_owner", "nosuchuser-ck"),
    ("db1", "pg_mtls_server_key_mode", "0999"),
    ("db1", "pg_mtls_ca_cn", ""),
    ("db1", "pg_mtls_ca_valid_days", 0),
    ("db1", "pg_mtls_ca_renew_before", 5000),
    ("db1", "pg_mtls_valid_days", 0),
    ("db1", "pg_mtls_ssl_dir", "relative/ssl"),
    ("app1", "pg_mtls_client_key_mode", "0999"),
    ("app1", "pg_mtls_client_key_mode", "0644"),
    ("app1", "pg_mtls_client_key_owner", "nosuchuser-ck"),
    ("app1", "pg_mtls_client_key_group", "nosuchgroup-ck"),
    ("app1", "pg_mtls_client_dir", "relative/dir"),
    ("app1", "pg_mtls_renew_before", 400),
    ("app1", "pg_mtls_key_size", 1024),
    ("app1", "pg_mtls_db_user", "x" * 70),
]


@pytest.mark.parametrize("host, variable, value", BAD_VALUES, ids=["%s-%s-%s" % (h, v, str(x)[:12])
                                                                   for h, v, x in BAD_VALUES])
def test_a_bad_value_is_named_by_its_role_variable_and_changes_no_file_anywhere(user_lab, host, variable, value):
    before = user_lab.files()
    bad = user_lab.write_inventory("bad.yml", **{host: {variable: value}})
    run = user_lab.run(inventory=bad)
    assert run.returncode != 0, run.output
    failed = [line for line in run.output.splitlines() if "FAILED!" in line or "ERROR" in line]
    # the role variable and its host in one message, never the module option alone
    assert any(variable in line and "(host %s)" % host in line for line in failed), run.output
    assert user_lab.files() == before


def test_a_host_that_names_itself_the_ca_fails_naming_the_plays_ca(user_lab):
    before = user_lab.files()
    run = user_lab.run(inventory=user_lab.write_inventory("self-ca.yml", app2={"pg_mtls_ca_host": "app2"}))
    assert run.returncode != 0
    assert "pg_mtls_ca_host is app2 for app2 but the CA of this play is db1" in run.output, run.output
    assert user_lab.files() == before
    assert user_lab.run().changed == {}  # and no second CA anywhere (the fixture checks the default directory)
