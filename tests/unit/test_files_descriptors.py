"""The postgres user, owning a directory root writes into, cannot steer root (issue 21, item 2; item 6's umask).

Each race is made deterministic in-process: the function between root's check and its use is wrapped so
that, at exactly that moment, what a path names is swapped for a link, a hard link, a FIFO or another key,
as the owner of the directory (postgres) could do at any time. Real files, real chown to postgres. Each
test asserts the foreign file is left as it was and the run refuses (or does not wait), or that nothing
swapped in is recorded or certified."""

from __future__ import annotations

import fcntl
import os
import pwd
import re
import signal
import stat

import pytest

from ansible_collections.certkeeper.pki.plugins.module_utils._core import crypto, files, stamp, stamp_record
from ansible_collections.certkeeper.pki.plugins.module_utils._core.crypto import CertError
from ansible_collections.certkeeper.pki.plugins.module_utils._core.files import (
    ROOT_ONLY_DIRECTORY,
    Attributes,
    Change,
    Plan,
    apply_plan,
    read_state,
)
from ansible_collections.certkeeper.pki.plugins.module_utils._core.stamp import recorded_result
from ansible_collections.certkeeper.pki.plugins.module_utils._pg_mtls import run as pg_mtls_module
from ansible_collections.certkeeper.pki.plugins.module_utils._pg_mtls.plan import (
    LEAF_NAMES,
    pending_key_name,
    plan_leaf,
)
from ansible_collections.certkeeper.pki.plugins.module_utils._pg_mtls.run import _leaf_request, run_pg_mtls_certs
from tests.support.pg_mtls_options import DEFAULTS

POSTGRES = pwd.getpwnam("postgres")
SECRET = b"root's alone\n"
REAL_MKDIR = os.mkdir


def run(**options):
    return run_pg_mtls_certs(dict(DEFAULTS, **options), False)


def server_options(directory, **extra) -> dict:
    return dict(DEFAULTS, role="server", path=str(directory), common_name="db1", key_owner="postgres",
                key_group="postgres", key_mode="0600", **extra)


def as_postgres(path, mode):
    os.chown(path, POSTGRES.pw_uid, POSTGRES.pw_gid)
    os.chmod(path, mode)


@pytest.fixture
def pgdata(tmp_path):
    """A directory PostgreSQL's user owns (as /var/lib/postgresql/15/main): root writes into it."""
    directory = tmp_path / "pgdata"
    directory.mkdir()
    as_postgres(directory, 0o700)
    return directory


@pytest.fixture
def secret(tmp_path):
    """A root-only file elsewhere on the same file system: what a swapped-in link or hard link points at."""
    path = tmp_path / "root-only" / "secret"
    path.parent.mkdir(mode=0o700)
    path.write_bytes(SECRET)
    os.chmod(path, 0o600)
    return path


def untouched(path, owner=None, mode=0o600, data=SECRET) -> bool:
    st = os.stat(path)
    uid, gid = (owner.pw_uid, owner.pw_gid) if owner else (0, 0)
    return (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode), open(path, "rb").read()) == (uid, gid, mode, data)


class Blocked(Exception):
    """Not an OSError: no caller may take it for a file's error."""


@pytest.fixture
def no_wait():
    """Fail, rather than hang, a call that waits on a FIFO."""
    def expired(_signum, _frame):
        raise Blocked("the call waited 10 s on the FIFO")
    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(10)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


def swap_before(monkeypatch, module, name, swap):
    """Run ``swap`` once, just before ``module.name`` (the step after root's check) does its work."""
    real = getattr(module, name)
    done = []

    def wrapper(*args, **kwargs):
        if not done:
            done.append(swap())
        return real(*args, **kwargs)
    monkeypatch.setattr(module, name, wrapper)
    return done


def refusal(call, *args) -> str:
    """The CertError ``call`` raised ("" if it went through): checked after the foreign file is."""
    try:
        call(*args)
    except CertError as exc:
        return str(exc)
    return ""


