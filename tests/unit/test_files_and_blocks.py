from __future__ import annotations

import os
import pwd
import stat
import subprocess

import pytest

from ansible_collections.certkeeper.pki.plugins.module_utils._core.config_blocks import plan_block, with_block
from ansible_collections.certkeeper.pki.plugins.module_utils._core.crypto import CertError
from ansible_collections.certkeeper.pki.plugins.module_utils._core.files import (
    Attributes,
    Change,
    Plan,
    apply_plan,
    read_state,
    resolve_attributes,
)


def test_apply_writes_with_final_owner_and_mode(tmp_path):
    postgres = pwd.getpwnam("postgres")
    target = tmp_path / "server.key"
    apply_plan(Plan([Change(str(target), "missing", Attributes(0o600, postgres.pw_uid, postgres.pw_gid), b"KEY")]))
    st = target.stat()
    assert (target.read_bytes(), stat.S_IMODE(st.st_mode), st.st_uid) == (b"KEY", 0o600, postgres.pw_uid)
    assert os.listdir(tmp_path) == ["server.key"]  # no temp files left


def test_a_failed_stage_changes_nothing(tmp_path):
    first = tmp_path / "client.crt"
    first.write_bytes(b"old")
    plan = Plan([Change(str(first), "r", Attributes(0o644, 0, 0), b"new"),
                 Change(str(tmp_path / "missing-dir" / "client.key"), "r", Attributes(0o600, 0, 0), b"k")])
    with pytest.raises(CertError, match="nothing was changed"):
        apply_plan(plan)
    assert first.read_bytes() == b"old" and os.listdir(tmp_path) == ["client.crt"]


def test_attribute_only_change_keeps_content(tmp_path):
    target = tmp_path / "client.key"
    target.write_bytes(b"k")
    target.chmod(0o644)
    apply_plan(Plan([Change(str(target), "mode", Attributes(0o640, 0, 0))]))
    assert stat.S_IMODE(target.stat().st_mode) == 0o640 and target.read_bytes() == b"k"


@pytest.mark.parametrize("owner, group, mode, message", [
    ("no-such-user-ck", "root", "0640", "key_owner: user 'no-such-user-ck' does not exist"),
    ("root", "no-such-group-ck", "0640", "key_group: group 'no-such-group-ck' does not exist"),
    ("root", "root", "rw-r-----", "key_mode: 'rw-r-----' is not an octal file mode"),
    ("root", "root", "17777", "key_mode: '17777' is out of range"),
])
def test_bad_attributes_name_the_option(owner, group, mode, message):
    with pytest.raises(CertError, match=message):
        resolve_attributes(owner, group, mode, "key")


def test_read_state_tells_missing_from_present(tmp_path):
    assert read_state(str(tmp_path / "x")).data is None
    (tmp_path / "x").write_bytes(b"1")
    assert read_state(str(tmp_path / "x")).data == b"1"


USER_HBA = "# mine\nlocal all all peer\nhost all all 10.0.0.0/8 scram-sha-256\n"


def test_block_goes_first_or_last_and_user_lines_stay():
    first = with_block(USER_HBA, "pg_mtls", "hostssl all all 0.0.0.0/0 cert", "first")
    assert first.splitlines()[1] == "hostssl all all 0.0.0.0/0 cert"
    assert first.endswith(USER_HBA)
    last = with_block(USER_HBA, "pg_mtls", "ssl = on", "last")
    assert last.startswith(USER_HBA) and last.splitlines()[-2] == "ssl = on"


def test_block_is_replaced_in_place_and_idempotent():
    once = with_block(USER_HBA, "pg_mtls", "rule A", "first")
    moved_user_line = once + "local replication all peer\n"
    twice = with_block(moved_user_line, "pg_mtls", "rule B", "first")
    assert "rule A" not in twice and twice.count("rule B") == 1 and twice.endswith("local replication all peer\n")
    assert with_block(twice, "pg_mtls", "rule B", "first") == twice


def test_damaged_markers_are_an_error():
    damaged = with_block(USER_HBA, "pg_mtls", "rule", "first").replace("# END certkeeper.pki pg_mtls", "")
    with pytest.raises(CertError, match="markers of block 'pg_mtls' are damaged"):
        with_block(damaged, "pg_mtls", "rule", "first")


def test_plan_block_needs_the_file(tmp_path):
    with pytest.raises(CertError, match="pg_hba.conf .* does not exist"):
        plan_block(read_state(str(tmp_path / "pg_hba.conf")), "pg_mtls", "x", "first", "pg_hba.conf")
    (tmp_path / "pg_hba.conf").write_text(USER_HBA)
    change = plan_block(read_state(str(tmp_path / "pg_hba.conf")), "pg_mtls", "x", "first", "pg_hba.conf")
    assert change.reason == "add the certkeeper.pki block"
    # --diff shows the managed block only, never the user's lines (they may hold passwords)
    assert change.before == "" and "local all all peer" not in change.after and "\nx\n" in change.after


def test_a_failed_rename_puts_back_the_files_already_replaced(tmp_path):
    """A real rename failure: the second directory is append-only (chattr +a), so a temp file can be
    created and linked there but not renamed over the target."""
    first_dir, second_dir = tmp_path / "a", tmp_path / "b"
    first_dir.mkdir(), second_dir.mkdir()
    first, second = first_dir / "client.crt", second_dir / "client.key"
    first.write_bytes(b"old cert")
    second.write_bytes(b"old key")
    inode = first.stat().st_ino
    subprocess.run(["chattr", "+a", str(second_dir)], check=True)
    try:
        with pytest.raises(CertError, match="cannot replace .*client.key.*nothing was changed"):
            apply_plan(Plan([Change(str(first), "r", Attributes(0o644, 0, 0), b"new cert"),
                             Change(str(second), "r", Attributes(0o600, 0, 0), b"new key")]))
    finally:
        subprocess.run(["chattr", "-a", str(second_dir)], check=True)
    assert first.read_bytes() == b"old cert" and first.stat().st_ino == inode and os.listdir(first_dir) == ["client.crt"]
    assert second.read_bytes() == b"old key"
