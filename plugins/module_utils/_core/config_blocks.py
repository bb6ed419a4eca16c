# -*- coding: utf-8 -*-
# Copyright (c) certkeeper.pki contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A marked block inside a user's configuration file, replaced in place, everything else kept.

The file is read as PostgreSQL reads it, line by line at ``\\n`` (other bytes, ``\\r`` included, stay as they
are). Markers must come as one BEGIN and then one END; anything else (a BEGIN without END, an END first, two
BEGINs) is refused with the lines named, and nothing changes. A file's ``Syntax`` may say more: which block
contents may be written at all, which lines are rules that the block must come before (pg_hba.conf: the first
matching rule wins, so a block found below a rule is moved above it), and which lines inside the markers the
collection itself writes (any other line there is a user's, and the block is refused rather than that line
deleted)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable

from .errors import CertError
from .files import Change, FileState

MARKER = "certkeeper.pki"
PLACEMENTS = ("first", "last")


@dataclass(frozen=True)
class Syntax:
    """What a kind of configuration file tells about its lines; every part optional."""

    check_content: Callable[[str], None] | None = None  # raises CertError for a block that must not be written
    is_rule: Callable[[str], bool] | None = None  # placement "first": the block goes above every such line
    is_own: Callable[[str], bool] | None = None  # a line inside the markers that the block may replace


def _markers(name: str) -> tuple[str, str]:
    return (
        "# BEGIN %s %s (managed: edits inside this block are replaced)" % (MARKER, name),
        "# END %s %s" % (MARKER, name),
    )


def _marker_pattern(name: str):
    # the markers as written, and as a hand edit may have left them (spacing, the BEGIN line's note cut)
    return re.compile(r"#\s*(BEGIN|END)\s+%s\s+%s(\s|$)" % (re.escape(MARKER), re.escape(name)))


def _lines(text: str) -> list:
    """The lines of ``text`` split at ``\\n`` only (as PostgreSQL splits them), without the last line break."""
    return text[:-1].split("\n") if text.endswith("\n") else text.split("\n") if text else []


def _numbers(indexes: list) -> str:
    return ", ".join(str(i + 1) for i in indexes)


def _find_block(lines: list, name: str) -> tuple | None:
    """(first, last) line index of block ``name``, None when absent; markers out of order are an error."""
    pattern = _marker_pattern(name)
    marks = [(i, m.group(1)) for i, line in enumerate(lines) for m in [pattern.match(line.strip())] if m]
    problem, begin, found = "", None, None
    for index, kind in marks:
        if kind == "BEGIN" and begin is not None:
            problem = "BEGIN on line %d inside the block opened on line %d" % (index + 1, begin + 1)
        elif kind == "BEGIN" and found:
            problem = "a second BEGIN on line %d after the block of lines %d-%d" % (
                index + 1,
                found[0] + 1,
                found[1] + 1,
            )
        elif kind == "END" and begin is None:
            problem = "END on line %d without a BEGIN before it" % (index + 1)
        elif kind == "BEGIN":
            begin = index
            continue
        else:
            found, begin = (begin, index), None
            continue
        break
    if not problem and begin is not None:
        problem = "BEGIN on line %d has no END" % (begin + 1)
    if problem:
        raise CertError(
            "the %s markers of block %r are damaged: %s (marker lines: %s); fix or remove them by hand, "
            "nothing was changed" % (MARKER, name, problem, _numbers([i for i, _kind in marks]))
        )
    return found


@dataclass
class _Placed:
    lines: list
    reason: str  # "" when the file stays as it is
    before_at: str = ""  # where the block was and is, for --diff when it moves
    after_at: str = ""