def same_public_key(key_pem: bytes, other) -> bool:
    return crypto.same_public_key(crypto.load_private_key(key_pem), other)


# --- (a) a new directory's owner and mode -------------------------------------------------------------

def _swap_new_directory(monkeypatch, name, replace):
    """os.mkdir that lets ``replace(path)`` take the new directory's place right after creating it."""
    def mkdir(path, mode=0o777, *, dir_fd=None):
        REAL_MKDIR(path, mode, dir_fd=dir_fd)
        if os.path.basename(path) == name:
            where = path if dir_fd is None else os.path.join(os.readlink("/proc/self/fd/%d" % dir_fd), path)
            os.rename(where, where + ".moved")
            replace(where)
    monkeypatch.setattr(os, "mkdir", mkdir)


def test_a_link_swapped_in_after_mkdir_gets_no_owner_or_mode(monkeypatch, pgdata, secret, tmp_path):
    _swap_new_directory(monkeypatch, "ssl", lambda where: os.symlink(secret, where))
    with pytest.raises(CertError) as refused:
        run_pg_mtls_certs(server_options(pgdata / "ssl", ca_path=str(tmp_path / "ca")), False)
    assert untouched(secret)  # on main: postgres:postgres 0755
    assert re.search(r"directory .*/pgdata/ssl, created a moment ago: it now is a symbolic link\. Whoever can write "
                     r".*/pgdata may have swapped it in", str(refused.value)), refused.value
    assert os.path.islink(pgdata / "ssl")


def test_a_directory_swapped_in_after_mkdir_is_not_taken_over(monkeypatch, pgdata, tmp_path):
    def own_directory(where):
        REAL_MKDIR(where)
        (tmp_path / "planted").write_bytes(b"x")
        os.rename(tmp_path / "planted", os.path.join(where, "planted"))
        as_postgres(where, 0o777)
    _swap_new_directory(monkeypatch, "ssl", own_directory)
    with pytest.raises(CertError, match="is a directory certkeeper did not create"):
        apply_plan(Plan([Change(str(pgdata / "ssl"), "missing", ROOT_ONLY_DIRECTORY, directory=True)]))
    st = os.stat(pgdata / "ssl")
    assert (st.st_uid, stat.S_IMODE(st.st_mode)) == (POSTGRES.pw_uid, 0o777)


def test_a_link_in_place_of_a_parent_in_a_foreign_directory_is_not_followed(pgdata, secret):
    os.symlink(secret.parent, pgdata / "conf")
    with pytest.raises(CertError, match=r"pgdata/conf is a symbolic link in .*pgdata, which another user can write"):
        apply_plan(Plan([Change(str(pgdata / "conf" / "ssl"), "missing", ROOT_ONLY_DIRECTORY, directory=True)]))
    assert os.listdir(secret.parent) == ["secret"]


# --- umask 000 ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("umask", [0o000, 0o077])
def test_missing_parents_get_0755_whatever_the_umask(tmp_path, umask):
    target = tmp_path / "etc" / "certkeeper" / "ca"
    previous = os.umask(umask)
    try:
        apply_plan(Plan([Change(str(target), "missing", ROOT_ONLY_DIRECTORY, directory=True)]))
    finally:
        os.umask(previous)
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in (target.parent.parent, target.parent, target)}
    assert modes == {"etc": 0o755, "certkeeper": 0o755, "ca": 0o700}  # on main, umask 000: 0777 parents


def test_a_tracking_store_under_umask_000_has_no_world_writable_parent(tmp_path):
    from ansible_collections.certkeeper.pki.plugins.module_utils._tracking.store import Store

    previous = os.umask(0)
    try:
        Store(str(tmp_path / "var" / "lib" / "certkeeper")).ensure()
    finally:
        os.umask(previous)
    made = (tmp_path / "var", tmp_path / "var" / "lib", tmp_path / "var/lib/certkeeper",
            tmp_path / "var/lib/certkeeper/requests")
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in made}
    assert modes == {"var": 0o755, "lib": 0o755, "certkeeper": 0o700, "requests": 0o700}


