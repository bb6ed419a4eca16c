# -*- coding: utf-8 -*-
# Copyright (c) certkeeper.pki contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A marked block inside a user's configuration file, replaced in place, everything else kept."""

from __future__ import annotations

from .crypto import CertError
from .files import Change, FileState

MARKER = "certkeeper.pki"
PLACEMENTS = ("first", "last")


def _markers(name: str) -> tuple[str, str]:
    return (
        "# BEGIN %s %s (managed: edits inside this block are replaced)" % (MARKER, name),
        "# END %s %s" % (MARKER, name),
    )


def _find_block(lines: list, name: str) -> tuple | None:
    """(first, last) line index of block ``name``, None when absent; damaged markers are an error."""
    begin, end = _markers(name)
    starts = [i for i, line in enumerate(lines) if line.strip() == begin]
    ends = [i for i, line in enumerate(lines) if line.strip() == end]
    if len(starts) > 1 or len(ends) > 1 or len(starts) != len(ends) or (starts and ends[0] < starts[0]):
        raise CertError(
            "the %s markers of block %r are damaged (found %d BEGIN and %d END lines); "
            "fix or remove them by hand" % (MARKER, name, len(starts), len(ends))
        )
    return (starts[0], ends[0]) if starts else None


def with_block(text: str, name: str, content: str, placement: str) -> str:
    """``text`` with the block ``name`` holding ``content``: replaced where it is, else added
    first (pg_hba.conf: the first matching rule wins) or last (postgresql.conf: the last setting wins)."""
    if placement not in PLACEMENTS:
        raise CertError("placement must be one of %s, got %r" % (", ".join(PLACEMENTS), placement))
    begin, end = _markers(name)
    block = [begin] + content.rstrip("\n").splitlines() + [end]
    lines = text.splitlines()
    found = _find_block(lines, name)
    if found:
        lines[found[0] : found[1] + 1] = block
    elif placement == "first":
        lines = block + lines
    else:
        lines = lines + block
    return "\n".join(lines) + "\n"


def _block_of(text: str, name: str) -> str:
    """Only the managed block: --diff must not print the rest of a file that may hold passwords."""
    lines = text.splitlines()
    found = _find_block(lines, name)
    return "\n".join(lines[found[0] : found[1] + 1]) + "\n" if found else ""


def plan_block(state: FileState, name: str, content: str, placement: str, what: str) -> Change | None:
    """The change that puts the block into an existing configuration file, if one is needed."""
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
    after = with_block(before, name, content, placement)
    if after == before:
        return None
    reason = "update the %s block" % MARKER if _markers(name)[0] in before else "add the %s block" % MARKER
    data = after.encode("utf-8", errors="surrogateescape")
    shown = data.decode("utf-8", errors="replace")
    return Change(
        state.path,
        reason,
        state.attributes,
        data,
        before=_block_of(state.data.decode("utf-8", errors="replace"), name),
        after=_block_of(shown, name),
    )