def _place(text: str, name: str, content: str, placement: str, syntax: Syntax) -> _Placed:
    if placement not in PLACEMENTS:
        raise CertError("placement must be one of %s, got %r" % (", ".join(PLACEMENTS), placement))
    if syntax.check_content:
        syntax.check_content(content)
    begin, end = _markers(name)
    inner = _lines(content.rstrip("\n") + "\n") if content.strip("\n") else []
    pattern = _marker_pattern(name)
    for line in inner:
        if pattern.match(line.strip()):
            raise CertError("the content of block %r holds a %s marker line: %r" % (name, MARKER, line))
    block = [begin] + inner + [end]
    lines = _lines(text)
    found = _find_block(lines, name)
    if not found:
        added = block + lines if placement == "first" else lines + block
        return _Placed(added, "add the %s block" % MARKER)
    first, last = found
    foreign = [i for i in range(first + 1, last) if syntax.is_own and not syntax.is_own(lines[i])]
    if foreign:
        raise CertError(
            "lines %d-%d between the %s markers hold lines this collection does not write (line %d: %r), which "
            "replacing the block would delete; move them out of the block (or remove the markers) by hand, "
            "nothing was changed" % (first + 1, last + 1, MARKER, foreign[0] + 1, lines[foreign[0]])
        )
    rules = [i for i in range(first) if syntax.is_rule(lines[i])] if placement == "first" and syntax.is_rule else []
    if rules:
        rest = lines[:first] + lines[last + 1 :]
        changed = " and update it" if lines[first : last + 1] != block else ""
        return _Placed(
            block + rest,
            "move the %s block above the first rule (line %d)%s" % (MARKER, rules[0] + 1, changed),
            "# (lines %d-%d, below the rule on line %d)\n" % (first + 1, last + 1, rules[0] + 1),
            "# (lines 1-%d, above every rule)\n" % len(block),
        )
    if lines[first : last + 1] == block:
        return _Placed(lines, "")
    return _Placed(lines[:first] + block + lines[last + 1 :], "update the %s block" % MARKER)


def _text(lines: list) -> str:
    return "\n".join(lines) + "\n" if lines else ""


def with_block(text: str, name: str, content: str, placement: str, syntax: Syntax | None = None) -> str:
    """``text`` with the block ``name`` holding ``content``: replaced where it is, else added
    first (pg_hba.conf: the first matching rule wins) or last (postgresql.conf: the last setting wins)."""
    placed = _place(text, name, content, placement, syntax or Syntax())
    return _text(placed.lines) if placed.reason else text


def _block_of(text: str, name: str) -> str:
    """Only the managed block: --diff must not print the rest of a file that may hold passwords."""
    lines = _lines(text)
    found = _find_block(lines, name)
    return _text(lines[found[0] : found[1] + 1]) if found else ""


def plan_block(
    state: FileState, name: str, content: str, placement: str, what: str, syntax: Syntax | None = None
) -> Change | None:
    """The change that puts the block into an existing configuration file, if one is needed."""
    syntax = syntax or Syntax()
    if syntax.check_content:
        syntax.check_content(content)  # the block's own faults first, whatever the file
    if state.error:
        raise CertError("cannot read %s %s: %s" % (what, state.path, state.error))
    if state.is_directory:
        raise CertError(
            "%s %s is a directory where a file belongs; give the path of the file itself" % (what, state.path)
        )
    if state.data is None:
        raise CertError(
            "%s %s does not exist; point the configuration directory option at the "
            "directory that holds it" % (what, state.path)
        )
    before = state.data.decode("utf-8", errors="surrogateescape")  # keep any non-UTF-8 bytes as they are
    try:
        placed = _place(before, name, content, placement, syntax)
    except CertError as exc:
        raise CertError("%s %s: %s" % (what, state.path, exc)) from None
    if not placed.reason:
        return None
    after = _text(placed.lines)
    data = after.encode("utf-8", errors="surrogateescape")
    shown = data.decode("utf-8", errors="replace")
    return Change(
        state.path,
        placed.reason,
        state.attributes,
        data,
        before=placed.before_at + _block_of(state.data.decode("utf-8", errors="replace"), name),
        after=placed.after_at + _block_of(shown, name),
    )
