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

import dataclasses
import re

TASK_VARIABLE = "__certkeeper_role_words"
# values quoted by %r stay as they are; an apostrophe inside a word (the host's key) opens no quote
_QUOTED = re.compile(r"(?<!\w)'(?:[^'\\]|\\.)*'|(?<!\w)\"(?:[^\"\\]|\\.)*\"")


def in_role_words(text, words: dict | None):
    """``text`` with each option named in ``words['variables']`` replaced by its role variable, and
    "(host NAME)" added when anything was replaced; other values come back as they are."""
    if not isinstance(text, str) or not words or not words.get("variables"):
        return text
    variables = {str(k): str(v) for k, v in words["variables"].items() if v}
    replaced: list = []
    # ca_common_name before common_name; a one-word option (path, password) is a word of prose too: only where a
    # message starts with it, where it is set (force: true, ca=...), and in AnsibleModule's own phrasings
    names = sorted(variables, key=len, reverse=True)
    words_only = "|".join(re.escape(n) for n in names if "_" not in n) or "(?!)"
    option = re.compile(
        r"(?<![\w.\[/])(%s)(?![\w\]/])|(?:^|(?<=value of )|(?<=found in ))(%s)\b|(?<![\w.\[/])(%s)(?=: |=)"
        % ("|".join(re.escape(n) for n in names if "_" in n) or "(?!)", words_only, words_only)
    )
    # AnsibleModule quotes an option it names ("argument 'key_size' is of type ..."): that quote is the option's
    text = re.sub(
        r"(?<=argument ')(%s)(?=')" % "|".join(re.escape(n) for n in names),
        lambda match: _note(replaced, match.group(1), variables),
        text,
    )

    def rewrite(plain: str) -> str:
        return option.sub(
            lambda match: _note(replaced, match.group(1) or match.group(2) or match.group(3), variables), plain
        )

    parts, last = [], 0
    for quoted in _QUOTED.finditer(text):
        parts += [rewrite(text[last : quoted.start()]), quoted.group(0)]
        last = quoted.end()
    parts.append(rewrite(text[last:]))
    result = "".join(parts)
    if replaced and words.get("host"):
        result += " (host %s)" % words["host"]
    return result


def _dataclass_instance(value) -> bool:
    return dataclasses.is_dataclass(value) and not isinstance(value, type)


def _summary_in_role_words(value, words: dict):
    """A message as a string, or as ansible-core 2.19's summary object (a dataclass whose ``event.msg`` is the
    text: each warning, and a failed module's ``exception``, which ``[ERROR]: Task failed: ...`` prints), in the
    role's words; anything else (2.16-2.18's traceback string) as it is."""
    if isinstance(value, str):
        return in_role_words(value, words)
    event = getattr(value, "event", None)
    message = getattr(event, "msg", None)
    if not (_dataclass_instance(value) and _dataclass_instance(event) and isinstance(message, str)):
        return value
    return dataclasses.replace(value, event=dataclasses.replace(event, msg=in_role_words(message, words)))


def _note(replaced: list, name: str, variables: dict) -> str:
    replaced.append(name)
    return variables[name]


def result_in_role_words(result: dict, words: dict | None) -> dict:
    """A task result with its message (``msg``, and 2.19's ``exception``), warnings and change reasons (in
    changes and --diff) in the role's words."""
    if not words:
        return result
    result = dict(result)
    if "msg" in result:
        result["msg"] = in_role_words(result["msg"], words)
    if "exception" in result and not isinstance(result["exception"], str):
        result["exception"] = _summary_in_role_words(result["exception"], words)
    if isinstance(result.get("warnings"), list):
        result["warnings"] = [_summary_in_role_words(w, words) for w in result["warnings"]]
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


def in_collection_role(task_vars: dict | None) -> bool:
    """Whether the task is one of the collection's roles' (it sets ``__certkeeper_role_words``); nothing rendered."""
    return TASK_VARIABLE in (task_vars or {})


def task_result_in_role_words(result: dict, templar, task_vars: dict | None) -> dict:
    """``result_in_role_words`` with the task's words, rendered only when the result has words to rewrite (a rerun
    that changed nothing has none, and rendering costs the controller a template per host and task)."""
    if not in_collection_role(task_vars) or not any(
        result.get(key) for key in ("msg", "warnings", "changes", "diff", "exception")
    ):
        return result
    return result_in_role_words(result, task_role_words(templar, task_vars or {}))


def task_role_words(templar, task_vars: dict) -> dict | None:
    """The task's ``__certkeeper_role_words``, rendered; None outside the collection's roles."""
    words = (task_vars or {}).get(TASK_VARIABLE)
    if words is None:
        return None
    words = templar.template(words)
    return words if isinstance(words, dict) else None