def test_make_parent_directories_for_what_creates_its_own_directory(tmp_path):
    previous = os.umask(0)
    try:
        files.make_parent_directories(str(tmp_path / "var" / "lib" / "store"))
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "var").stat().st_mode) == 0o755
    assert stat.S_IMODE((tmp_path / "var" / "lib").stat().st_mode) == 0o755 and not (tmp_path / "var/lib/store").exists()


# --- (b) an owner/mode fix after the check --------------------------------------------------------------

@pytest.fixture
def server(pgdata, tmp_path):
    """A server with its files in pgdata (server.key postgres:postgres 0600), its CA elsewhere."""
    options = server_options(pgdata, ca_path=str(tmp_path / "ca"))
    run_pg_mtls_certs(options, False)
    return options


def _fix_needed(server):
    """server.key at 0640: the next run fixes its mode to 0600 (an owner/mode fix, after a check)."""
    os.chmod(os.path.join(server["path"], "server.key"), 0o640)


def test_a_hard_link_swapped_in_before_the_fix_is_refused(monkeypatch, server, secret):
    _fix_needed(server)
    key = os.path.join(server["path"], "server.key")
    swap_before(monkeypatch, pg_mtls_module, "apply_plan", lambda: (os.unlink(key), os.link(secret, key)))
    message = refusal(run_pg_mtls_certs, server, False)
    assert untouched(secret)  # on main: postgres:postgres 0600
    assert re.search(r"refused to set the owner/mode of .*server.key \(postgres:postgres 0600\): it has 2 hard links"
                     r".*nothing was changed", message), message


def test_another_file_swapped_in_before_the_fix_is_refused(monkeypatch, server, tmp_path):
    _fix_needed(server)
    key = os.path.join(server["path"], "server.key")
    planted = tmp_path / "planted"
    planted.write_bytes(b"postgres's")
    as_postgres(planted, 0o644)
    swap_before(monkeypatch, pg_mtls_module, "apply_plan", lambda: os.rename(planted, key))
    message = refusal(run_pg_mtls_certs, server, False)
    assert untouched(key, owner=POSTGRES, mode=0o644, data=b"postgres's")  # on main: chmodded 0600
    assert "is no longer the file certkeeper checked: it was replaced after it was read" in message, message


def test_a_fifo_swapped_in_before_the_fix_makes_no_run_wait_and_frees_the_lock(monkeypatch, pgdata, tmp_path,
                                                                               no_wait):
    store = tmp_path / "store"
    options = server_options(pgdata, ca_path=str(tmp_path / "ca"), track={"store": str(store)})
    run_pg_mtls_certs(options, False)
    _fix_needed(options)
    key = os.path.join(options["path"], "server.key")
    swap_before(monkeypatch, pg_mtls_module, "apply_plan", lambda: (os.unlink(key), os.mkfifo(key, 0o600)))
    with pytest.raises(CertError, match=r"server\.key .*: it is no longer a regular file"):
        run_pg_mtls_certs(options, False)  # on main: waits for ever in open(), holding the store's lock
    assert stat.S_ISFIFO(os.lstat(key).st_mode)
    with open(store / "lock", "rb") as lock:  # what `certkeeper renew` takes: free again
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)


def test_a_fifo_swapped_in_between_lstat_and_open_makes_no_read_wait(monkeypatch, pgdata, no_wait):
    path = pgdata / "server.crt"
    path.write_bytes(b"cert")
    real = os.open

    def swapping_open(name, flags, *args, **kwargs):
        if name == str(path) and not stat.S_ISFIFO(os.lstat(path).st_mode):
            os.unlink(path)
            os.mkfifo(path, 0o644)
        return real(name, flags, *args, **kwargs)
    monkeypatch.setattr(os, "open", swapping_open)
    state = read_state(str(path))  # on main: blocks in open() until someone writes to the FIFO
    assert state.error == "not a regular file" and state.data is None


