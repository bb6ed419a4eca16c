"""The CRL never lapses: past the first CRL's nextUpdate, a CRL re-signed in time by a playbook run and then by the
certkeeper timer on the CA host keeps PostgreSQL accepting app1. libfaketime moves the clock of the commands, and of a
PostgreSQL restarted under it, so that they agree (an expired CRL refuses every client; one from the future too).

Lab (conftest.lab): db1 is the CA host and the server; app1 and app2 are clients, each with its own store. The cert_track
role installs the certkeeper command, as users install it on every host. The tests run in order and move forward in
time; the last one leaves PostgreSQL running in the future, so this module has a lab of its own."""

from __future__ import annotations

import glob
import json
import os
import subprocess
import sys

import pytest
import yaml

from ansible_collections.certkeeper.pki.plugins.module_utils._ca import revocation
from tests.integration.conftest import run_playbook
from tests.integration.test_pg_mtls_revocation import conninfo, log_size, server_log_since, until

pytestmark = pytest.mark.integration
# the CRL is valid 30 days (pg_mtls_crl_valid_days) and re-signed with a third left
PLAYBOOK_DAY, TIMER_DAY, LOGIN_DAY = 21, 45, 55


def faked(days: int) -> dict:
    """The environment of a command that lives ``days`` ahead, with its children (libfaketime; Debian's faketime
    wrapper is not used: it waits on a daemon such as the postmaster)."""
    library = glob.glob("/usr/lib/*/faketime/libfaketime.so.1")[0]
    return dict(os.environ, LD_PRELOAD=library, FAKETIME="+%dd" % days)


@pytest.fixture(scope="module")
def timer_lab(lab):
    first = lab.run()
    assert first.returncode == 0, first.output
    inventory = {"all": {"hosts": {"db1": {
        "ansible_connection": "local", "ansible_python_interpreter": sys.executable,
        "cert_track_bin": os.path.join(lab.base, "certkeeper"), "cert_track_python": sys.executable,
        "cert_track_store": os.path.join(lab.base, "store-db1"), "cert_track_scheduler": "systemd",
        "cert_track_systemd_dir": os.path.join(lab.base, "units"), "cert_track_systemd_start": False,
        "cert_track_requests": []}}}}
    os.makedirs(os.path.join(lab.base, "units"))
    path = os.path.join(lab.base, "track.yml")
    with open(path, "w") as handle:
        yaml.safe_dump(inventory, handle)
    installed = run_playbook("certkeeper.pki.cert_track", path, tmp_dir=lab.base)
    assert installed.returncode == 0, installed.output
    lab.first_crl = open(os.path.join(lab.ssl_dir, "root.crl"), "rb").read()
    return lab


def certkeeper(lab, store: str, *args: str, days: int = 0) -> subprocess.CompletedProcess:
    command = [os.path.join(lab.base, "certkeeper"), "--store", os.path.join(lab.base, "store-" + store), *args]
    return subprocess.run(command, env=faked(days), capture_output=True, text=True, check=False)


def crls(lab, store: str, days: int = 0) -> dict:
    listed = certkeeper(lab, store, "list", "--crls", "--json", days=days)
    assert listed.returncode == 0, listed.stderr
    return {item["crl_location"]: item for item in json.loads(listed.stdout)}


def crl_number(path: str) -> int:
    return revocation.crl_number(revocation.load_crl(open(path, "rb").read()))


def test_every_host_lists_the_crl_it_serves_with_its_next_update(timer_lab):
    lab = timer_lab
    served = os.path.join(lab.ssl_dir, "root.crl")
    on_ca_host = crls(lab, "db1")
    assert set(on_ca_host) == {served, os.path.join(lab.ca_dir, "root.crl")}
    assert on_ca_host[served]["ca"] == "local" and on_ca_host[served]["post_save_command"] == lab.cluster.reload_command
    client = crls(lab, "app1")[os.path.join(lab.client_dir("app1"), "root.crl")]
    assert client["ca"] == "ansible" and client["status"] == "MONITORING"
    assert client["next_update"] == revocation.crl_next_update(revocation.load_crl(open(served, "rb").read()))
    text = certkeeper(lab, "app1", "list").stdout
    assert "Number of CRLs being tracked: 1." in text and "\tnext update: " + client["next_update"][:10] in text


