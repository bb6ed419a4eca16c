"""The pg_hba.conf guard (module_utils/_pg_mtls/pg_hba.py, config_blocks.py): only ``hostssl ... cert`` rules are written,
the managed block always precedes the user's rules, and markers out of order or around a user's lines stop the run
with nothing changed."""

from __future__ import annotations

import pytest

from ansible_collections.certkeeper.pki.plugins.module_utils._core.config_blocks import plan_block, with_block
from ansible_collections.certkeeper.pki.plugins.module_utils._core.errors import CertError
from ansible_collections.certkeeper.pki.plugins.module_utils._core.files import read_state
from ansible_collections.certkeeper.pki.plugins.module_utils._pg_mtls import pg_hba
from ansible_collections.certkeeper.pki.plugins.module_utils._pg_mtls.run import _config_plan

HEADER = "# Certificate-authenticated TLS only; these rules match before the rules below this block."
BEGIN = "# BEGIN certkeeper.pki pg_mtls (managed: edits inside this block are replaced)"
END = "# END certkeeper.pki pg_mtls"


def rule(database="all", user="all", address="127.0.0.1/32", options="clientcert=verify-full"):
    """The line roles/pg_mtls/templates/pg_hba_mtls.conf.j2 renders for one item of pg_mtls_hba_rules."""
    return "hostssl %s %s %s cert %s" % (database, user, address, options)


def block(*rules):
    return "\n".join([HEADER, *rules]) + "\n"


VALID = [
    rule(),
    rule(options=""),
    rule(address="0.0.0.0/0"),
    rule(address="::/0"),
    rule(address="::1/128"),
    rule(address="10.0.0.5/8"),
    rule(address="fd00:1::/64"),
    rule(address="all"),
    rule(address="samehost"),
    rule(address="samenet"),
    rule(address="db1.example.com"),
    rule(address=".example.com"),
    rule(address="localhost"),
    rule(database="sameuser"),
    rule(database="samerole"),
    rule(database="replication"),
    rule(database="app,reports,Sales_2024"),
    rule(user="+readers"),
    rule(user="app1,app2,+ops"),
    rule(user="svc.app-1$"),
    rule(options="clientcert=verify-full map=certmap"),
    rule(options="clientname=DN map=dn_map"),
    rule(options="clientname=CN"),
    "hostssl\tall\tall\t127.0.0.1/32\tcert",
]


@pytest.mark.parametrize("line", VALID)
def test_rules_postgresql_accepts_with_cert_pass(line):
    assert pg_hba.rule_problem(line) == ""
    pg_hba.check_block(block(line))


# (the value given to the role, the line it renders, words the refusal must hold)
INJECTIONS = [
    ("address 127.0.0.1/32 trust #", rule(address="127.0.0.1/32 trust #"), "'#'"),
    ("address with trust, no #", rule(address="127.0.0.1/32 trust"), "the method field (5th) is 'trust'"),
    ("user 'all trust'", rule(user="all trust"), "the method field (5th) is '127.0.0.1/32'"),
    ("user with a method", rule(user="all 127.0.0.1/32 trust"), "the method field (5th) is 'trust'"),
    ("database password", rule(database="all all 0.0.0.0/0 password"), "the method field (5th) is 'password'"),
    ("options: method after cert", rule(options="trust"), "option 'trust' is not one of"),
    ("options: verify-ca", rule(options="clientcert=verify-ca"), "option 'clientcert=verify-ca'"),
    ("options: no-verify", rule(options="clientcert=no-verify"), "option 'clientcert=no-verify'"),
    ("options: twice", rule(options="map=a map=b"), "option map is given twice"),
    ("options: empty map", rule(options="map="), "option 'map='"),
    ("options: quoted", rule(options='map="a b"'), "'\"'"),
    ("options: continuation", rule(options="clientcert=verify-full \\"), "continues a line"),
    ("a vertical tab", rule(address="127.0.0.1/32\x0bhost"), "the character '\\x0b'"),
    ("a carriage return", rule(options="clientcert=verify-full\rhost all all 0/0 trust"), "'\\r'"),
    ("a unicode line separator", rule(address="127.0.0.1/32\u2028host"), "'\\u2028'"),
    ("a non-ASCII name", rule(user="jörg"), "'\\xf6'"),
    ("@file", rule(user="@admins"), "user '@admins' is not a name"),
    ("a regular expression", rule(database="/^db"), "database '/^db' is not a name"),
    ("an empty list item", rule(database="a,,b"), "empty item"),
    ("a name too long", rule(user="u" * 64), "is not a name"),
    ("an address without mask", rule(address="127.0.0.1"), "needs a CIDR mask, e.g. 127.0.0.1/32"),
    ("an IPv6 without mask", rule(address="::1"), "needs a CIDR mask, e.g. ::1/128"),
    ("a netmask after /", rule(address="10.0.0.0/255.0.0.0"), "no CIDR mask of 0 to 32 bits"),
    ("a mask too wide", rule(address="10.0.0.0/33"), "no CIDR mask of 0 to 32 bits"),
    ("a mask too wide v6", rule(address="::/129"), "no CIDR mask of 0 to 128 bits"),
    ("no IP before /", rule(address="db1/24"), "is no IP address"),
    ("a short IPv4", rule(address="10.1"), "reads as an IPv4 address"),
    ("a hex IPv4", rule(address="0x7f000001"), "reads as an IPv4 address"),
    ("a hyphen host", rule(address="-db1"), "is none of"),
    ("a separate mask column", "hostssl all all 10.0.0.0 255.0.0.0 cert", "the method field (5th) is '255.0.0.0'"),
    ("a host rule", "host all all 127.0.0.1/32 trust", "it starts with 'host'"),
    ("a local rule", "local all all trust", "it starts with 'local'"),
    ("a hostnossl rule", "hostnossl all all 0.0.0.0/0 cert", "it starts with 'hostnossl'"),
    ("a short rule", "hostssl all all", "the method field (5th) is 'missing'"),
    ("password method", "hostssl all all 0.0.0.0/0 password", "the method field (5th) is 'password'"),
    ("an include", "include_dir conf.d", "it starts with 'include_dir'"),
]


