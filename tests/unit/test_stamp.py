"""The stamp: an unchanged run returns at once, and anything that moved sends it down the full path."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time

import pytest

from ansible_collections.certkeeper.pki.plugins.plugin_utils.direct_action import host_program
from ansible_collections.certkeeper.pki.plugins.module_utils._core import stamp
from ansible_collections.certkeeper.pki.plugins.module_utils._core.stamp import STAMP_NAME, recorded_result
from ansible_collections.certkeeper.pki.plugins.module_utils._pg_mtls.run import run_pg_mtls_certs
from ansible_collections.certkeeper.pki.plugins.plugin_utils import module_utils_files

from .test_pg_mtls import DEFAULTS

PASSWORD = "s3cret pfx pässword"


@pytest.fixture
def client(tmp_path):
    """A client directory made through the CA, as the role does it: CSR, batched signing, install."""
    ca = str(tmp_path / "ca")
    server = run_pg_mtls_certs(dict(DEFAULTS, role="server", path=str(tmp_path / "srv"), ca_path=ca,
                                    common_name="db1"), False)
    options = dict(DEFAULTS, role="client", path=str(tmp_path / "cli"), common_name="app",
                   ca_certificate=server["ca_certificate"], pfx_password=PASSWORD)
    csr = run_pg_mtls_certs(options, False)["csr"]
    signed = run_pg_mtls_certs(dict(DEFAULTS, role="ca", path=ca, sign=[
        dict(name="cli", csr=csr, profile="client", common_name="app", subject_alt_names=[])]), False)
    installed = run_pg_mtls_certs(dict(options, certificate=signed["certificates"]["cli"]), False)
    assert installed["changed"]
    return options


def test_after_the_install_the_same_options_get_the_unchanged_result(client):
    recorded = recorded_result(client["path"], client)
    assert recorded is not None
    assert recorded["changed"] is False and recorded["changes"] == [] and recorded["diff"] == []
    assert recorded["certificate_needed"] is False and recorded["certificate"]["subject"] == "CN=app"
    # and it is what the full path says now
    full = run_pg_mtls_certs(client, False)
    assert not full["changed"] and full["certificate"] == recorded["certificate"]


def test_a_full_run_that_finds_nothing_does_not_rewrite_the_stamp(client):
    path = os.path.join(client["path"], STAMP_NAME)
    before = os.stat(path)
    run_pg_mtls_certs(client, False)
    after = os.stat(path)
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)


@pytest.mark.parametrize("move", [
    lambda d: os.chmod(os.path.join(d, "client.pfx"), 0o644),
    lambda d: os.unlink(os.path.join(d, "client.pk8")),
    lambda d: os.utime(os.path.join(d, "client.crt")),  # times set back by hand still move the ctime
    lambda d: os.chown(os.path.join(d, "root.crt"), 0, 0),  # even to the same owner
], ids=["chmod", "deleted", "utime", "chown"])
def test_any_file_that_moved_sends_the_run_down_the_full_path(client, move):
    move(client["path"])
    assert recorded_result(client["path"], client) is None


def test_same_size_content_rewritten_with_the_old_times_is_noticed(client):
    path = os.path.join(client["path"], "client.pk8")
    st = os.stat(path)
    data = open(path, "rb").read()
    with open(path, "r+b") as handle:
        handle.write(bytes([data[0] ^ 1]))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert recorded_result(client["path"], client) is None
    assert run_pg_mtls_certs(client, False)["changed"]  # the full path repairs it


@pytest.mark.parametrize("change", [
    {"pfx_password": "another"}, {"renew_before": 31}, {"key_mode": "0600"}, {"track": {"store": "/x"}},
    {"certificate": "-----BEGIN CERTIFICATE-----"},
], ids=["password", "renew_before", "key_mode", "track", "certificate to install"])
def test_other_options_or_work_to_do_get_no_recorded_result(client, change):
    assert recorded_result(client["path"], dict(client, **change)) is None


def test_the_renewal_moment_ends_the_stamp(client):
    valid_until = json.load(open(os.path.join(client["path"], STAMP_NAME)))["valid_until"]
    # a 365-day certificate with renew_before 30 and 1/3 of its lifetime: due after about 243 days
    assert 242 * 86400 < valid_until - time.time() < 244 * 86400
    assert recorded_result(client["path"], client, now=valid_until - 1) is not None
    assert recorded_result(client["path"], client, now=valid_until) is None


def test_the_stamp_names_the_code_that_verified_and_counts_only_with_that_code(client):
    code = json.load(open(os.path.join(client["path"], STAMP_NAME)))["code"]
    assert {"_core/crypto.py", "_pg_mtls/plan.py", "_pg_mtls/run.py", "_core/stamp.py"} <= set(code)
    assert code["_core/crypto.py"] == stamp.installed_digest("_core/crypto.py")
    one_file_changed = dict(code, **{"_core/crypto.py": "0" * 64})
    assert recorded_result(client["path"], client, digest_of=one_file_changed.get) is None
    assert recorded_result(client["path"], client, digest_of={}.get) is None  # the file is gone
    assert recorded_result(client["path"], client, digest_of=code.get) is not None


def _probe(request: dict, compiled: bool = False) -> list:
    """The program the action plugin sends, on a bare Python's stdin (no package around it): its answers."""
    program, payload, digests = host_program(compiled)
    request = dict({"module": "pg_mtls_certs", "digests": digests, "check_mode": False, "log": None}, **request)
    answer = subprocess.run([sys.executable, "-I", "-"], input="%s\nanswer(%r, %r, recorded_result)\n" % (
        program, json.dumps(request), payload), capture_output=True, text=True, check=False, timeout=60)
    assert answer.returncode == 0, answer.stderr
    return [json.loads(line) for line in answer.stdout.splitlines()]


