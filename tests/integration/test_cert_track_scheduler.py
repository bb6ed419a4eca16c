"""cert_track on a host without cron or systemd (a minimal image), and a cert_track_bin whose directory is
missing.

The host is this machine seen through a mount namespace (``unshare --mount``, private propagation) in which
ansible-playbook and everything it starts run: every ``crontab`` in PATH and in the sbin directories the cron
module adds (``get_bin_path``) has /dev/null bound over it (a character device without execute bits, which
neither ``get_bin_path`` nor ``command -v`` accepts), and /run/systemd is an empty tmpfs (so ``auto`` does
not see systemd). The namespace checks before running anything that ``crontab`` cannot be found. Nothing of
it reaches the machine: the mounts die with the namespace.

Installing cron for real would change this machine (a package, a daemon, /etc/cron.d): the install path runs
in check mode, which proves the decision, the package name of the distribution family and that its package
manager has it (apt resolves ``cron`` and reports it as a change), and that nothing is installed."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile

import pytest
import yaml

from tests.integration.conftest import run_playbook
from tests.integration.test_role_words import frozen_collection

pytestmark = pytest.mark.integration

HIDE_CRON_AND_SYSTEMD = r"""
for d in $(printf %s "$PATH" | tr : ' ') /sbin /usr/sbin /usr/local/sbin /bin /usr/bin /usr/local/bin; do
  if [ -e "$d/crontab" ]; then mount --bind /dev/null "$d/crontab" || exit 97; fi
done
if [ -d /run/systemd ]; then mount -t tmpfs -o size=1m certkeeper-test /run/systemd || exit 97; fi
if PATH="$PATH:/sbin:/usr/sbin:/usr/local/sbin" command -v crontab >/dev/null; then exit 98; fi
if [ -d /run/systemd/system ]; then exit 98; fi
exec "$@"
"""


def namespaces_work() -> bool:
    probe = subprocess.run(["unshare", "--mount", "sh", "-c", "mount -t tmpfs none /mnt"], capture_output=True,
                           check=False)
    return probe.returncode == 0


def run_on_minimal_host(base: str, inventory: str, *args: str) -> subprocess.CompletedProcess:
    """ansible-playbook certkeeper.pki.cert_track on a host without crontab and systemd (see the module doc)."""
    env = dict(os.environ, **frozen_collection(base), ANSIBLE_HOST_KEY_CHECKING="false",
               ANSIBLE_DEPRECATION_WARNINGS="false", ANSIBLE_LOCALHOST_WARNING="false", ANSIBLE_FORCE_COLOR="false",
               ANSIBLE_NOCOLOR="true", ANSIBLE_PIPELINING="true", ANSIBLE_LOCAL_TEMP=os.path.join(base, "ansible-tmp"))
    playbook = os.path.join(os.path.dirname(sys.executable), "ansible-playbook")
    run = subprocess.run(["unshare", "--mount", "sh", "-c", HIDE_CRON_AND_SYSTEMD, "sh", playbook, "-i", inventory,
                          "certkeeper.pki.cert_track", *args], env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True, check=False)
    assert run.returncode not in (97, 98), "the namespace could not hide crontab or systemd:\n" + run.stdout
    return run


def machine_cron_state() -> tuple:
    """What installing cron would change on this machine: the package's status, crontab, /etc/cron.d."""
    status = subprocess.run(["dpkg-query", "-W", "-f", "${Status}", "cron"], capture_output=True, text=True,
                            check=False).stdout if shutil.which("dpkg-query") else ""
    crontab = [p for p in ("/usr/bin/crontab", "/bin/crontab", "/usr/sbin/crontab") if os.path.exists(p)]
    cron_d = sorted(os.listdir("/etc/cron.d")) if os.path.isdir("/etc/cron.d") else []
    return status, crontab, cron_d


class Host:
    """One inventory host (ansible_connection: local) with its command, store and certificate under ``base``."""

    def __init__(self, base: str, **variables):
        self.base = base
        self.bin = os.path.join(base, "sbin", "certkeeper")
        self.store = os.path.join(base, "store")
        self.tls = os.path.join(base, "tls")
        os.makedirs(self.tls)
        host = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable,
                "cert_track_python": sys.executable, "cert_track_bin": self.bin, "cert_track_store": self.store,
                "cert_track_log": os.path.join(base, "certkeeper.log"),
                "cert_track_requests": [{"id": "web", "cert_path": os.path.join(self.tls, "web.crt"),
                                         "key_path": os.path.join(self.tls, "web.key"),
                                         "subject": "CN=web.example.com", "subject_alt_names": ["web.example.com"]}]}
        host.update(variables)
        self.inventory = os.path.join(base, "inventory.yml")
        with open(self.inventory, "w") as handle:
            yaml.safe_dump({"all": {"hosts": {"minimal": host}}}, handle)

    def files(self) -> list:
        """Every path the role could have made under base (its inventory, Ansible's temp and the copy of the
        collection aside)."""
        found = []
        for directory, dirs, names in os.walk(self.base):
            dirs[:] = [d for d in dirs if d not in ("ansible-tmp", "collections")]
            found += [os.path.relpath(os.path.join(directory, n), self.base) for n in dirs + names]
        return sorted(set(found) - {"inventory.yml", "tls", "collections"})


