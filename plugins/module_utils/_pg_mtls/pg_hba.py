# -*- coding: utf-8 -*-
# Copyright (c) certkeeper.pki contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The only rules this collection writes into pg_hba.conf: ``hostssl <database> <user> <address> cert [options]``.

Every line of the managed block is checked here before anything is read or written, whatever made it (the
pg_mtls role's template from ``pg_mtls_hba_rules``, or a direct caller of pg_mtls_certs): no value can turn a
rule into ``trust``, ``password`` or a plain ``host`` rule, cut it with ``#``, or add a line. The fields are
checked as PostgreSQL (15) reads them, narrowed to what needs no quoting:

* database: ``all``, ``sameuser``, ``samerole``, ``replication`` or a name, or a comma list of those;
* user: ``all``, a name or ``+name`` (members of a role), or a comma list of those;
* address: an IPv4/IPv6 address with a CIDR mask (``10.0.0.0/8``, ``::1/128``), ``all``, ``samehost``,
  ``samenet``, or a host name (``db.example.com``, or ``.example.com`` for a domain);
* options, those of the ``cert`` method, each at most once: ``clientcert=verify-full`` (PostgreSQL refuses
  ``verify-ca`` with ``cert``), ``clientname=CN`` or ``clientname=DN``, ``map=<name>`` (pg_ident.conf).

A name is 1 to 63 of ``A-Z a-z 0-9 _ . $ -``, not starting with ``.``, ``$`` or ``-``. Not accepted: quoted
names, ``@file`` lists, regular expressions (``/...``, PostgreSQL 16), an address with a separate mask column.

The block may also hold comment lines and blank lines. Any character outside printable ASCII (tabs between
fields aside), a double quote or a backslash (a line continuation since PostgreSQL 16) is refused anywhere.

The module also tells config_blocks which lines of pg_hba.conf are rules (the managed block must come before
all of them) and which lines it may replace inside the markers (the lines its template writes).
"""

from __future__ import annotations

import ipaddress
import re
import socket

from .._core.config_blocks import Syntax
from .._core.errors import CertError

OPTION = "pg_hba_block"
SHAPE = "hostssl <database> <user> <address> cert [options]"
DATABASE_KEYWORDS = ("all", "sameuser", "samerole", "replication")
ADDRESS_KEYWORDS = ("all", "samehost", "samenet")
FIXED_OPTIONS = ("clientcert=verify-full", "clientname=CN", "clientname=DN")
_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.$-]{0,62}\Z")
_LABEL = re.compile(r"[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?\Z")
_MASK = re.compile(r"[0-9]{1,3}\Z")
_ALLOWED = re.compile(r"[\x20-\x7e\t]*\Z")  # printable ASCII and tabs, nothing that ends or splits a line
_BLANKS = " \t\r"  # what PostgreSQL takes for blanks between fields


def _name_problem(value: str) -> str:
    if not _NAME.match(value):
        return "%r is not a name (1 to 63 of A-Z a-z 0-9 _ . $ -, not starting with . $ or -)" % value
    return ""


def _list_problem(field: str, value: str, member) -> str:
    if value == "":
        return "%s is empty" % field
    for item in value.split(","):
        problem = member(item) if item else "%r has an empty item in its comma list" % value
        if problem:
            return "%s %s" % (field, problem)
    return ""


def database_problem(value: str) -> str:
    """Why ``value`` is not a database field of a rule; "" when it is one."""
    return _list_problem("database", value, lambda item: "" if item in DATABASE_KEYWORDS else _name_problem(item))


def user_problem(value: str) -> str:
    """Why ``value`` is not a user field of a rule; "" when it is one."""
    return _list_problem(
        "user", value, lambda item: "" if item == "all" else _name_problem(item[1:] if item[:1] == "+" else item)
    )


def address_problem(value: str) -> str:
    """Why ``value`` is not an address field of a rule; "" when it is one."""
    if value in ADDRESS_KEYWORDS:
        return ""
    if "/" in value:
        address, _slash, mask = value.partition("/")
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return "address %r is not an IP address with a CIDR mask (%r is no IP address)" % (value, address)
        if not _MASK.match(mask) or int(mask) > ip.max_prefixlen:
            return "address %r has no CIDR mask of 0 to %d bits" % (value, ip.max_prefixlen)
        return ""
    try:
        ipaddress.ip_address(value)
    except ValueError:
        pass
    else:
        return "address %r needs a CIDR mask, e.g. %s/%d" % (value, value, 32 if "." in value else 128)
    try:
        socket.inet_aton(value)  # what the C library would read as an IPv4 address ("10.1", "0x7f000001")
    except OSError:
        pass
    else:
        return "address %r reads as an IPv4 address; write it as an address with a CIDR mask" % value
    labels = (value[1:] if value.startswith(".") else value).split(".")
    if len(value) > 254 or not all(_LABEL.match(label) for label in labels) or labels[-1].isdigit():
        return (
            "address %r is none of: an IP address with a CIDR mask, all, samehost, samenet, a host name "
            "(or .domain)" % value
        )
    return ""


def options_problem(options: list) -> str:
    """Why the options after ``cert`` are not what the role supports; "" when they are."""
    seen = set()
    for option in options:
        name, equals, value = option.partition("=")
        if option not in FIXED_OPTIONS and not (name == "map" and equals and not _name_problem(value)):
            return "option %r is not one of %s, map=<name>" % (option, ", ".join(FIXED_OPTIONS))
        if name in seen:
            return "option %s is given twice" % name
        seen.add(name)
    return ""


def _character_problem(line: str, comment: bool) -> str:
    if not _ALLOWED.match(line):
        bad = next(c for c in line if not _ALLOWED.match(c))
        return "holds the character %s; only printable ASCII is written into pg_hba.conf" % ascii(bad)
    for char, why in (('"', "quotes"), ("\\", "continues a line"), ("#", "starts a comment")):
        if char in line and not (comment and char == "#"):
            return "holds %r (%s); no field may hold it" % (char, why)
    return ""


def rule_problem(line: str) -> str:
    """Why ``line`` (one line, no line break) is not a rule this collection may write; "" when it is one."""
    problem = _character_problem(line, comment=False)
    if problem:
        return problem
    fields = line.split()
    if not fields or fields[0] != "hostssl":
        return "is not %s: it starts with %r" % (SHAPE, fields[0] if fields else line)
    if len(fields) < 5 or fields[4] != "cert":
        return "is not %s: the method field (5th) is %r, not cert (a field holding a space shifts the others)" % (
            SHAPE,
            fields[4] if len(fields) >= 5 else "missing",
        )
    return (
        database_problem(fields[1])
        or user_problem(fields[2])
        or address_problem(fields[3])
        or options_problem(fields[5:])
    )


def _is_comment_or_blank(line: str) -> bool:
    stripped = line.strip(_BLANKS)
    return not stripped or stripped.startswith("#")


def check_block(content) -> None:
    """Refuse a managed block holding anything but ``hostssl ... cert`` rules, comments and blank lines."""
    if not isinstance(content, str):
        raise CertError("%s is required with pg_hba_conf: the %s rules to keep at the top of it" % (OPTION, SHAPE))
    for number, line in enumerate(content.rstrip("\n").split("\n"), 1):
        problem = _character_problem(line, comment=True) if _is_comment_or_blank(line) else rule_problem(line)
        if problem:
            raise CertError("%s: %r (line %d of the block) %s; nothing was changed" % (OPTION, line, number, problem))


def is_rule(line: str) -> bool:
    """A line of pg_hba.conf that PostgreSQL reads as (part of) a rule: it must come after the managed block."""
    return not _is_comment_or_blank(line)


def is_own(line: str) -> bool:
    """A line inside the markers that this collection's template writes (or wrote): replaced, never kept.

    Any other line found there (a ``host``/``local`` rule, a rule of another method) is a user's, and the block
    is refused rather than those lines deleted."""
    if _is_comment_or_blank(line):
        return True
    fields = line.split()
    return fields[0] == "hostssl" and "cert" in fields[4:]


SYNTAX = Syntax(check_content=check_block, is_rule=is_rule, is_own=is_own)