def test_the_probe_answers_alone_what_the_module_would(client):
    answers = _probe({"path": client["path"], "options": client})
    assert answers == [{"recorded": recorded_result(client["path"], client)}]  # no work, no "working" line
    assert answers[0]["recorded"]["certificate"]["subject"] == "CN=app"


def test_without_an_answer_from_the_stamp_the_probe_does_the_work_from_the_code_sent(client):
    os.chmod(os.path.join(client["path"], "client.pfx"), 0o644)
    answers = _probe({"path": client["path"], "options": client})
    assert answers[0] == {"working": True} and len(answers) == 2
    result = answers[1]["result"]
    assert result["changed"] and [c["path"] for c in result["changes"]] == [os.path.join(client["path"], "client.pfx")]
    assert os.stat(os.path.join(client["path"], "client.pfx")).st_mode & 0o777 == 0o640
    # the stamp that run wrote names the code it was sent, and answers the next probe
    assert _probe({"path": client["path"], "options": client})[0]["recorded"]["changed"] is False


def test_the_probe_honours_check_mode_and_reports_errors_as_the_module_does(client):
    os.chmod(os.path.join(client["path"], "client.pfx"), 0o644)
    checked = _probe({"path": client["path"], "options": client, "check_mode": True})[-1]["result"]
    assert checked["changed"] and os.stat(os.path.join(client["path"], "client.pfx")).st_mode & 0o777 == 0o644
    failed = _probe({"path": client["path"], "options": dict(client, valid_days=0)})[-1]["result"]
    assert failed["failed"] and "valid_days" in failed["msg"] and "exception" not in failed


@pytest.mark.parametrize("content", [b"", b"{", b"[]", b'{"files": {}}'])
def test_a_damaged_stamp_only_costs_speed(client, content):
    with open(os.path.join(client["path"], STAMP_NAME), "wb") as handle:
        handle.write(content)
    assert recorded_result(client["path"], client) is None
    assert not run_pg_mtls_certs(client, False)["changed"]
    assert recorded_result(client["path"], client) is not None  # recorded again


def test_the_stamp_is_root_only_and_holds_no_secret(client):
    path = os.path.join(client["path"], STAMP_NAME)
    st = os.stat(path)
    assert (st.st_mode & 0o777, st.st_uid) == (0o600, 0)
    data = open(path, "rb").read()
    key = open(os.path.join(client["path"], "client.key"), "rb").read()
    assert PASSWORD.encode() not in data and b"PRIVATE KEY" not in data
    assert key.split(b"\n")[1] not in data


