# -*- coding: utf-8 -*-
# Copyright (c) certkeeper.pki contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""File state in, atomic file changes out: the only I/O the planners' results need."""

from __future__ import annotations

import grp
import os
import pwd
import secrets
import stat
from dataclasses import dataclass, field

from .errors import CertError


@dataclass(frozen=True)
class Attributes:
    """Owner, group and mode a file must end with."""

    mode: int
    uid: int
    gid: int

    def describe(self) -> str:
        return "%s:%s %04o" % (_user_name(self.uid), _group_name(self.gid), self.mode)


ROOT_ONLY_FILE = Attributes(0o600, 0, 0)  # CA keys, tracking records, pending keys
ROOT_ONLY_DIRECTORY = Attributes(0o700, 0, 0)


@dataclass(frozen=True)
class FileState:
    """What is on disk now; ``data`` is None when the file is missing."""

    path: str
    data: bytes | None = None
    attributes: Attributes | None = None
    error: str | None = None  # set when the file exists but cannot be read
    is_directory: bool = False


@dataclass
class Change:
    """One file to write (``data``) or to re-own / re-mode (``data`` None), and why."""

    path: str
    reason: str
    attributes: Attributes
    data: bytes | None = None
    before: str = ""  # what --diff shows; never key material
    after: str = ""
    directory: bool = False
    pending: bool = False  # waits for the CA: reported, not written by this call
    remove: bool = False

    @property
    def action(self) -> str:
        if self.pending:
            return "request certificate"
        if self.remove:
            return "remove"
        if self.directory:
            return "create directory"
        return "write" if self.data is not None else "set owner/mode"

    def summary(self) -> dict:
        return {"path": self.path, "action": self.action, "reason": self.reason}

    def diff(self) -> dict:
        # the reason in the header: --diff alone says why, as check mode's changes do
        after_header = "%s (%s)" % (self.path, self.reason) if self.reason else self.path
        return {"before_header": self.path, "after_header": after_header, "before": self.before, "after": self.after}


@dataclass
class Plan:
    """Everything that must change on one host, each item with its reason."""

    changes: list = field(default_factory=list)
    warnings: list = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.changes)

    def result(self) -> dict:
        """The module result keys every plan shares."""
        return {
            "changed": self.changed,
            "changes": [c.summary() for c in self.changes],
            "diff": [c.diff() for c in self.changes],
            "warnings": list(self.warnings),
        }


def _user_name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def _group_name(gid: int) -> str:
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)


def resolve_attributes(owner, group, mode, option: str) -> Attributes:
    """Owner/group names (or None for root) and an octal mode into Attributes, with clear errors.

    ``option`` is the options' prefix in messages: "key" names key_owner, key_group, key_mode;
    "" names owner, group, mode."""
    prefix = option + "_" if option else ""
    try:
        uid = pwd.getpwnam(owner).pw_uid if owner not in (None, "") else 0
    except KeyError:
        raise CertError(
            "%sowner: user %r does not exist on this host; create it first or choose an existing user" % (prefix, owner)
        ) from None
    try:
        gid = grp.getgrnam(group).gr_gid if group not in (None, "") else 0
    except KeyError:
        raise CertError(
            "%sgroup: group %r does not exist on this host; create it first or choose "
            "an existing group" % (prefix, group)
        ) from None
    return Attributes(parse_mode(mode, prefix + "mode"), uid, gid)


def private_file_attributes(owner, group, mode, option: str, holder: str = "the key") -> Attributes:
    """resolve_attributes for a file that holds a private key: no group write, nothing for others."""
    attributes = resolve_attributes(owner, group, mode, option)
    if attributes.mode & 0o027:
        raise CertError(
            "%smode %04o gives %s to other users; use 0600, or 0640 for a group that must read it"
            % (option + "_" if option else "", attributes.mode, holder)
        )
    return attributes


def check_absolute_path(path, option: str):
    """A path option must be absolute and free of '..': a relative one would land wherever the module
    happens to run, and '..' hides where files really go."""
    if path in (None, ""):
        return path
    if not os.path.isabs(path):
        raise CertError("%s must be an absolute path, got %r" % (option, path))
    if ".." in path.split(os.sep):
        raise CertError("%s %r contains '..'; give the real absolute path" % (option, path))
    return path


def parse_mode(mode, option: str) -> int:
    try:
        value = mode if isinstance(mode, int) else int(str(mode), 8)
    except ValueError:
        raise CertError("%s: %r is not an octal file mode such as '0640'" % (option, mode)) from None
    if not 0 <= value <= 0o777:
        raise CertError("%s: %r is out of range; use permission bits only, such as '0640'" % (option, mode))
    return value


