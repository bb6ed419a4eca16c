# -*- coding: utf-8 -*-
# Copyright (c) certkeeper.pki contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The tracking store: one JSON file per tracked request (request.py) in a root-only directory, and a lock."""

from __future__ import annotations

import contextlib
import datetime
import errno
import fcntl
import json
import os
import pwd
import stat
from dataclasses import asdict, fields

from .._core.crypto import CertError
from .._core.files import (
    ROOT_ONLY_DIRECTORY,
    ROOT_ONLY_FILE,
    Change,
    Plan,
    apply_plan,
    foreign_problem,
    make_parent_directories,
    os_error_text,
    read_state,
)
from .._core.option_specs import DEFAULT_STORE, ID_PATTERN
from .request import (
    TrackedRequest,
    UnreadableRecord,
    shown,
    validate_id,
)

LAST_CHECK = "last-check"


def _owner(uid: int) -> str:
    try:
        return "%s (uid %d)" % (pwd.getpwuid(uid).pw_name, uid)
    except KeyError:
        return "uid %d" % uid


def _open_store_directory(path: str, tighten: bool = False, missing_ok: bool = False, dir_fd=None) -> int:
    """A descriptor of the store directory ``path`` (relative to ``dir_fd`` by its last component when
    given), never through a symbolic link, refused unless root owns it and nobody else can write it: the
    checks are made on the open directory, so nothing can be swapped in between check and use.
    ``tighten``: a root-owned directory that others may read is made 0700. Raises FileNotFoundError when
    it is missing and ``missing_ok``."""
    name = os.path.basename(path) if dir_fd is not None else path
    try:
        fd = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd)
    except FileNotFoundError:
        if missing_ok:
            raise
        raise CertError("tracking store directory %s does not exist" % path) from None
    except OSError as exc:
        raise CertError(
            "tracking store directory %s cannot be opened: %s; the store must be a root-only directory (0700)"
            % (path, "not a directory" if exc.errno == errno.ENOTDIR else os_error_text(exc))
        ) from None
    try:
        st = os.fstat(fd)
        problem = foreign_problem(st)
        if problem:
            raise CertError(
                "tracking store directory %s %s (owner %s, mode %04o): the store must be root's alone, or "
                "whoever can write it chooses the commands root runs. Refused: check its records, then "
                "chown root:root and chmod 0700 %s, or choose another store"
                % (path, problem, _owner(st.st_uid), stat.S_IMODE(st.st_mode), path)
            )
        if tighten and stat.S_IMODE(st.st_mode) != 0o700:
            os.fchmod(fd, 0o700)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _record_ids(records: int) -> list:
    return sorted(n[:-5] for n in os.listdir(records) if n.endswith(".json") and ID_PATTERN.match(n[:-5]))


def _load_record(records: int, path: str, kind=TrackedRequest):
    """The record ``path`` (of class ``kind``) read through ``records`` (a checked descriptor of its directory); refused unless
    it is a regular file root owns and nobody else can write. None when it does not exist."""
    try:
        fd = os.open(
            os.path.basename(path),
            os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC,
            dir_fd=records,
        )
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise CertError("cannot read tracking record %s: %s" % (path, os_error_text(exc))) from None
    with os.fdopen(fd, "rb") as handle:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise CertError("cannot read tracking record %s: not a regular file" % path)
        problem = foreign_problem(st)
        if problem:
            raise CertError(
                "tracking record %s %s (owner %s, mode %04o), so it is not used: the store must be root's "
                "alone, or whoever can write a record chooses the commands root runs. Remove it if root "
                "did not write it; else check its commands, then chown root:root and chmod 0600 it"
                % (path, problem, _owner(st.st_uid), stat.S_IMODE(st.st_mode))
            )
        data = handle.read()
    try:
        record = json.loads(data)
        known = {f.name for f in fields(kind)}
        return kind(**{k: v for k, v in record.items() if k in known})
    except (ValueError, TypeError, AttributeError) as exc:
        raise CertError(
            "tracking record %s is corrupt (%s); remove it and start tracking again" % (path, exc)
        ) from None