# --- (c) the stamp records what was verified or written, not what a path names later ------------------

def _other_key(path):
    """A valid key of the same type and attributes, swapped in as a new inode (postgres's rename)."""
    temp = path + ".planted"
    with open(temp, "wb") as handle:
        handle.write(crypto.pkcs8_pem(crypto.KeySpec().generate()))
    as_postgres(temp, 0o600)
    os.rename(temp, path)


@pytest.mark.parametrize("first_run", [False, True], ids=["key verified", "key written"])
def test_a_key_swapped_in_before_the_stamp_is_not_recorded_as_verified(monkeypatch, pgdata, tmp_path, first_run):
    options = server_options(pgdata, ca_path=str(tmp_path / "ca"))
    if not first_run:
        run_pg_mtls_certs(options, False)
        os.chmod(pgdata / "server.crt", 0o600)  # a full run that verifies the key and fixes the certificate
    key = str(pgdata / "server.key")
    done = swap_before(monkeypatch, stamp_record, "record", lambda: _other_key(key))
    run_pg_mtls_certs(options, False)
    assert done
    monkeypatch.undo()
    assert recorded_result(str(pgdata), options) is None  # on main: "nothing moved"
    again = run_pg_mtls_certs(options, False)  # the full path finds the mismatch and repairs it
    assert again["changed"] and "does not match the private key" in str(again["changes"])
    cert = crypto.load_certificate((pgdata / "server.crt").read_bytes())
    assert same_public_key((pgdata / "server.key").read_bytes(), cert.public_key())
    assert recorded_result(str(pgdata), options) is not None


# --- (d) a pending key planted by postgres ---------------------------------------------------------------

@pytest.fixture
def remote_ca(tmp_path):
    """A CA on another host: the server gets a CSR, its new key waits as server.key.pending."""
    ca = str(tmp_path / "ca")
    return ca, run(role="ca", path=ca)["ca_certificate"]


def _sign(ca, csr):
    return run(role="ca", path=ca, sign=[dict(name="srv", csr=csr, profile="server", common_name="db1",
                                              subject_alt_names=[])])["certificates"]["srv"]


def _plant(path, key, mode=0o600, owner=POSTGRES):
    with open(path, "wb") as handle:
        handle.write(crypto.pkcs8_pem(key))
    os.chown(path, owner.pw_uid, owner.pw_gid)
    os.chmod(path, mode)


def test_a_pending_key_planted_by_postgres_is_never_certified(pgdata, remote_ca):
    ca, ca_pem = remote_ca
    options = server_options(pgdata, ca_certificate=ca_pem)
    planted = crypto.KeySpec().generate()
    pending = str(pgdata / "server.key.pending")
    _plant(pending, planted)  # exactly the owner and mode certkeeper gives a server key
    asked = run_pg_mtls_certs(options, False)
    csr_key = crypto.load_csr(asked["csr"]).public_key()
    assert not crypto.same_public_key(csr_key, planted)  # on main: the CSR is for the planted key
    installed = run_pg_mtls_certs(dict(options, certificate=_sign(ca, asked["csr"])), False)
    assert not installed["certificate_needed"]
    assert not same_public_key((pgdata / "server.key").read_bytes(), planted.public_key())
    assert not os.path.exists(pending)


