"""Injected faults: real crashes (SIGKILL by strace's syscall injection), a full tmpfs, a read-only bind
mount, an immutable file, a CA host lost or unreachable, CA helpers that reject, hang or print garbage,
a failing post-save command, two runs at once, a tracked file deleted. After each, the previous working
files are intact and a real client (psql over mutual TLS) still connects; the status reported is true."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import threading

import pytest
import yaml

from ansible_collections.certkeeper.pki.plugins.module_utils._core import crypto
from ansible_collections.certkeeper.pki.plugins.module_utils._tracking.verbs import renew, resubmit, track
from ansible_collections.certkeeper.pki.plugins.module_utils._tracking.request import TrackedRequest
from ansible_collections.certkeeper.pki.plugins.module_utils._tracking.store import Store
from tests.integration.conftest import COLLECTIONS, ROOT, run_playbook
from tests.integration.test_pg_mtls_role import libpq, psql
from tests.reliability.conftest import tree_snapshot
from tests.support.throwaway_pg import free_port

pytestmark = pytest.mark.integration
CALL = os.path.join(os.path.dirname(os.path.abspath(__file__)), "pg_mtls_call.py")
TEMP_FILE = re.compile(r"\.certkeeper-(old-)?[0-9a-f]{8}$")  # a staged file or a kept old one
TARGETS = ("client.key", "client.crt", "root.crt", "client.pk8", "client.pem.pk8", "client.pfx")


# --- helpers -----------------------------------------------------------------------------------

class Scratch:
    """A copy of one lab client's files (and of the CA) to break; the copy's certificates are the lab's."""

    def __init__(self, lab, name: str, host: str = "app1", mount: bool = False):
        self.lab, self.host = lab, host
        self.base = os.path.join(lab.base, "faults", name)
        self.dir, self.ca = os.path.join(self.base, host), os.path.join(self.base, "ca")
        os.makedirs(self.dir, mode=0o755)
        self.mounted = False
        if mount:
            subprocess.run(["mount", "-t", "tmpfs", "-o", "size=96k,mode=0755", "certkeeper-test", self.dir], check=True)
            self.mounted = True
        for name in os.listdir(lab.client_dir(host)):
            shutil.copy2(os.path.join(lab.client_dir(host), name), os.path.join(self.dir, name))
        shutil.copytree(lab.ca_dir, self.ca)

    def unmount(self):
        if self.mounted:
            subprocess.run(["umount", self.dir], check=True)
            self.mounted = False

    def path(self, name: str) -> str:
        return os.path.join(self.dir, name)

    def targets(self) -> dict:
        return {p: v for p, v in tree_snapshot(self.dir).items() if os.path.basename(p) in TARGETS}

    def key(self, name: str = "client.key"):
        return crypto.load_private_key(open(self.path(name), "rb").read())

    def cert(self):
        return crypto.load_certificate(open(self.path("client.crt"), "rb").read())

    def pair_matches(self) -> bool:
        return crypto.same_public_key(self.key(), self.cert().public_key())

    def other_key_type(self) -> str:
        return "rsa" if crypto.KeySpec.of(self.key()).type == "ecdsa" else "ecdsa"

    def params(self, **extra) -> dict:
        return dict(role="client", path=self.dir, ca_path=self.ca, common_name=self.host, **extra)

    def connects(self) -> bool:
        """psql over mutual TLS with this copy's files, as the lab's PostgreSQL checks them."""
        result = psql(libpq(self.lab, self.host, self.host, sslcert=self.path("client.crt"),
                            sslkey=self.path("client.key"), sslrootcert=self.path("root.crt")))
        return result.returncode == 0 and result.stdout.startswith(self.host + "|")

    def leftovers(self) -> list:
        return sorted(n for n in os.listdir(self.dir) if TEMP_FILE.search(n))


def call(params: dict, kill_at: tuple | None = None) -> subprocess.CompletedProcess:
    """pg_mtls_certs in a process of its own; ``kill_at`` = (syscall, n): SIGKILL at its n-th call."""
    command = [sys.executable, CALL, json.dumps(params)]
    if kill_at:
        syscall, n = kill_at
        command = ["strace", "-f", "-qq", "-o", "/dev/null", "-e", "trace=%s" % syscall,
                   "-e", "inject=%s:signal=KILL:when=%d" % (syscall, n)] + command
    return subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, check=False,
                          env=dict(os.environ, PYTHONPATH="%s:%s" % (COLLECTIONS, ROOT)))


def killed(proc) -> bool:
    return proc.returncode in (-9, 137)


# --- crashes -------------------------------------------------------------------------------------