def read_state(path: str) -> FileState:
    """What is at ``path``, never following a symbolic link (a link is reported, not read)."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return FileState(path)
    except OSError as exc:
        return FileState(path, error=exc.strerror)
    attributes = Attributes(stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid)
    if stat.S_ISDIR(st.st_mode):
        return FileState(path, b"", attributes, is_directory=True)
    if stat.S_ISLNK(st.st_mode):
        return FileState(path, attributes=attributes, error="is a symbolic link, which certkeeper does not follow")
    if not stat.S_ISREG(st.st_mode):
        return FileState(path, attributes=attributes, error="not a regular file")
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        return FileState(path, attributes=attributes, error=exc.strerror)
    with os.fdopen(fd, "rb") as handle:
        return FileState(path, handle.read(), attributes)


def existing_problem(state: FileState) -> str | None:
    """ "missing" or "unreadable (...)" for a file that must be (re)written; a directory is an error."""
    if state.is_directory:
        raise CertError("%s is a directory where a file belongs; move it away" % state.path)
    if state.error:
        return "unreadable (%s)" % state.error
    return "missing" if state.data is None else None


def describe_before(state: FileState, kind: str) -> str:
    """What --diff shows of a file before a change: its kind, size and owner/mode, never its content."""
    if state.error:
        return "unreadable %s: %s\n" % (kind, state.error)
    return (
        "absent\n"
        if state.data is None
        else "existing %s (%d bytes), %s\n" % (kind, len(state.data), state.attributes.describe())
    )


def directory_changes(state: FileState, wanted: Attributes, what: str, enforce: bool) -> list:
    """Create a missing directory with ``wanted``; fix an existing one's owner/mode only if ``enforce``."""
    if state.data is None and not state.error:
        return [
            Change(
                state.path,
                "%s missing" % what,
                wanted,
                before="absent\n",
                after="directory, %s\n" % wanted.describe(),
                directory=True,
            )
        ]
    if state.error or not state.is_directory:
        raise CertError("%s %s is not usable: %s" % (what, state.path, state.error or "not a directory"))
    change = attribute_change(state, wanted, what) if enforce else None
    return [change] if change else []


def attribute_change(state: FileState, wanted: Attributes, what: str) -> Change | None:
    """A Change that only fixes owner/mode, when the content is right but they are not."""
    if state.attributes is None or state.attributes == wanted:
        return None
    return Change(
        state.path,
        "%s: %s, should be %s" % (what, state.attributes.describe(), wanted.describe()),
        wanted,
        before=state.attributes.describe() + "\n",
        after=wanted.describe() + "\n",
    )


def apply_plan(plan: Plan) -> None:
    """Write every change atomically: stage all temp files first, then rename them into place.

    A failure while staging (disk full, read-only, permissions) removes the temp files and
    leaves every existing file as it was; so does a failed rename, which puts back the files
    already replaced (each is kept as a hard link until all renames are done).
    """
    staged, kept = [], []
    try:
        for change in plan.changes:
            if change.directory:
                _make_directory(change.path, change.attributes)
            elif change.data is not None:
                staged.append((_stage(change), change.path))
        for _temp, path in staged:
            kept.append((_keep(path), path))
    except OSError as exc:
        for temp, _final in staged + kept:
            if temp:
                _unlink_quietly(temp)
        raise CertError("cannot write %s: %s; nothing was changed" % (exc.filename or "files", exc.strerror)) from None
    for index, (temp, path) in enumerate(staged):
        try:
            os.rename(temp, path)
        except OSError as exc:
            _roll_back(staged, kept, index)
            raise CertError("cannot replace %s: %s; nothing was changed" % (path, exc.strerror)) from None
    for old, _final in kept:
        if old:
            _unlink_quietly(old)
    for change in plan.changes:
        if change.remove:
            try:
                os.unlink(change.path)
            except FileNotFoundError:
                pass
        elif change.data is None and not (change.directory or change.pending):
            fd = os.open(change.path, os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0))
            try:
                os.fchown(fd, change.attributes.uid, change.attributes.gid)
                os.fchmod(fd, change.attributes.mode)
            finally:
                os.close(fd)
    for directory in sorted({os.path.dirname(final) for _temp, final in staged}):
        _fsync_directory(directory)


def _keep(path: str) -> str | None:
    """A hard link to the file at ``path`` (None when there is none), to put back on a failed rename."""
    directory, name = os.path.split(path)
    old = os.path.join(directory, ".%s.certkeeper-old-%s" % (name, secrets.token_hex(4)))
    try:
        os.link(path, old, follow_symlinks=False)
    except FileNotFoundError:
        return None
    return old


def _roll_back(staged: list, kept: list, failed: int) -> None:
    for index in reversed(range(len(staged))):
        temp, path = staged[index]
        old = kept[index][0]
        if index >= failed:
            _unlink_quietly(temp)
        elif old:
            os.rename(old, path)
            continue
        else:
            _unlink_quietly(path)
        if old:
            _unlink_quietly(old)


def _make_directory(path: str, attributes: Attributes) -> None:
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    os.mkdir(path, 0o700)
    os.chown(path, attributes.uid, attributes.gid)
    os.chmod(path, attributes.mode)


def _stage(change: Change) -> str:
    """Write content to a temp file that has its final owner and mode before any byte lands."""
    directory, name = os.path.split(change.path)
    temp = os.path.join(directory, ".%s.certkeeper-%s" % (name, secrets.token_hex(4)))
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o600)
    try:
        os.fchown(fd, change.attributes.uid, change.attributes.gid)
        os.fchmod(fd, change.attributes.mode)
        view = memoryview(change.data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    except OSError as exc:
        os.close(fd)
        _unlink_quietly(temp)
        exc.filename = exc.filename or change.path
        raise
    os.close(fd)
    return temp


def _unlink_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def _fsync_directory(path: str) -> None:
    fd = os.open(path or ".", os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
