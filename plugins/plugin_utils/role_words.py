# -*- coding: utf-8 -*-
# Copyright (c) certkeeper.pki contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Errors in the words of a role's user.

A role hands its modules option values made from role variables; a user of the role has never seen the
module's options. Each task of the collection's roles sets the task variable ``__certkeeper_role_words``:
``{host: the inventory host whose variables these are, variables: {module option: role variable}}``. The
action plugins of the modules rewrite the option names of a failure's message, of warnings and of change
reasons into those role variables, and name the host. A module used directly keeps its option names."""

from __future__ import annotations

import re

TASK_VARIABLE = "__certkeeper_role_words"
_QUOTED = re.compile(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"")  # values quoted by %r stay as they are


def in_role_words(text, words: dict | None):
    """``text`` with each option named in ``words['variables']`` replaced by its role variable, and
    "(host NAME)" added when anything was replaced; other values come back as they are."""
    if not isinstance(text, str) or not words or not words.get("variables"):
        return text
    variables = {str(k): str(v) for k, v in words["variables"].items() if v}
    # ca_common_name before common_name; a one-word option (path) is a word of prose too: only where a message
    # starts with it
    names = sorted(variables, key=len, reverse=True)
    option = re.compile(
        r"(?<![\w.\[])(%s)(?![\w\]])|^(%s)\b"
        % (
            "|".join(re.escape(n) for n in names if "_" in n) or "(?!)",
            "|".join(re.escape(n) for n in names if "_" not in n) or "(?!)",
        )
    )
    replaced = []

    def rewrite(plain: str) -> str:
        def one(match):
            name = match.group(1) or match.group(2)
            replaced.append(name)
            return variables[name]

        return option.sub(one, plain)

    parts, last = [], 0
    for quoted in _QUOTED.finditer(text):
        parts += [rewrite(text[last : quoted.start()]), quoted.group(0)]
        last = quoted.end()
    parts.append(rewrite(text[last:]))
    result = "".join(parts)
    if replaced and words.get("host"):
        result += " (host %s)" % words["host"]
    return result


def result_in_role_words(result: dict, words: dict | None) -> dict:
    """A task result with its message, warnings and change reasons (in changes and --diff) in the role's words."""
    if not words:
        return result
    result = dict(result)
    if "msg" in result:
        result["msg"] = in_role_words(result["msg"], words)
    if isinstance(result.get("warnings"), list):
        result["warnings"] = [in_role_words(w, words) for w in result["warnings"]]
    if isinstance(result.get("diff"), list):
        result["diff"] = [
            dict(d, after_header=in_role_words(d.get("after_header"), words)) if isinstance(d, dict) else d
            for d in result["diff"]
        ]
    if isinstance(result.get("changes"), list):
        result["changes"] = [
            dict(c, reason=in_role_words(c.get("reason"), words)) if isinstance(c, dict) else c
            for c in result["changes"]
        ]
    return result


def task_role_words(templar, task_vars: dict) -> dict | None:
    """The task's ``__certkeeper_role_words``, rendered; None outside the collection's roles."""
    words = (task_vars or {}).get(TASK_VARIABLE)
    if words is None:
        return None
    words = templar.template(words)
    return words if isinstance(words, dict) else None