def _crash_at_every(working, syscall: str) -> dict:
    """Kill a key-type change at the 1st, 2nd, ... ``syscall`` until a run gets through; check each state."""
    seen = {"old pair": 0, "new pair": 0, "new certificate + pending key": 0}
    for n in range(1, 30):
        scratch = Scratch(working, "%s-%d" % (syscall, n))
        key_type = scratch.other_key_type()
        before = scratch.targets()
        proc = call(scratch.params(key_type=key_type), kill_at=(syscall, n))
        if not killed(proc):
            assert proc.returncode == 0, proc.stdout
            break
        if scratch.pair_matches():
            state = "old pair" if scratch.targets()[scratch.path("client.key")] == before[scratch.path("client.key")] \
                else "new pair"
            if state == "old pair":
                assert scratch.targets() == before  # nothing at all replaced
            assert scratch.connects(), "the %s left on disk does not work" % state
        else:  # cut between the certificate and the key: the pending key belongs to the new certificate
            state = "new certificate + pending key"
            pending = crypto.load_private_key(open(scratch.path("client.key.pending"), "rb").read())
            assert crypto.same_public_key(pending, scratch.cert().public_key())
        seen[state] += 1
        # the next call, with no CA (ca_certificate only), finishes or redoes the change
        again = call(dict(scratch.params(key_type=key_type), ca_path=None,
                          ca_certificate=open(scratch.path("root.crt")).read()))
        if state == "old pair":
            assert json.loads(again.stdout)["certificate_needed"]  # a CSR: the CA must sign the new key
        else:
            assert again.returncode == 0 and not json.loads(again.stdout)["certificate_needed"], again.stdout
            assert scratch.pair_matches() and crypto.KeySpec.of(scratch.key()).type == key_type
            assert not os.path.exists(scratch.path("client.key.pending")) and scratch.connects()
    else:
        pytest.fail("the change never completed")
    assert n > 3, "too few %s calls to have crashed between the files" % syscall
    return seen


def test_kill_at_each_rename(working):
    seen = _crash_at_every(working, "rename")
    assert seen["old pair"] >= 2 and seen["new certificate + pending key"] == 1, seen


def test_kill_at_each_write(working):
    seen = _crash_at_every(working, "fsync")
    assert seen["old pair"] >= 5 and seen["new certificate + pending key"] == 0, seen


# --- the file system -----------------------------------------------------------------------------

def _refused(scratch, message: str) -> None:
    before = scratch.targets()
    proc = call(scratch.params(key_type=scratch.other_key_type()))
    assert proc.returncode == 1, proc.stdout
    assert message in json.loads(proc.stdout)["msg"] and "nothing was changed" in proc.stdout, proc.stdout
    assert scratch.targets() == before and scratch.leftovers() == [] and scratch.connects()


def test_full_filesystem(working):
    scratch = Scratch(working, "full", mount=True)
    try:
        free = os.statvfs(scratch.dir)
        with open(scratch.path("filler"), "wb") as handle:  # leave one page: the pending key fits, not the rest
            handle.write(b"\0" * (free.f_bavail * free.f_frsize - 4096))
        _refused(scratch, "No space left on device")
    finally:
        scratch.unmount()


def test_read_only_target(working):
    scratch = Scratch(working, "read-only")
    subprocess.run(["mount", "--bind", scratch.dir, scratch.dir], check=True)
    try:
        subprocess.run(["mount", "-o", "remount,bind,ro", scratch.dir], check=True)
        _refused(scratch, "Read-only file system")
    finally:
        subprocess.run(["umount", scratch.dir], check=True)


def test_immutable_certificate(working):
    scratch = Scratch(working, "immutable")
    subprocess.run(["chattr", "+i", scratch.path("client.crt")], check=True)
    try:
        _refused(scratch, "Operation not permitted")
    finally:
        subprocess.run(["chattr", "-i", scratch.path("client.crt")], check=True)


# --- the CA host ---------------------------------------------------------------------------------