def test_a_planted_pending_key_is_reported_and_left_alone_when_no_new_key_is_due(pgdata, remote_ca):
    ca, ca_pem = remote_ca
    options = server_options(pgdata, ca_certificate=ca_pem)
    asked = run_pg_mtls_certs(options, False)
    run_pg_mtls_certs(dict(options, certificate=_sign(ca, asked["csr"])), False)
    pending = str(pgdata / "server.key.pending")
    _plant(pending, crypto.KeySpec().generate())
    planted = open(pending, "rb").read()
    request = _leaf_request(options, crypto.load_certificate(ca_pem))
    names = list(LEAF_NAMES["server"].values()) + ["root.crt", pending_key_name("server")]
    states = {name: read_state(request.path(name)) for name in names}
    states["directory"] = read_state(str(pgdata))
    plan = plan_leaf(request, states)
    assert plan.changes == [] and len(plan.warnings) == 1
    assert "server.key.pending is not used: certkeeper has no record of writing this file" in plan.warnings[0]
    run_pg_mtls_certs(options, False)
    assert open(pending, "rb").read() == planted and os.stat(pending).st_uid == POSTGRES.pw_uid


@pytest.mark.parametrize("plant", ["hard link to a root-only key", "root's 0600 copy", "rewritten in place"])
def test_a_pending_key_certkeeper_did_not_write_as_it_stands_is_not_used(pgdata, remote_ca, tmp_path, plant):
    _ca, ca_pem = remote_ca
    options = server_options(pgdata, ca_certificate=ca_pem)
    run_pg_mtls_certs(options, False)  # certkeeper's own pending key, marked, and its CSR
    pending = str(pgdata / "server.key.pending")
    planted = crypto.KeySpec().generate()
    if plant == "hard link to a root-only key":
        other = tmp_path / "root-only.key"
        _plant(str(other), planted, owner=pwd.getpwnam("root"))
        os.unlink(pending)
        os.link(other, pending)
        as_postgres(pending, 0o600)  # even with the key's owner and mode
    elif plant == "root's 0600 copy":
        os.unlink(pending)
        _plant(pending, planted, owner=pwd.getpwnam("root"))
    else:  # postgres owns the file certkeeper wrote: same inode, another key
        with open(pending, "r+b") as handle:
            handle.truncate()
            handle.write(crypto.pkcs8_pem(planted))
    request = _leaf_request(options, crypto.load_certificate(ca_pem))
    state = read_state(pending)
    plan = plan_leaf(request, {"directory": read_state(str(pgdata)), pending_key_name("server"): state,
                               **{n: read_state(request.path(n)) for n in ("server.key", "server.crt", "root.crt")}})
    assert "server.key.pending is not used" in " ".join(plan.warnings)
    asked = run_pg_mtls_certs(options, False)
    assert not crypto.same_public_key(crypto.load_csr(asked["csr"]).public_key(), planted)


def test_certkeepers_own_pending_key_is_marked_and_taken(pgdata, remote_ca):
    ca, ca_pem = remote_ca
    options = server_options(pgdata, ca_certificate=ca_pem)
    first = run_pg_mtls_certs(options, False)
    pending = str(pgdata / "server.key.pending")
    st = os.stat(pending)
    marks = stamp.written_marks(str(pgdata))
    assert marks == {"server.key.pending": stamp.written_mark(st, open(pending, "rb").read())}
    assert read_state(pending).written_here
    again = run_pg_mtls_certs(options, False)  # the CA did not answer yet: the same key asks again
    assert crypto.same_public_key(crypto.load_csr(again["csr"]).public_key(),
                                  crypto.load_csr(first["csr"]).public_key())
    installed = run_pg_mtls_certs(dict(options, certificate=_sign(ca, first["csr"])), False)
    assert not installed["certificate_needed"] and not os.path.exists(pending)


def test_seen_facts_are_those_of_the_descriptor(tmp_path):
    path = tmp_path / "f"
    path.write_bytes(b"1")
    read_state(str(path))
    seen, facts = files.seen_facts(str(path))
    assert seen and facts == stamp.facts_of(os.stat(path))
    apply_plan(Plan([Change(str(path), "r", Attributes(0o600, 0, 0), b"2")]))
    assert files.seen_facts(str(path)) == (True, stamp.facts_of(os.stat(path)))
