# -*- coding: utf-8 -*-
# Copyright (c) certkeeper.pki contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A run that changes nothing should cost next to nothing: the stamp of the last verified state.

After a run that leaves a directory's files complete and verified, the module records in that
directory (``.certkeeper-stamp.json``, root-only) the stat facts (device, inode, owner, mode, size,
mtime, ctime) of every file the run read or wrote, taken from the descriptor it read or wrote them
through (never from the path after the check, which another user may have swapped), a digest of
the options that produced them, the moment the first certificate enters its renewal window and the
result the run reported. The next run with the same options, on the same
files and before that moment, returns that result without reading a key or a certificate (and
without importing ``cryptography``). Anything else takes the full path, which verifies every
file again. A file's ctime moves on every write, rename, chmod and chown, and no program can set
it back, so a file changed behind the module's back always sends the next run down the full path.

The digest covers the options and the code that verified the files (a stamp written by other code
is not trusted): the stamp names the module_utils files the verifying run had loaded, with their
SHA-256, and counts only while the code that reads it holds the same files. It is an HMAC keyed with
the private key file's bytes: it covers the PKCS#12 password among the options, and without the key
it is no help in guessing that password.

While a directory's files are being changed, the stamp holds nothing but the marks of files certkeeper
wrote and a later run may take over (``written``: a new key that waits for its certificate, by name:
device, inode and SHA-256 of its content), so that a file another user planted under that name is
never taken for one certkeeper wrote.

This file needs nothing but the standard library, so the pg_mtls_certs action plugin can send it as
it is to a host's Python, followed by the program (``_host/program.py``) that asks it for the recorded
result at a fraction of a module's start-up. Writing a stamp (``stamp_record.py``) is the work's business.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
import os
import stat
import sys
import time

STAMP_NAME = ".certkeeper-stamp.json"
# Options that hand a run material to install or work to do: a run given one always takes the full
# path, and the state a stamp describes does not depend on them.
WORK_OPTIONS = ("certificate", "sign", "rollover_report")
# The files certkeeper wrote that a later run may take over only if they are the very inodes it wrote (a new
# key that waits for its certificate): an entry per file name, see written_marks().
WRITTEN = "written"


def stamp_path(directory: str) -> str:
    return os.path.join(directory, STAMP_NAME)


def facts_of(st: os.stat_result) -> list:
    """What must not move for a file to be unchanged: its device and inode (which file it is), owner, mode,
    and for a file its size, mtime and ctime; a directory's entries are checked one by one."""
    if stat.S_ISDIR(st.st_mode):
        return [st.st_dev, st.st_ino, st.st_mode, st.st_uid, st.st_gid]
    return [st.st_dev, st.st_ino, st.st_mode, st.st_uid, st.st_gid, st.st_size, st.st_mtime_ns, st.st_ctime_ns]


def file_facts(path: str) -> list | None:
    try:
        return facts_of(os.lstat(path))
    except FileNotFoundError:
        return None


def _module_utils() -> str:
    """The package of this collection's module_utils (this file sits in its ``_core``)."""
    return (__package__ or "").rpartition(".")[0]


@functools.cache  # the same code all process long: read each file once
def installed_digest(name: str) -> str | None:
    """SHA-256 of one of these module_utils files (``_core/crypto.py``), as shipped with the code that runs:
    read through its package's loader (a zip's loader reads from the index it holds; a new reader of the zip
    for each file would cost a run more than its own work)."""
    import importlib  # only where there is a package: never in the program that reads a stamp

    folder, _sep, base = name.rpartition("/")
    package = ".".join(filter(None, [_module_utils()] + folder.split("/")))
    try:
        module = sys.modules.get(package) or importlib.import_module(package)
        path = os.path.join(next(iter(module.__path__)), base)
        loader = getattr(module.__spec__, "loader", None)
        if hasattr(loader, "get_data"):
            data = loader.get_data(path)
        else:  # a namespace package: plain directories
            with open(path, "rb") as handle:
                data = handle.read()
    except (OSError, ImportError):
        return None
    return hashlib.sha256(data).hexdigest()


def code_in_use() -> dict:
    """The module_utils files this process has loaded (``_core/crypto.py``: SHA-256): the code that verified
    what a stamp records."""
    prefix = _module_utils() + "."
    names = []
    for name, module in list(sys.modules.items()):
        if name.startswith(prefix):
            path = name[len(prefix) :].replace(".", "/")
            names.append(path + "/__init__.py" if hasattr(module, "__path__") else path + ".py")
    return {name: installed_digest(name) for name in sorted(names)}


def state_digest(secret_path: str, options: dict, code: dict) -> str | None:
    try:
        secret = read_regular_file(secret_path)
    except (OSError, ValueError):
        return None
    state_options = {
        name: value for name, value in options.items() if name not in WORK_OPTIONS and not name.startswith("_ansible_")
    }
    message = json.dumps([code, state_options], sort_keys=True, default=str).encode("utf-8")
    return hmac.new(secret, message, hashlib.sha256).hexdigest()


def read_regular_file(path: str, own: bool = False) -> bytes:
    """Read a regular file; a link, or a FIFO another user planted to make this process wait, is refused.

    ``own``: only if this very user wrote it, no one else may read it and it has no other name. A stamp
    counts only then: in a directory another user may write to (say PostgreSQL's), that user cannot plant
    one, nor link one in from another directory."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    with os.fdopen(fd, "rb") as handle:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or (
            own and (st.st_uid != os.geteuid() or st.st_mode & 0o077 or st.st_nlink != 1)
        ):
            raise ValueError("not a regular file of this user")
        return handle.read()


def written_marks(directory: str) -> dict:
    """What certkeeper recorded writing in ``directory`` (file name: [device, inode, SHA-256 of the content]);
    empty when there is no stamp of this user's."""
    try:
        marks = json.loads(read_regular_file(stamp_path(directory), own=True)).get(WRITTEN, {})
    except (OSError, ValueError, AttributeError):
        return {}
    return marks if isinstance(marks, dict) else {}


def written_mark(st: os.stat_result, data: bytes) -> list:
    """The mark of one file certkeeper wrote: which inode it is and what it held."""
    return [st.st_dev, st.st_ino, hashlib.sha256(data).hexdigest()]


def with_marks(directory: str, marks: dict) -> bytes:
    """The stamp that records ``marks`` (besides the marks already there) and nothing else: a directory
    whose files are being changed has no verified state to answer with."""
    return json.dumps({WRITTEN: dict(written_marks(directory), **marks)}, sort_keys=True).encode("utf-8")


def recorded_result(directory: str, options: dict, digest_of=installed_digest, now: float | None = None) -> dict | None:
    """The result recorded for these options when nothing has moved since; None means: verify.

    ``digest_of(name)``: the SHA-256 of a module_utils file of the code asking (by default this code's own)."""
    if any(options.get(name) for name in WORK_OPTIONS):
        return None
    try:
        stamp = json.loads(read_regular_file(stamp_path(directory), own=True))
        secret_path, files, valid_until = stamp["secret"], stamp["files"], stamp["valid_until"]
        code, digest, result = stamp["code"], stamp["digest"], stamp["result"]
        if not code or any(digest_of(name) != sha256 for name, sha256 in code.items()):
            return None
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return None
    if (now or time.time()) >= valid_until:
        return None
    if any(file_facts(path) != facts for path, facts in files.items()):
        return None
    expected = state_digest(secret_path, options, code)
    if expected is None or not hmac.compare_digest(expected, digest):
        return None
    return result