def test_check_mode_records_nothing(tmp_path):
    run_pg_mtls_certs(dict(DEFAULTS, role="server", path=str(tmp_path / "srv"), ca_path=str(tmp_path / "ca"),
                           common_name="db1"), True)
    assert not os.path.exists(tmp_path / "srv")


def test_a_stamp_another_user_could_have_written_is_ignored(client):
    path = os.path.join(client["path"], STAMP_NAME)
    os.chown(path, 65534, 0)
    assert recorded_result(client["path"], client) is None
    os.chown(path, 0, 0)
    os.chmod(path, 0o620)
    assert recorded_result(client["path"], client) is None


def test_a_link_in_place_of_the_stamp_is_not_followed(client, tmp_path):
    path = os.path.join(client["path"], STAMP_NAME)
    os.rename(path, tmp_path / "elsewhere.json")
    os.symlink(tmp_path / "elsewhere.json", path)
    assert recorded_result(client["path"], client) is None
    assert not run_pg_mtls_certs(client, False)["changed"]
    assert not os.path.islink(path) and recorded_result(client["path"], client) is not None


def test_a_fifo_in_place_of_the_stamp_makes_no_run_wait(client):
    """The owner of a server's directory (postgres) could swap the stamp for a FIFO: no read may block on it."""
    path = os.path.join(client["path"], STAMP_NAME)
    os.unlink(path)
    os.mkfifo(path, 0o600)
    answers = _probe({"path": client["path"], "options": client})  # would time out if it waited
    assert answers[0] == {"working": True} and not answers[-1]["result"]["changed"]
    assert os.path.isfile(path)  # the full path recorded a stamp in its place
    assert recorded_result(client["path"], client) is not None


def test_a_stamp_with_another_name_is_ignored(client, tmp_path):
    """A hard link could bring a root-only stamp of another directory (and its marks) into this one."""
    path = os.path.join(client["path"], STAMP_NAME)
    os.link(path, tmp_path / "other-name.json")
    assert recorded_result(client["path"], client) is None and stamp.written_marks(client["path"]) == {}
    os.unlink(tmp_path / "other-name.json")
    assert recorded_result(client["path"], client) is not None


@pytest.mark.parametrize("magic", ["this Python's", "another Python's"])
def test_a_zip_with_compiled_code_loads_it_and_names_the_sources_it_was_made_from(tmp_path, monkeypatch, magic):
    """The zip of a call handed work carries each file's .pyc: this Python loads it (no compile), another
    Python's magic number makes it compile the .py beside it; either way the stamp names the sources."""
    if magic == "another Python's":
        monkeypatch.setattr(module_utils_files.importlib.util, "MAGIC_NUMBER", b"\x00\x00\r\n")
    sources = module_utils_files.module_utils_sources()
    archive = tmp_path / "module_utils.zip"
    archive.write_bytes(module_utils_files.package_archive(sources, compiled=True))
    code = (
        "import json, sys; sys.path.insert(0, %r)\n"
        "from ansible_collections.certkeeper.pki.plugins.module_utils._pg_mtls import run\n"
        "from ansible_collections.certkeeper.pki.plugins.module_utils._core import stamp\n"
        "print(json.dumps([run.__spec__.origin, stamp.code_in_use()]))" % str(archive)
    )
    origin, code_in_use = json.loads(subprocess.check_output([sys.executable, "-I", "-c", code], text=True))
    assert origin.endswith("_pg_mtls/run.pyc" if magic == "this Python's" else "_pg_mtls/run.py")
    assert "_pg_mtls/run.py" in code_in_use
    assert code_in_use == {name: hashlib.sha256(sources[name]).hexdigest() for name in code_in_use}


def test_a_call_handed_work_gets_the_compiled_code_and_answers_as_the_plain_one(client):
    os.chmod(os.path.join(client["path"], "client.pfx"), 0o644)
    answers = _probe({"path": client["path"], "options": client}, compiled=True)
    assert answers[0] == {"working": True} and answers[1]["result"]["changed"]
    assert _probe({"path": client["path"], "options": client})[0]["recorded"]["changed"] is False
