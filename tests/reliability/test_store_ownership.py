"""The tracking store is root's alone (docs/cert_track.md, "The tracking store is root's alone").

The attack, as reproduced: the postgres user, owning the store (or one of its records), swaps in a record
whose post-save command is its own; root's `certkeeper renew` ran it. Here postgres plants such a record
for real (a process running as postgres writes it) and the real certkeeper command (the zipapp the role
installs) runs as root: the store or the record is refused with a message naming the path, its owner and
mode and the fix, and the planted command never runs. Checks are made on the opened directory and file
(fstat), and `Store.ensure` never chmods a store someone else owns into use."""

from __future__ import annotations

import json
import os
import pwd
import re
import shutil
import stat
import subprocess
import sys
import tempfile

import pytest

from ansible_collections.certkeeper.pki.plugins.action.certkeeper_command import build_zipapp
from ansible_collections.certkeeper.pki.plugins.module_utils._core.crypto import CertError
from ansible_collections.certkeeper.pki.plugins.module_utils._tracking.verbs import listing, renew, track
from ansible_collections.certkeeper.pki.plugins.module_utils._tracking.request import TrackedRequest
from ansible_collections.certkeeper.pki.plugins.module_utils._tracking.store import Store

POSTGRES = pwd.getpwnam("postgres")


@pytest.fixture
def site():
    """A directory postgres can reach (pytest's own tmp is root-only): a root store tracking a due web
    certificate, the files of a second certificate for the planted record, and the certkeeper command."""
    base = tempfile.mkdtemp(prefix="certkeeper-ownership-", dir="/var/tmp")
    os.chmod(base, 0o755)
    try:
        store = Store(os.path.join(base, "store"))
        seed = Store(os.path.join(base, "seed"))  # made by root: the certificate the planted record renews
        for where, name in ((store, "web"), (seed, "evil")):
            track(where, _request(base, name), check_mode=False)  # issued for 365 days, then due at once:
            request = where.load(name)
            request.renew_before, request.valid_days = 400, 500  # a renewal runs the post-save command
            where.save(request)
        command = os.path.join(base, "certkeeper")
        with open(command, "wb") as handle:
            handle.write(build_zipapp(sys.executable))
        os.chmod(command, 0o755)
        yield base, store, command
    finally:
        shutil.rmtree(base)


def _request(base: str, name: str) -> TrackedRequest:
    return TrackedRequest(id=name, cert_path=os.path.join(base, name + ".crt"), key_path=os.path.join(base, name + ".key"),
                          subject="CN=%s.example.com" % name, subject_alt_names=["DNS:%s.example.com" % name])


def _planted(base: str) -> str:
    """The record postgres swaps in: due, with a post-save command of its own (it leaves a marker)."""
    record = json.load(open(os.path.join(base, "seed", "requests", "evil.json")))
    record["post_save_command"] = "touch %s" % _marker(base)
    return json.dumps(record)


def _marker(base: str) -> str:
    return os.path.join(base, "ran-as-root")