def test_ca_host_lost_mid_run(working):
    lab = working
    counter = os.path.join(lab.base, "db1-calls")
    wrapper = os.path.join(lab.base, "db1-python")
    with open(wrapper, "w") as handle:  # the first module call on db1 works, then its connection is gone
        handle.write('#!/bin/sh\nn=$(($(cat %s 2>/dev/null || echo 0) + 1)); echo $n > %s\n'
                     '[ $n -ge 2 ] && { echo "connection to db1 lost" >&2; exit 255; }\nexec %s "$@"\n'
                     % (counter, counter, sys.executable))
    os.chmod(wrapper, 0o755)
    app1 = lab.client_dir("app1")
    key_type = "ecdsa" if crypto.KeySpec.of(crypto.load_private_key(
        open(os.path.join(app1, "client.key"), "rb").read())).type == "rsa" else "rsa"
    before = {n: open(os.path.join(app1, n), "rb").read() for n in TARGETS}
    lost = lab.write_inventory("ca-lost.yml", db1={"ansible_python_interpreter": wrapper},
                               app1={"pg_mtls_key_type": key_type})
    run = lab.run(inventory=lost)
    assert run.returncode != 0 and "connection to db1 lost" in run.output, run.output
    assert {n: open(os.path.join(app1, n), "rb").read() for n in TARGETS} == before
    pending = crypto.load_private_key(open(os.path.join(app1, "client.key.pending"), "rb").read())
    assert crypto.KeySpec.of(pending).type == key_type
    assert psql(libpq(lab, "app1", "app1")).returncode == 0
    back = lab.run(inventory=lab.write_inventory("ca-back.yml", app1={"pg_mtls_key_type": key_type}))
    assert back.returncode == 0, back.output
    installed = crypto.load_private_key(open(os.path.join(app1, "client.key"), "rb").read())
    assert crypto.same_public_key(installed, pending) and not os.path.exists(os.path.join(app1, "client.key.pending"))
    assert psql(libpq(lab, "app1", "app1")).returncode == 0


def test_host_program_killed_mid_work(working):
    """With pipelining the work runs in the program the action plugin sends; killed once it has begun, the
    task fails with what happened and the work is not run a second time behind the user's back."""
    lab = working
    app1 = lab.client_dir("app1")
    wrapper = os.path.join(lab.base, "app1-python-killed-at-rename")
    with open(wrapper, "w") as handle:
        handle.write('#!/bin/sh\nexec strace -f -qq -o /dev/null -e trace=rename,renameat,renameat2 -e inject=rename,renameat,renameat2:signal=KILL:when=1 '
                     '%s "$@"\n' % sys.executable)
    os.chmod(wrapper, 0o755)
    os.unlink(os.path.join(app1, "client.pk8"))
    before = {n: open(os.path.join(app1, n), "rb").read() for n in TARGETS if n != "client.pk8"}
    key_type = crypto.KeySpec.of(crypto.load_private_key(before["client.key"])).type  # as earlier faults left it
    run = lab.run("-vvv", inventory=lab.write_inventory("killed.yml", app1={
        "ansible_python_interpreter": wrapper, "pg_mtls_key_type": key_type}))
    assert run.returncode != 0 and "pg_mtls_certs stopped without a result (rc=137)" in run.output, run.output
    assert "pg_mtls_certs.py" not in run.output  # no module run after the kill: "Using module file" never shows
    assert {n: open(os.path.join(app1, n), "rb").read() for n in before} == before
    assert not os.path.exists(os.path.join(app1, "client.pk8"))
    assert psql(libpq(lab, "app1", "app1")).returncode == 0
    for name in os.listdir(app1):  # the killed run's staged file (sweeping those is not this fault's subject)
        if TEMP_FILE.search(name):
            os.unlink(os.path.join(app1, name))
    again = lab.run(inventory=lab.write_inventory("killed-back.yml", app1={"pg_mtls_key_type": key_type}))
    assert again.returncode == 0 and again.changed == {"app1": 1}, again.output
    restored = crypto.load_private_key(open(os.path.join(app1, "client.pk8"), "rb").read())
    assert crypto.same_public_key(restored, crypto.load_private_key(before["client.key"]).public_key())


def test_ca_host_unreachable(working):
    lab = working
    data = yaml.safe_load(open(lab.inventory))
    db1 = data["all"]["children"]["pg_servers"]["hosts"]["db1"]
    db1.update(ansible_connection="ssh", ansible_host="127.0.0.1", ansible_port=free_port(),
               ansible_ssh_common_args="-o ConnectTimeout=3 -o BatchMode=yes")
    data["all"]["children"]["pg_clients"]["hosts"].pop("app2")
    data["all"]["children"]["pg_clients"]["hosts"]["app1"]["pg_mtls_key_type"] = "rsa" if crypto.KeySpec.of(
        crypto.load_private_key(open(os.path.join(lab.client_dir("app1"), "client.key"), "rb").read())).type \
        == "ecdsa" else "ecdsa"
    path = os.path.join(lab.base, "ca-unreachable.yml")
    with open(path, "w") as handle:
        yaml.safe_dump(data, handle)
    before = tree_snapshot(lab.client_dir("app1"))
    run = lab.run(inventory=path)
    assert run.returncode != 0 and "UNREACHABLE" in run.output, run.output
    assert tree_snapshot(lab.client_dir("app1")) == before
    assert psql(libpq(lab, "app1", "app1")).returncode == 0


# --- CA helpers, post-save, tracked files --------------------------------------------------------

def _tracked(working, name: str, **settings):
    scratch = Scratch(working, name, host="app2")
    store = Store(os.path.join(scratch.base, "store"))
    request = TrackedRequest(id=name, cert_path=scratch.path("client.crt"), key_path=scratch.path("client.key"),
                             subject="CN=app2", profile="client", key_mode="0640", **settings)
    track(store, request, check_mode=False)
    return scratch, store