class Store:
    """Records ``<dir>/<kind.store_dir>/<id>.json`` (certificates in ``requests/``, CRLs in ``crls/``) and the lock
    ``<dir>/lock``. ``kind``: the record class, TrackedRequest unless given."""

    def __init__(self, directory: str = DEFAULT_STORE):
        self.directory = directory
        self.requests_dir = self.records_dir()

    def records_dir(self, kind=TrackedRequest) -> str:
        return os.path.join(self.directory, kind.store_dir)

    def path(self, request_id: str, kind=TrackedRequest) -> str:
        return os.path.join(self.records_dir(kind), validate_id(request_id) + ".json")

    def ensure(self, kind=TrackedRequest) -> None:
        """Create the store's directories (root, 0700) or check the ones there: root's alone, never a
        directory someone else owns or can write (refused, not chmodded into use)."""
        for path in self._directories(kind):
            if os.path.lexists(path) and not os.path.isdir(path):
                raise CertError(
                    "tracking store %s is not a directory; set store to a directory of its own" % self.directory
                )
            if path == self.directory:
                make_parent_directories(path)  # 0755 whatever the umask, no link followed where others write
            try:
                os.mkdir(path, 0o700)
            except FileExistsError:
                pass
            os.close(_open_store_directory(path, tighten=True))

    def _directories(self, kind) -> tuple:
        return (self.directory, self.requests_dir) + ((self.records_dir(kind),) if kind is not TrackedRequest else ())

    @contextlib.contextmanager
    def lock(self, create: bool = True):
        """Exclusive for the whole renewal or change, so two runs never race on one request.

        ``create=False`` (check mode) writes nothing: without a store there is nothing to race with."""
        if not create and not os.path.isdir(self.directory):
            yield
            return
        if create:
            self.ensure()
        directory = _open_store_directory(self.directory)  # a store someone else owns is refused before use
        try:
            fd = os.open("lock", os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600, dir_fd=directory)
        except OSError as exc:
            raise CertError(
                "cannot open the lock of tracking store %s: %s" % (self.directory, os_error_text(exc))
            ) from None
        finally:
            os.close(directory)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    @contextlib.contextmanager
    def _records(self, kind):
        """A descriptor of the directory of ``kind``'s records, checked (with the store above it) on the open
        directories themselves; None when the store or that directory does not exist yet."""
        try:
            store = _open_store_directory(self.directory, missing_ok=True)
        except FileNotFoundError:
            yield None
            return
        try:
            try:
                requests = _open_store_directory(self.records_dir(kind), missing_ok=True, dir_fd=store)
            except FileNotFoundError:
                requests = None
        finally:
            os.close(store)
        try:
            yield requests
        finally:
            if requests is not None:
                os.close(requests)

    def load(self, request_id: str, kind=TrackedRequest):
        path = self.path(request_id, kind)
        with self._records(kind) as records:
            return None if records is None else _load_record(records, path, kind)

    def ids(self, kind=TrackedRequest) -> list:
        with self._records(kind) as records:
            return [] if records is None else _record_ids(records)

    def all(self, kind=TrackedRequest) -> list:
        """Every request; a record that cannot be read (or that is not root's alone) is an UnreadableRecord
        in its place, so one bad record never hides or stops the others, and none of its commands runs."""
        requests_found = []
        with self._records(kind) as requests:
            if requests is None:
                return []
            for request_id in _record_ids(requests):
                try:
                    request = _load_record(requests, self.path(request_id, kind), kind)
                except CertError as exc:
                    request = UnreadableRecord(request_id, str(exc))
                if request is not None:
                    requests_found.append(request)
        return requests_found

    def note_check(self, now) -> None:
        """Record when the timer last went through every record (``certkeeper renew --all``): the last check that
        reports and metrics show. A store that does not exist yet is not made for it."""
        if os.path.isdir(self.directory):
            data = (now.isoformat() + "\n").encode()
            apply_plan(Plan([Change(os.path.join(self.directory, LAST_CHECK), "last check", ROOT_ONLY_FILE, data)]))

    def last_check(self) -> str:
        """The moment of the last ``certkeeper renew --all`` (ISO 8601), or "" when there was none."""
        state = read_state(os.path.join(self.directory, LAST_CHECK))
        try:
            return datetime.datetime.fromisoformat((state.data or b"").decode().strip()).isoformat()
        except (ValueError, UnicodeDecodeError):
            return ""

    def pending_key_path(self, request_id: str) -> str:
        """The key a CA helper is working on, or a new key until its save is complete."""
        return os.path.join(self.directory, "pending", validate_id(request_id) + ".key")

    def save_change(self, record, reason: str, before: str = "", after: str = "") -> Change:
        data = (json.dumps(asdict(record), indent=2, sort_keys=True) + "\n").encode()
        return Change(self.path(record.id, type(record)), reason, ROOT_ONLY_FILE, data, before=before, after=after)

    def directory_changes(self, kind=TrackedRequest) -> list:
        """The store's directories (those ``kind``'s records need), when missing, as changes of a plan (root-only)."""
        changes = []
        for path in self._directories(kind):
            if not os.path.isdir(path):
                changes.append(
                    Change(
                        path,
                        "tracking store missing",
                        ROOT_ONLY_DIRECTORY,
                        before="absent\n",
                        after="directory, root:root 0700\n",
                        directory=True,
                    )
                )
        return changes

    def record_change(self, desired, status_reset: str = "", existing=None) -> Change | None:
        """The change that makes the store track ``desired`` (a record of any kind); the status fields stay the
        store's unless ``status_reset`` says why they no longer hold (a certificate installed by a playbook run).
        ``existing``: the record to take over, when it is stored under another id."""
        desired.validate()
        existing = existing or self.load(desired.id, type(desired))
        new_input = desired.keep_status(existing)
        if existing is not None:
            reset = bool(status_reset) and desired.reset_status()
            if not reset and not new_input and existing.settings() == desired.settings():
                return None
            before, after = existing.settings(), desired.settings()
            updated = sorted(k for k in after if before.get(k) != after[k])
            reason = "; ".join(
                part
                for part in (
                    "update %s" % ", ".join(updated) if updated else "",
                    "status %s -> MONITORING: %s" % (existing.status, status_reset) if reset else "",
                    new_input,
                )
                if part
            )
        else:
            reason = "start tracking"
        return self.save_change(desired, reason, shown(existing), shown(desired))

    def save(self, record) -> None:
        self.ensure(type(record))
        apply_plan(Plan([self.save_change(record, "status")]))

    def record_removal(
        self, request_id: str, reason: str, before: str, after: str = "not tracked\n", kind=TrackedRequest
    ) -> Change:
        """The change that removes the record ``request_id`` (its files stay)."""
        return Change(self.path(request_id, kind), reason, ROOT_ONLY_FILE, before=before, after=after, remove=True)

    def remove_changes(self, request_id: str, before: str) -> list:
        """The record and any pending key go; the tracked files stay."""
        changes = [self.record_removal(request_id, "stop tracking (files stay)", before)]
        pending = self.pending_key_path(request_id)
        if os.path.exists(pending):
            changes.append(
                Change(
                    pending,
                    "stop tracking: the key a CA was working on",
                    ROOT_ONLY_FILE,
                    before="pending key\n",
                    after="absent\n",
                    remove=True,
                )
            )
        return changes