def _as_postgres(*argv: str, data: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(list(argv), input=data, capture_output=True, text=True, check=False,
                          user=POSTGRES.pw_uid, group=POSTGRES.pw_gid, extra_groups=[], cwd="/")


def _plant_as_postgres(base: str, requests_dir: str) -> None:
    path = os.path.join(requests_dir, "evil.json")
    done = _as_postgres("/bin/sh", "-c", 'cat > "$0"', path, data=_planted(base))
    assert done.returncode == 0, done.stderr
    assert os.stat(path).st_uid == POSTGRES.pw_uid


def _certkeeper(command: str, store: Store, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([command, "--store", store.directory, *args], capture_output=True, text=True, check=False)


@pytest.mark.parametrize("which", ["store", "requests"])
def test_a_store_directory_postgres_owns_is_refused_and_its_planted_record_never_runs(site, which):
    base, store, command = site
    directory = store.directory if which == "store" else store.requests_dir
    os.chown(directory, POSTGRES.pw_uid, POSTGRES.pw_gid)
    os.chmod(store.directory, 0o755)  # so postgres reaches requests/ when it owns only that
    os.chown(store.requests_dir, POSTGRES.pw_uid, POSTGRES.pw_gid)  # postgres plants into requests/ ...
    _plant_as_postgres(base, store.requests_dir)
    os.chown(store.requests_dir, *((POSTGRES.pw_uid, POSTGRES.pw_gid) if which == "requests" else (0, 0)))
    if which == "store":
        os.chown(os.path.join(store.requests_dir, "evil.json"), 0, 0)  # ... and may as well have made it root's
    for verb in (["renew", "--all"], ["renew", "-i", "evil"], ["list"], ["resubmit", "-i", "evil"]):
        result = _certkeeper(command, store, *verb)
        assert result.returncode == 1, (verb, result.stdout, result.stderr)
        expected = "tracking store directory %s is not root's (owner postgres (uid %d), mode %04o)" % (
            directory, POSTGRES.pw_uid, 0o755 if which == "store" else 0o700)
        assert expected in result.stderr, result.stderr
        assert "chown root:root and chmod 0700 %s" % directory in result.stderr
    assert not os.path.exists(_marker(base))
    # Store.ensure (every change: start-tracking, the modules) refuses too, and leaves the owner and mode alone
    before = os.stat(directory)
    with pytest.raises(CertError, match=re.escape("is not root's (owner postgres")):
        store.ensure()
    with pytest.raises(CertError, match=re.escape("is not root's (owner postgres")):
        track(store, _request(base, "other"), check_mode=False)
    after = os.stat(directory)
    assert (after.st_uid, after.st_mode) == (before.st_uid, before.st_mode)
    assert not os.path.exists(_marker(base))


@pytest.mark.parametrize("which, mode", [("store", 0o770), ("store", 0o703), ("requests", 0o720)])
def test_a_store_directory_others_can_write_is_refused(site, which, mode):
    base, store, command = site
    directory = store.directory if which == "store" else store.requests_dir
    with open(os.path.join(store.requests_dir, "evil.json"), "w") as handle:
        handle.write(_planted(base))
    os.chmod(directory, mode)
    result = _certkeeper(command, store, "renew", "--all")
    assert result.returncode == 1 and "tracking store directory %s is writable by" % directory in result.stderr
    assert "mode %04o" % mode in result.stderr, result.stderr
    with pytest.raises(CertError, match="is writable by"):
        store.ensure()
    assert stat.S_IMODE(os.stat(directory).st_mode) == mode  # refused, not chmodded into use
    assert not os.path.exists(_marker(base))


@pytest.mark.parametrize("owner, mode, problem", [
    ("postgres", 0o600, "is not root's (owner postgres (uid %d), mode 0600)" % POSTGRES.pw_uid),
    ("root", 0o620, "is writable by its group (owner root (uid 0), mode 0620)"),
    ("root", 0o606, "is writable by others (owner root (uid 0), mode 0606)"),
])
def test_a_record_not_roots_alone_is_unreadable_and_its_commands_never_run(site, owner, mode, problem):
    base, store, command = site
    path = os.path.join(store.requests_dir, "evil.json")
    with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as handle:
        handle.write(_planted(base))
    os.chown(path, pwd.getpwnam(owner).pw_uid, pwd.getpwnam(owner).pw_gid)
    os.chmod(path, mode)
    renewed = _certkeeper(command, store, "renew", "--all", "--json")
    assert renewed.returncode == 1, renewed.stderr
    outcomes = {o["id"]: o for o in json.loads(renewed.stdout)}
    assert (outcomes["evil"]["action"], outcomes["evil"]["status"]) == ("failed", "NEED_GUIDANCE")
    assert "tracking record %s %s" % (path, problem) in outcomes["evil"]["message"]
    assert "mode %04o" % mode in outcomes["evil"]["message"] and "chown root:root and chmod 0600" in \
        outcomes["evil"]["message"]
    assert (outcomes["web"]["action"], outcomes["web"]["status"]) == ("renewed", "MONITORING")  # the others go on
    assert not os.path.exists(_marker(base))
    one = _certkeeper(command, store, "renew", "-i", "evil")
    assert one.returncode == 1 and problem in one.stderr
    shown = _certkeeper(command, store, "list")
    assert shown.returncode == 0 and "Request ID 'evil':\n\tstatus: NEED_GUIDANCE\n\tstuck: yes\n" in shown.stdout
    assert "\tca-error: tracking record %s %s" % (path, problem) in shown.stdout
    assert "touch" not in shown.stdout  # its commands are not even shown as the request's
    assert {i["request_id"]: i["status"] for i in listing(store)} == {"evil": "NEED_GUIDANCE", "web": "MONITORING"}
    assert not os.path.exists(_marker(base))
    with open(path) as handle:  # left as found, for a person to look at
        assert json.load(handle)["post_save_command"] == "touch %s" % _marker(base)


def test_a_record_that_is_a_symlink_or_a_fifo_is_refused_without_waiting(site):
    base, store, _command = site
    with open(os.path.join(base, "elsewhere.json"), "w") as handle:
        handle.write(_planted(base))
    os.symlink(os.path.join(base, "elsewhere.json"), os.path.join(store.requests_dir, "linked.json"))
    os.mkfifo(os.path.join(store.requests_dir, "fifo.json"), 0o600)
    outcomes = {o.id: o for o in renew(store)}
    assert "symbolic link" in outcomes["linked"].message and outcomes["linked"].status == "NEED_GUIDANCE"
    assert "not a regular file" in outcomes["fifo"].message
    assert outcomes["web"].action == "renewed" and not os.path.exists(_marker(base))


def test_a_root_store_others_may_read_is_made_root_only(site):
    _base, store, _command = site
    os.chmod(store.directory, 0o755)
    store.ensure()
    assert stat.S_IMODE(os.stat(store.directory).st_mode) == 0o700