@pytest.fixture
def base():
    path = tempfile.mkdtemp(prefix="certkeeper-scheduler-")
    yield path
    shutil.rmtree(path, ignore_errors=True)


needs_namespaces = pytest.mark.skipif(not namespaces_work(), reason="needs unshare --mount (root, CAP_SYS_ADMIN)")


@needs_namespaces
@pytest.mark.parametrize("scheduler", ["cron", "auto"])
def test_without_crontab_the_role_stops_before_installing_anything(base, scheduler):
    host = Host(base, cert_track_scheduler=scheduler)
    machine = machine_cron_state()
    run = run_on_minimal_host(base, host.inventory)
    assert run.returncode == 2, run.stdout
    [fatal] = [line for line in run.stdout.splitlines() if line.startswith("fatal: [minimal]")]
    msg = json.loads(fatal.split(" => ", 1)[1])["msg"]
    assert msg.startswith("cert_track_scheduler is %s" % scheduler), msg
    if scheduler == "auto":
        assert "(systemd does not run this host, so cron)" in msg
    for text in ("has no crontab (host minimal)", "cert_track_install_cron: true",
                 "cert_track_scheduler: systemd, cron or none", "Nothing was installed"):
        assert text in msg, msg
    assert "Failed to find required executable" not in run.stdout
    assert host.files() == []  # no command, no store, no certificate, no log
    assert machine_cron_state() == machine


@needs_namespaces
def test_install_cron_in_check_mode_would_install_the_distribution_package(base):
    host = Host(base, cert_track_scheduler="auto", cert_track_install_cron=True)
    machine = machine_cron_state()
    run = run_on_minimal_host(base, host.inventory, "--check")
    assert run.returncode == 0, run.stdout
    tasks = {}
    for chunk in run.stdout.split("\nTASK [certkeeper.pki.cert_track : ")[1:]:
        name, _bracket, body = chunk.partition("]")
        tasks[name] = body
    assert "changed: [minimal]" in tasks["Install the cron package"], run.stdout
    assert "skipping: [minimal]" in tasks["Start cron, and at boot"]
    assert "skipping: [minimal]" in tasks["Run the renewal from cron where systemd does not run the host"]
    assert "skipping: [minimal]" in tasks["Stop before installing anything when cron is to run the renewals and " +
                                          "this host has no crontab"]
    if os.path.exists("/etc/debian_version"):  # the package is the Debian family's: apt-get -s agrees
        simulated = subprocess.run(["apt-get", "-s", "install", "cron"], capture_output=True, text=True, check=False)
        assert simulated.returncode == 0 and "Inst cron " in simulated.stdout, simulated.stdout + simulated.stderr
    assert host.files() == []
    assert machine_cron_state() == machine


def test_a_missing_command_directory_is_created(base):
    """cert_track_bin in a directory that does not exist (two levels): made root 0755, the command runs."""
    host = Host(base, cert_track_scheduler="none")
    host.bin = os.path.join(base, "opt", "certkeeper", "sbin", "certkeeper")
    inventory = yaml.safe_load(open(host.inventory))
    inventory["all"]["hosts"]["minimal"]["cert_track_bin"] = host.bin
    with open(host.inventory, "w") as handle:
        yaml.safe_dump(inventory, handle)
    env = frozen_collection(base)  # the command's bytes are the collection's: no edit of the checkout meanwhile
    check = run_playbook("certkeeper.pki.cert_track", host.inventory, "--check", tmp_dir=base, env=env)
    assert check.returncode == 0, check.output
    assert not os.path.exists(os.path.join(base, "opt"))
    first = run_playbook("certkeeper.pki.cert_track", host.inventory, tmp_dir=base, env=env)
    assert first.returncode == 0, first.output
    for directory in ("opt", "opt/certkeeper", "opt/certkeeper/sbin"):
        st = os.stat(os.path.join(base, directory))
        assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (0, 0, 0o755), directory
    listed = subprocess.run([host.bin, "--store", host.store, "list", "--json"], capture_output=True, text=True,
                            check=False)
    assert listed.returncode == 0, listed.stderr
    assert [(r["request_id"], r["status"]) for r in json.loads(listed.stdout)] == [("web", "MONITORING")]
    rerun = run_playbook("certkeeper.pki.cert_track", host.inventory, tmp_dir=base, env=env)
    assert rerun.returncode == 0 and rerun.changed == {}, rerun.output


def test_with_a_crontab_the_role_goes_on_to_the_cron_entry(base):
    """The other side of the check: a host with crontab (a stand-in executable on PATH, found where the cron
    module looks) gets the cron entry; in check mode, so /etc/cron.d of this machine is not written."""
    stand_in = os.path.join(base, "fake-bin")
    os.makedirs(stand_in)
    with open(os.path.join(stand_in, "crontab"), "w") as handle:
        handle.write("#!/bin/sh\nexit 0\n")
    os.chmod(os.path.join(stand_in, "crontab"), 0o755)
    host = Host(base, cert_track_scheduler="cron")
    machine = machine_cron_state()
    run = run_playbook("certkeeper.pki.cert_track", host.inventory, "--check", "--diff", tmp_dir=base,
                       env={"PATH": stand_in + os.pathsep + os.environ["PATH"]})
    assert run.returncode == 0, run.output
    assert "+++ after: /etc/cron.d/certkeeper" in run.output and "renew --all" in run.output
    assert run.changed.get("minimal"), run.output
    assert machine_cron_state() == machine