@pytest.mark.parametrize("case, line, words", INJECTIONS, ids=[c[0] for c in INJECTIONS])
def test_every_other_line_is_refused_naming_the_option_and_the_value(case, line, words):
    with pytest.raises(CertError) as refused:
        pg_hba.check_block(block(line))
    message = str(refused.value)
    assert message.startswith("pg_hba_block: ") and words in message, message
    assert repr(line) in message and "(line 2 of the block)" in message


def test_a_newline_in_a_field_is_a_second_line_and_that_line_is_refused():
    content = block(rule(options="clientcert=verify-full\nhost all all 127.0.0.1/32 trust"))
    with pytest.raises(CertError, match=r"pg_hba_block: 'host all all 127.0.0.1/32 trust' \(line 3 of the block\)"):
        pg_hba.check_block(content)


def test_comments_may_not_continue_or_quote_and_blank_lines_pass():
    pg_hba.check_block(block("", "# a note", "   ", rule()))
    with pytest.raises(CertError, match="continues a line"):
        pg_hba.check_block(block("# note \\", rule()))
    with pytest.raises(CertError, match="required with pg_hba_conf"):
        pg_hba.check_block(None)


def test_the_module_refuses_the_block_before_reading_the_file(tmp_path):
    hba = tmp_path / "pg_hba.conf"
    hba.write_text("local all all trust\n")
    params = {"pg_hba_conf": str(hba), "pg_hba_block": block(rule(address="127.0.0.1/32 trust #"))}
    with pytest.raises(CertError, match=r"^pg_hba_block: "):
        _config_plan(params)
    assert hba.read_text() == "local all all trust\n"
    with pytest.raises(CertError, match=r"^pg_hba_block: "):  # even where the file is missing
        _config_plan(dict(params, pg_hba_conf=str(tmp_path / "none" / "pg_hba.conf")))


def test_postgresql_conf_blocks_are_not_pg_hba_rules(tmp_path):
    conf = tmp_path / "postgresql.conf"
    conf.write_text("port = 5432\n")
    changes = _config_plan({"postgresql_conf": str(conf), "postgresql_conf_block": "ssl = on\n"}).changes
    assert [c.reason for c in changes] == ["add the certkeeper.pki block"]


# placement ------------------------------------------------------------------------------------------------------

MANAGED = block(rule())


def managed(text=MANAGED):
    return [BEGIN, *text.rstrip("\n").split("\n"), END]


def hba_file(tmp_path, *lines):
    path = tmp_path / "pg_hba.conf"
    path.write_text("\n".join(lines) + "\n")
    return path


def plan(path, content=MANAGED):
    return plan_block(read_state(str(path)), "pg_mtls", content, "first", "pg_hba.conf", pg_hba.SYNTAX)


def test_a_block_below_a_user_rule_moves_above_every_rule(tmp_path):
    path = hba_file(tmp_path, "# mine", "host all all 127.0.0.1/32 trust", *managed(), "local all all peer")
    change = plan(path)
    assert change.reason == "move the certkeeper.pki block above the first rule (line 2)"
    lines = change.data.decode().splitlines()
    assert lines == [*managed(), "# mine", "host all all 127.0.0.1/32 trust", "local all all peer"]
    # --diff says where the block was and where it goes, and shows the block only
    assert change.before.startswith("# (lines 3-6, below the rule on line 2)\n" + BEGIN)
    assert change.after.startswith("# (lines 1-4, above every rule)\n" + BEGIN)
    assert "trust" not in change.before + change.after
    path.write_bytes(change.data)
    assert plan(path) is None  # and there it stays