@pytest.mark.parametrize("name, helper, status, message", [
    ("helper-rejects", "echo 'policy forbids CN=app2'; exit 2", "CA_REJECTED", "policy forbids CN=app2"),
    ("helper-times-out", "sleep 119.77 & sleep 119.77", "CA_UNREACHABLE", "timed out after 2 s"),
    ("helper-garbage", "echo '<html>502 Bad Gateway</html>'", "CA_REJECTED", "printed no certificate"),
])
def test_ca_helper_faults(working, monkeypatch, name, helper, status, message):
    monkeypatch.setenv("CERTKEEPER_COMMAND_TIMEOUT", "2")
    scratch, store = _tracked(working, name, ca="helper", helper=helper)
    before = scratch.targets()
    outcome = resubmit(store, name, check_mode=False)["outcome"]
    assert outcome["status"] == status and message in outcome["message"], outcome
    assert store.load(name).status == status
    assert scratch.targets() == before and scratch.connects()
    if name == "helper-times-out":  # the helper's whole process group is gone
        assert subprocess.run(["pgrep", "-f", "sleep 119.77"], stdout=subprocess.PIPE, check=False).returncode == 1


def test_post_save_fails(working):
    scratch, store = _tracked(working, "post-save", ca="local", ca_cert_path=os.path.join(working.ca_dir, "root.crt"),
                              ca_key_path=os.path.join(working.ca_dir, "root.key"), post_save_command="exit 7")
    old = scratch.cert()
    outcome = resubmit(store, "post-save", check_mode=False)["outcome"]
    assert outcome["status"] == "POST_SAVE_FAILED" and "exit 7" in outcome["message"], outcome
    assert scratch.cert() != old and scratch.pair_matches() and scratch.connects()


def test_tracked_file_deleted(working):
    settings = dict(ca="local", ca_cert_path=os.path.join(working.ca_dir, "root.crt"),
                    ca_key_path=os.path.join(working.ca_dir, "root.key"), renew_before=400, valid_days=500)  # due now
    gone, store = _tracked(working, "deleted", **settings)
    kept = Scratch(working, "kept", host="app2")
    track(store, TrackedRequest(id="kept", cert_path=kept.path("client.crt"), key_path=kept.path("client.key"),
                                subject="CN=app2", profile="client", key_mode="0640", **settings), check_mode=False)
    key = open(gone.path("client.key"), "rb").read()
    os.unlink(gone.path("client.crt"))
    outcomes = {o.id: o for o in renew(store)}
    assert outcomes["deleted"].status == "NEED_GUIDANCE" and "client.crt is missing" in outcomes["deleted"].message
    assert open(gone.path("client.key"), "rb").read() == key and not os.path.exists(gone.path("client.crt"))
    assert outcomes["kept"].action == "renewed" and kept.pair_matches() and kept.connects()


# --- two runs at once ------------------------------------------------------------------------------

def test_concurrent_role_runs(working):
    lab = working
    app2 = lab.client_dir("app2")
    key_type = "ecdsa" if crypto.KeySpec.of(crypto.load_private_key(
        open(os.path.join(app2, "client.key"), "rb").read())).type == "rsa" else "rsa"
    inventory = lab.write_inventory("concurrent.yml", app2={"pg_mtls_key_type": key_type})
    runs = {}

    def play(name):
        tmp = os.path.join(lab.base, "concurrent-" + name)
        os.makedirs(tmp, exist_ok=True)
        runs[name] = run_playbook("certkeeper.pki.pg_mtls", inventory, tmp_dir=tmp)

    threads = [threading.Thread(target=play, args=(n,)) for n in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert any(r.returncode == 0 for r in runs.values()), [r.output for r in runs.values()]
    for run in runs.values():  # a run that lost the race says why, and changed nothing of the pair
        assert run.returncode == 0 or "does not match the private key" in run.output, run.output
    settle = lab.run(inventory=inventory)
    assert settle.returncode == 0, settle.output
    for host in ("app1", "app2"):
        directory = lab.client_dir(host)
        key = crypto.load_private_key(open(os.path.join(directory, "client.key"), "rb").read())
        cert = crypto.load_certificate(open(os.path.join(directory, "client.crt"), "rb").read())
        assert crypto.same_public_key(key, cert.public_key())
        assert [n for n in os.listdir(directory) if TEMP_FILE.search(n)] == [] and \
            not os.path.exists(os.path.join(directory, "client.key.pending"))
        assert psql(libpq(lab, host, host)).returncode == 0
    assert crypto.KeySpec.of(crypto.load_private_key(open(os.path.join(app2, "client.key"), "rb").read())).type \
        == key_type