def test_inside_its_window_a_host_without_the_ca_warns_and_the_ca_host_re_signs(timer_lab):
    lab = timer_lab
    served = os.path.join(lab.ssl_dir, "root.crl")
    renewed = certkeeper(lab, "app1", "renew", "--all", "--json", days=PLAYBOOK_DAY)
    assert renewed.returncode == 0, renewed.stdout + renewed.stderr
    client = crls(lab, "app1")[os.path.join(lab.client_dir("app1"), "root.crl")]
    assert client["status"] == "NEED_CA" and "inside its renewal window" in client["last_error"]
    # a playbook run in the window re-signs the CRL on the CA host and installs it everywhere
    run = run_playbook("certkeeper.pki.pg_mtls", lab.inventory, tmp_dir=lab.base, env=faked(PLAYBOOK_DAY))
    assert run.returncode == 0, run.output
    assert crl_number(served) == 2 == crl_number(os.path.join(lab.client_dir("app2"), "root.crl"))
    assert crls(lab, "app1")[os.path.join(lab.client_dir("app1"), "root.crl")]["status"] == "MONITORING"


def test_the_timer_on_the_ca_host_re_signs_it_again_and_reloads_postgresql(timer_lab):
    lab = timer_lab
    served = os.path.join(lab.ssl_dir, "root.crl")
    timer = certkeeper(lab, "db1", "renew", "--all", "--json", days=TIMER_DAY)
    assert timer.returncode == 0, timer.stdout + timer.stderr
    outcomes = {o["id"]: o for o in json.loads(timer.stdout)}
    served_id = crls(lab, "db1")[served]["request_id"]
    assert outcomes[served_id]["action"] == "renewed" and "installed at " + served in outcomes[served_id]["message"]
    assert crl_number(served) == 3 == crl_number(os.path.join(lab.ca_dir, "root.crl"))
    assert crl_number(os.path.join(lab.client_dir("app1"), "root.crl")) == 2  # a client gets it from the next run
    again = certkeeper(lab, "db1", "renew", "--all", "--json", days=TIMER_DAY)
    assert {o["action"] for o in json.loads(again.stdout)} == {"not due"}


def login(lab, user: str, days: int) -> subprocess.CompletedProcess:
    return subprocess.run(["psql", conninfo(lab, user, lab.client_dir(user)), "-Atc", "select current_user"],
                          env=faked(days), capture_output=True, text=True, check=False)


def test_past_every_earlier_next_update_postgresql_still_accepts_app1_and_the_first_crl_would_not(timer_lab):
    lab = timer_lab
    lab.cluster.pg_ctl("-m", "fast", "-w", "stop")
    lab.cluster.pg_ctl("-l", lab.cluster.log, "-w", "start", env=faked(LOGIN_DAY))
    assert until(lambda: login(lab, "app1", LOGIN_DAY).returncode == 0), login(lab, "app1", LOGIN_DAY).stdout
    # the guard is needed: the first CRL, installed now, makes PostgreSQL refuse every client
    served = os.path.join(lab.ssl_dir, "root.crl")
    current = open(served, "rb").read()
    offset = log_size(lab)
    with open(served, "wb") as handle:
        handle.write(lab.first_crl)
    lab.cluster.pg_ctl("reload", env=faked(LOGIN_DAY))
    try:
        assert until(lambda: login(lab, "app1", LOGIN_DAY).returncode != 0), "an expired CRL did not refuse app1"
        said = login(lab, "app1", LOGIN_DAY).stderr + server_log_since(lab, offset)
        assert "certificate expired" in said or "CRL has expired" in said, said
    finally:
        with open(served, "wb") as handle:
            handle.write(current)
        lab.cluster.pg_ctl("reload", env=faked(LOGIN_DAY))