def test_a_block_below_a_rule_with_other_content_moves_and_updates(tmp_path):
    path = hba_file(tmp_path, "local all all peer", *managed(block(rule(address="10.0.0.0/8"))))
    change = plan(path)
    assert change.reason == "move the certkeeper.pki block above the first rule (line 1) and update it"
    assert change.data.decode().splitlines() == [*managed(), "local all all peer"]


def test_a_block_below_comments_only_stays_where_it_is(tmp_path):
    path = hba_file(tmp_path, "# PostgreSQL Client Authentication Configuration File", "", *managed(), "local all all peer")
    assert plan(path) is None


def test_the_users_bytes_outside_the_block_are_kept(tmp_path):
    path = tmp_path / "pg_hba.conf"
    user = b"local all all peer\r\n# caf\xe9 \x0c\nhost all all 10.0.0.0/8 scram-sha-256"  # CRLF, latin-1, no final LF
    path.write_bytes(user)
    change = plan(path)
    assert change.data == ("\n".join(managed()) + "\n").encode() + user + b"\n"


@pytest.mark.parametrize(
    "lines, problem",
    [
        ([BEGIN, "local all all peer"], "BEGIN on line 1 has no END (marker lines: 1)"),
        (["local all all peer", END, BEGIN, END], "END on line 2 without a BEGIN before it (marker lines: 2, 3, 4)"),
        ([BEGIN, rule(), BEGIN, END, END], "BEGIN on line 3 inside the block opened on line 1 (marker lines: 1, 3, 4, 5)"),
        ([BEGIN, END, "local all all peer", BEGIN, END], "a second BEGIN on line 4 after the block of lines 1-2"),
        (["local all all peer", END], "END on line 2 without a BEGIN before it"),
        (["#BEGIN certkeeper.pki pg_mtls", "local all all peer"], "BEGIN on line 1 has no END"),  # a hand-cut marker
    ],
)
def test_markers_out_of_order_fail_naming_the_file_and_lines(tmp_path, lines, problem):
    path = hba_file(tmp_path, *lines)
    with pytest.raises(CertError) as refused:
        plan(path)
    message = str(refused.value)
    assert message.startswith("pg_hba.conf %s: the certkeeper.pki markers of block 'pg_mtls' are damaged: " % path)
    assert problem in message and message.endswith("nothing was changed"), message


def test_a_stray_marker_pair_around_user_rules_fails_instead_of_deleting_them(tmp_path):
    path = hba_file(tmp_path, "# mine", BEGIN, "host all all 10.0.0.0/8 scram-sha-256", rule(), END, "local all all peer")
    with pytest.raises(CertError) as refused:
        plan(path)
    message = str(refused.value)
    assert "lines 2-5 between the certkeeper.pki markers hold lines this collection does not write" in message
    assert "(line 3: 'host all all 10.0.0.0/8 scram-sha-256')" in message, message


@pytest.mark.parametrize("inside", ["hostssl all all 10.0.0.0/8 scram-sha-256", "local all all trust"])
def test_any_rule_but_hostssl_cert_inside_the_markers_is_the_users(tmp_path, inside):
    path = hba_file(tmp_path, BEGIN, inside, END)
    with pytest.raises(CertError, match="line 2: %r" % inside):
        plan(path)


def test_what_an_earlier_version_wrote_inside_the_markers_is_replaced(tmp_path):
    # before the guard a value could write this line into the block; the block is the collection's: replaced
    earlier = rule(address="127.0.0.1/32 trust #")
    path = hba_file(tmp_path, BEGIN, HEADER, earlier, END, "local all all peer")
    change = plan(path)
    assert change.reason == "update the certkeeper.pki block"
    assert earlier not in change.data.decode() and change.data.decode().splitlines()[2] == rule()


def test_content_holding_a_marker_is_refused():
    with pytest.raises(CertError, match=r"holds a certkeeper\.pki marker line"):
        with_block("", "pg_mtls", "ssl = on\n" + END + "\n", "last")


def test_postgresql_conf_keeps_its_place_last_and_its_lines():
    conf = "port = 5432\n" + "\n".join(managed("ssl = on\n")) + "\nssl = off\n"
    assert with_block(conf, "pg_mtls", "ssl = on\n", "last") == conf  # no rules syntax: never moved
