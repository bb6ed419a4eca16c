# -*- coding: utf-8 -*-
# Copyright (c) certkeeper.pki contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A run that changes nothing should cost next to nothing: the stamp of the last verified state.

After a run that leaves a directory's files complete and verified, the module records in that
directory (``.certkeeper-stamp.json``, root-only) the stat facts of every file the run read or
wrote, a digest of the options that produced them, the moment the first certificate enters its
renewal window and the result the run reported. The next run with the same options, on the same
files and before that moment, returns that result without reading a key or a certificate (and
without importing ``cryptography``). Anything else takes the full path, which verifies every
file again. A file's ctime moves on every write, rename, chmod and chown, and no program can set
it back, so a file changed behind the module's back always sends the next run down the full path.

The digest covers the options and the code that verified the files (a stamp written by another
release is not trusted). It is an HMAC keyed with the private key file's bytes: it covers the PKCS#12
password among the options, and without the key it is no help in guessing that password.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import importlib.resources
import json
import os
import stat
import time

from .errors import CertError
from .files import ROOT_ONLY_FILE, Change, Plan, apply_plan

STAMP_NAME = ".certkeeper-stamp.json"
# Options that hand a run material to install or work to do: a run given one always takes the full
# path, and the state a stamp describes does not depend on them.
WORK_OPTIONS = ("certificate", "sign")


def stamp_path(directory: str) -> str:
    return os.path.join(directory, STAMP_NAME)


def _file_facts(path: str) -> list | None:
    """What must not move for a file to be unchanged; a directory's entries are checked one by one."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return None
    if stat.S_ISDIR(st.st_mode):
        return [st.st_ino, st.st_mode, st.st_uid, st.st_gid]
    return [st.st_ino, st.st_mode, st.st_uid, st.st_gid, st.st_size, st.st_mtime_ns, st.st_ctime_ns]


@functools.cache  # the same code all process long: read it once
def _implementation() -> str:
    """The code behind a stamp: these module_utils, as shipped with the module that runs."""
    digest = hashlib.sha256()
    for entry in sorted(importlib.resources.files(__package__).iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".py"):
            digest.update(entry.name.encode("utf-8") + b"\0" + entry.read_bytes())
    return digest.hexdigest()


def _digest(secret_path: str, options: dict) -> str | None:
    try:
        with open(secret_path, "rb") as handle:
            secret = handle.read()
    except OSError:
        return None
    state_options = {name: value for name, value in options.items() if name not in WORK_OPTIONS}
    message = json.dumps([_implementation(), state_options], sort_keys=True, default=str).encode("utf-8")
    return hmac.new(secret, message, hashlib.sha256).hexdigest()


def _read_own_file(path: str) -> bytes:
    """A stamp counts only if this very user wrote it: in a directory another user may write to (say
    PostgreSQL's), that user cannot plant one, nor a link to one."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0))
    with os.fdopen(fd, "rb") as handle:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_uid != os.geteuid() or st.st_mode & 0o077:
            raise ValueError("not a stamp of this user")
        return handle.read()


def recorded_result(directory: str, options: dict, now: float | None = None) -> dict | None:
    """The result recorded for these options when nothing has moved since; None means: verify."""
    if any(options.get(name) for name in WORK_OPTIONS):
        return None
    try:
        stamp = json.loads(_read_own_file(stamp_path(directory)))
        secret_path, files, valid_until = stamp["secret"], stamp["files"], stamp["valid_until"]
        digest, result = stamp["digest"], stamp["result"]
    except (OSError, ValueError, TypeError, KeyError):
        return None
    if (now or time.time()) >= valid_until:
        return None
    if any(_file_facts(path) != facts for path, facts in files.items()):
        return None
    expected = _digest(secret_path, options)
    if expected is None or not hmac.compare_digest(expected, digest):
        return None
    return result


def record(directory: str, options: dict, secret_path: str, paths: list, valid_until: float, result: dict) -> None:
    """Record the verified state of ``paths``; a directory that cannot take the stamp only costs speed."""
    digest = _digest(secret_path, options)
    if digest is None:
        return
    stamp = {
        "secret": secret_path,
        "digest": digest,
        "result": result,
        "valid_until": valid_until,
        "files": {path: _file_facts(path) for path in sorted(set(paths))},
    }
    data = json.dumps(stamp, sort_keys=True, default=str).encode("utf-8")
    try:
        if _read_own_file(stamp_path(directory)) == data:
            return
    except (OSError, ValueError):
        pass
    try:
        apply_plan(Plan([Change(stamp_path(directory), "stamp", ROOT_ONLY_FILE, data)]))
    except CertError:  # a read-only or full directory
        pass
