# -*- coding: utf-8 -*-
# Copyright (c) certkeeper.pki contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""File state in, atomic file changes out: the only I/O the planners' results need."""

from __future__ import annotations

import errno
import grp
import os
import pwd
import secrets
import stat
from dataclasses import dataclass, field

from . import stamp
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
PARENT_DIRECTORY_MODE = 0o755  # missing parents of a directory certkeeper creates: this mode whatever the umask

_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
# How a file another user may have swapped in is opened: never through a link, never waiting (a FIFO or a
# device opens at once and is then refused by fstat), never as a controlling terminal.
_CHECKED_OPEN = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | _CLOEXEC


@dataclass(frozen=True)
class FileState:
    """What is on disk now; ``data`` is None when the file is missing."""

    path: str
    data: bytes | None = None
    attributes: Attributes | None = None
    error: str | None = None  # set when the file exists but cannot be read
    is_directory: bool = False
    inode: tuple | None = None  # (st_dev, st_ino) of what was read: an owner/mode fix applies to this inode only
    links: int = 0  # its hard links
    # this very inode, with this very content, is one certkeeper wrote and marked (stamp.written_marks)
    written_here: bool = False


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
    # an owner/mode fix: (st_dev, st_ino, is_directory) of the inode checked; the fix applies to it or to nothing
    expect: tuple | None = None
    mark: bool = False  # record the inode written in the directory's stamp (a pending key, see FileState.written_here)

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
    """Everything that must change on one host, each item with its reason, and what the plan was made from."""

    changes: list = field(default_factory=list)
    warnings: list = field(default_factory=list)
    # What the stamp of the state this plan leaves covers (stamp_record.record), kept where the planning happens so
    # that nothing else keeps a list of it: the paths the plan was made from (each state it was given, a record it
    # loaded; the paths it changes are covered too), and the moments what it verified stops holding (datetimes: a
    # certificate's renewal moment, a CRL's nextUpdate).
    read: list = field(default_factory=list)
    deadlines: list = field(default_factory=list)

    def include(self, part: Plan) -> None:
        """Take a part planned apart (the CA, the configuration, ...) into this plan, applied with it at once."""
        self.changes += part.changes
        self.warnings += part.warnings
        self.read += part.read
        self.deadlines += part.deadlines

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


# What this process last read or wrote at each path, as stamp.facts_of gives it (None: missing): the
# stamp records these, never what a path names when it is written (see stamp.record).
_SEEN: dict = {}


def _saw(path: str, st: os.stat_result | None) -> None:
    _SEEN[os.path.normpath(path)] = None if st is None else stamp.facts_of(st)


def seen_facts(path: str) -> tuple:
    """(seen, facts) of what this process last read (read_state) or wrote (apply_plan) at ``path``."""
    key = os.path.normpath(path)
    return (key in _SEEN, _SEEN.get(key))


def forget_seen() -> None:
    _SEEN.clear()


def trusted_directory(path: str) -> bool:
    """Whether ``path`` is a directory nobody but root (or this user) can change entries in."""
    try:
        return _trusted(os.lstat(path or "."))
    except OSError:
        return False


def _trusted(st: os.stat_result) -> bool:
    return stat.S_ISDIR(st.st_mode) and foreign_problem(st) is None


def foreign_problem(st: os.stat_result) -> str | None:
    """Why what ``st`` describes is not root's alone (or this user's, when certkeeper runs as another), or None:
    its owner, or a group or others who can write it, could steer what root does with it."""
    return ownership_problem(st.st_uid, st.st_mode)


def ownership_problem(uid: int, mode: int) -> str | None:
    """foreign_problem of an owner and a mode (those of a file as read, FileState.attributes)."""
    if uid not in (0, os.geteuid()):
        return "is not root's"
    writable = stat.S_IMODE(mode) & 0o022
    if writable:
        return "is writable by %s" % {0o020: "its group", 0o002: "others"}.get(writable, "its group and others")
    return None


def os_error_text(exc: OSError) -> str:
    if exc.errno == errno.ELOOP:
        return "is a symbolic link, which certkeeper does not follow"
    return exc.strerror or str(exc)


def read_state(path: str) -> FileState:
    """What is at ``path``, never following a symbolic link (a link is reported, not read).

    A file is read through a descriptor opened without waiting (a FIFO swapped in after the lstat cannot
    make this process wait) and checked with fstat before a byte is read; the state describes that very
    inode (attributes, ``inode``, ``links``), which is what the plan is made from."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        _saw(path, None)
        return FileState(path)
    except OSError as exc:
        return FileState(path, error=exc.strerror)
    attributes = Attributes(stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid)
    if stat.S_ISDIR(st.st_mode):
        _saw(path, st)
        return FileState(path, b"", attributes, is_directory=True, inode=(st.st_dev, st.st_ino), links=st.st_nlink)
    if stat.S_ISLNK(st.st_mode):
        _saw(path, st)
        return FileState(path, attributes=attributes, error="is a symbolic link, which certkeeper does not follow")
    if not stat.S_ISREG(st.st_mode):
        _saw(path, st)
        return FileState(path, attributes=attributes, error="not a regular file")
    try:
        fd = os.open(path, _CHECKED_OPEN)
    except OSError as exc:
        return FileState(path, attributes=attributes, error=os_error_text(exc))
    with os.fdopen(fd, "rb") as handle:
        st = os.fstat(fd)  # before the read: a write after it moves what the next lstat sees
        _saw(path, st)
        attributes = Attributes(stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid)
        if not stat.S_ISREG(st.st_mode):
            return FileState(path, attributes=attributes, error="not a regular file")
        data = handle.read()
    directory, name = os.path.split(path)
    return FileState(
        path,
        data,
        attributes,
        inode=(st.st_dev, st.st_ino),
        links=st.st_nlink,
        written_here=stamp.written_marks(directory).get(name) == stamp.written_mark(st, data),
    )


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
        expect=state.inode + (state.is_directory,) if state.inode else None,
    )


def apply_plan(plan: Plan) -> None:
    """Write every change atomically: stage all temp files first, then rename them into place.

    A failure while staging (disk full, read-only, permissions) removes the temp files and
    leaves every existing file as it was; so does a failed rename, which puts back the files
    already replaced (each is kept as a hard link until all renames are done).

    In a directory another user can write (PostgreSQL's), what a path names may change at any moment, so
    nothing is done by path after a check: an owner/mode fix is made through a descriptor of the very inode
    the plan checked (opened without following a link or waiting, a regular file with one link, the same
    device and inode; else the whole plan is refused before anything changes); a directory is created and
    given its owner and mode through its own descriptor; temp files are created exclusively and fixed
    through theirs. What was written is what the stamp records (seen_facts).
    """
    fixes: list = []  # (change, descriptor of the inode checked)
    staged: list = []  # (temp, path, descriptor of the temp file) in renaming order
    kept: list = []  # (hard link to the file a staged one replaces, or None; its path), as staged
    try:
        _prepare(plan.changes, fixes, staged, kept)
        _rename_staged(staged, kept)
        for _temp, path, fd in staged:
            _saw(path, os.fstat(fd))  # the inode written, as it is after its rename
        _drop_kept(kept)
        for directory in sorted({os.path.dirname(final) for _temp, final, _fd in staged}):
            _fsync_directory(directory)  # what was written is durable before anything is removed
        _remove_files(plan.changes)
        _fix_attributes(fixes)
    finally:
        for _change, fd in fixes:
            os.close(fd)
        for _temp, _final, fd in staged:
            os.close(fd)


def _prepare(changes: list, fixes: list, staged: list, kept: list) -> None:
    """Everything that can fail, done before the first rename and undone on failure: then nothing was changed."""
    try:  # the lists fill as it goes: however far this got, the caller closes every descriptor opened
        for change in changes:
            if _fixes_attributes(change):
                fixes.append((change, _open_checked(change)))
        for change in changes:
            if change.directory:
                _make_directory(change.path, change.attributes)
            elif change.data is not None:
                staged.append(_stage(change))
        _add_marks(changes, staged)
        for _temp, path, _fd in staged:
            kept.append((_keep(path), path))
    except (OSError, CertError) as exc:
        for temp, _final, _fd in staged:
            _unlink_quietly(temp)
        _drop_kept(kept)
        if isinstance(exc, CertError):
            raise
        raise CertError("cannot write %s: %s; nothing was changed" % (exc.filename or "files", exc.strerror)) from None


def _rename_staged(staged: list, kept: list) -> None:
    """Each staged file in place, in order; a failed rename puts back the files already replaced. Before the renames
    move on to another directory, this one's are made durable: a later rename may replace the only other copy of
    what it holds (a CA key moving to previous/ before the new one takes its place)."""
    for index, (temp, path, _fd) in enumerate(staged):
        try:
            os.rename(temp, path)
        except OSError as exc:
            _roll_back(staged, kept, index)
            raise CertError("cannot replace %s: %s; nothing was changed" % (path, exc.strerror)) from None
        following = staged[index + 1][1] if index + 1 < len(staged) else None
        if following is not None and os.path.dirname(following) != os.path.dirname(path):
            _fsync_directory(os.path.dirname(path))


def _drop_kept(kept: list) -> None:
    """The hard links kept for a roll-back go once no rename is left to fail."""
    for old, _final in kept:
        if old:
            _unlink_quietly(old)


def _remove_files(changes: list) -> None:
    """Removals wait until every write is in place: a removal cannot be rolled back."""
    for change in changes:
        if change.remove:
            try:
                os.unlink(change.path)
            except FileNotFoundError:
                pass
            _saw(change.path, None)


def _fix_attributes(fixes: list) -> None:
    """Owner and mode set through the inode checked, never by a path that may now name another file."""
    for change, fd in fixes:
        os.fchown(fd, change.attributes.uid, change.attributes.gid)
        os.fchmod(fd, change.attributes.mode)
        _saw(change.path, os.fstat(fd))


def _fixes_attributes(change: Change) -> bool:
    return change.data is None and not (change.directory or change.pending or change.remove)


def _open_checked(change: Change) -> int:
    """A descriptor of the inode an owner/mode fix was planned for, or a CertError that changes nothing.

    Opened without following a link and without waiting; then it must be what was checked: a regular file
    with no other name (a hard link to a file elsewhere would carry the fix there), or the directory, with
    the device and inode the plan read."""
    directory = bool(change.expect and change.expect[2])
    where = os.path.dirname(change.path) or "."
    try:
        fd = os.open(change.path, _CHECKED_OPEN | (os.O_DIRECTORY if directory else 0))
    except OSError as exc:
        if _is_link(change.path):
            problem = "is now a symbolic link"
        elif exc.errno == errno.ENOTDIR:
            problem = "is no longer a directory"
        else:
            problem = "cannot be opened (%s)" % os_error_text(exc)
        fd = None
    if fd is not None:
        st = os.fstat(fd)
        if directory and not stat.S_ISDIR(st.st_mode):
            problem = "is no longer a directory"
        elif not directory and not stat.S_ISREG(st.st_mode):
            problem = "is no longer a regular file"
        elif not directory and st.st_nlink != 1:
            problem = "has %d hard links (a fix would reach the same file under its other names)" % st.st_nlink
        elif change.expect and (st.st_dev, st.st_ino) != tuple(change.expect[:2]):
            problem = "is no longer the file certkeeper checked: it was replaced after it was read"
        else:
            return fd
        os.close(fd)
    raise CertError(
        "refused to set the owner/mode of %s (%s): it %s. Whoever can write %s may have swapped it in; "
        "nothing was changed: look at it, then run again" % (change.path, change.attributes.describe(), problem, where)
    )


def _add_marks(changes: list, staged: list) -> None:
    """Stage, before the first file of a directory to mark, a stamp that marks those files: the mark is in
    place before the file it names, so whatever a crash leaves, no file certkeeper wrote goes unmarked, and
    a file another user plants under that name is not the inode marked."""
    marks: dict = {}
    for change in changes:
        if change.mark and change.data is not None:
            for _temp, path, fd in staged:
                if path == change.path:
                    directory, name = os.path.split(path)
                    marks.setdefault(directory, {})[name] = stamp.written_mark(os.fstat(fd), change.data)
    for directory, entries in sorted(marks.items()):
        first = min(i for i, (_t, path, _fd) in enumerate(staged) if os.path.dirname(path) == directory)
        change = Change(stamp.stamp_path(directory), "marks", ROOT_ONLY_FILE, stamp.with_marks(directory, entries))
        staged.insert(first, _stage(change))


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
        temp, path, _fd = staged[index]
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
    """Create ``path`` (its missing parents PARENT_DIRECTORY_MODE, whatever the umask) and give it its owner
    and mode through a descriptor opened without following a link: a link or another directory swapped in
    right after the mkdir is refused, never chowned or chmodded."""
    parent_path, name = os.path.split(os.path.normpath(os.path.abspath(path)))
    parent = _open_parents(parent_path, path)
    try:
        try:
            os.mkdir(name, 0o700, dir_fd=parent)
        except OSError as exc:
            exc.filename = path
            raise
        try:
            fd = os.open(name, _CHECKED_OPEN | os.O_DIRECTORY, dir_fd=parent)
        except OSError as exc:
            problem = "is a symbolic link" if _is_link(name, parent) else os_error_text(exc)
            raise CertError(_swapped_directory(path, problem)) from None
        try:
            st = os.fstat(fd)
            if st.st_uid != os.geteuid() or os.listdir(fd):
                raise CertError(_swapped_directory(path, "is a directory certkeeper did not create"))
            os.fchown(fd, attributes.uid, attributes.gid)
            os.fchmod(fd, attributes.mode)
            _saw(path, os.fstat(fd))
        finally:
            os.close(fd)
    finally:
        os.close(parent)


def make_parent_directories(path: str) -> None:
    """The missing parents of ``path``, created as apply_plan creates them (PARENT_DIRECTORY_MODE whatever the
    umask, no link followed in a directory another user can write): for what creates a directory itself."""
    parent_path = os.path.dirname(os.path.normpath(os.path.abspath(path)))
    os.close(_open_parents(parent_path, path))


def _is_link(name: str, dir_fd: int | None = None) -> bool:
    try:
        return stat.S_ISLNK(os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode)
    except OSError:
        return False


def _swapped_directory(path: str, problem: str) -> str:
    return (
        "refused to set the owner/mode of directory %s, created a moment ago: it now %s. Whoever can write %s "
        "may have swapped it in; nothing else was changed: look at it, then run again"
        % (path, problem, os.path.dirname(path))
    )


def _open_parents(path: str, creating: str) -> int:
    """A descriptor of directory ``path``, its missing components created PARENT_DIRECTORY_MODE (set on the
    descriptor: the umask does not widen or narrow it), to create ``creating`` in. A link is followed only in
    a directory nobody but root can change; in any other, a link where a directory belongs is refused."""
    fd = os.open(os.sep, os.O_RDONLY | os.O_DIRECTORY | _CLOEXEC)
    where = os.sep
    try:
        for part in [p for p in path.split(os.sep) if p]:
            where = os.path.join(where, part)
            follow = 0 if _trusted(os.fstat(fd)) else os.O_NOFOLLOW
            flags = os.O_RDONLY | os.O_DIRECTORY | os.O_NONBLOCK | _CLOEXEC
            try:
                try:
                    child = os.open(part, flags | follow, dir_fd=fd)
                except FileNotFoundError:
                    made = True
                    try:
                        os.mkdir(part, PARENT_DIRECTORY_MODE, dir_fd=fd)
                    except FileExistsError:
                        made = False
                    child = os.open(part, flags | os.O_NOFOLLOW, dir_fd=fd)
                    if made and os.fstat(child).st_uid == os.geteuid():
                        os.fchmod(child, PARENT_DIRECTORY_MODE)
            except OSError as exc:
                if follow and _is_link(part, fd):
                    raise CertError(
                        "cannot create directory %s: %s is a symbolic link in %s, which another user can write: "
                        "certkeeper does not follow it; nothing was changed" % (creating, where, os.path.dirname(where))
                    ) from None
                exc.filename = where
                raise
            os.close(fd)
            fd = child
    except BaseException:
        os.close(fd)
        raise
    return fd


def _stage(change: Change) -> tuple:
    """Write content to a temp file that has its final owner and mode before any byte lands:
    (temp path, final path, descriptor of the temp file, kept open to state what was written)."""
    directory, name = os.path.split(change.path)
    temp = os.path.join(directory, ".%s.certkeeper-%s" % (name, secrets.token_hex(4)))
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | _CLOEXEC, 0o600)
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
    return temp, change.path, fd


def _unlink_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def _fsync_directory(path: str) -> None:
    fd = os.open(path or ".", os.O_RDONLY | os.O_DIRECTORY | os.O_NONBLOCK | _CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
