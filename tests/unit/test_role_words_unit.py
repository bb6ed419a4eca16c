"""plugin_utils/role_words: a module's message in the words of the role that called it."""

from __future__ import annotations

import pytest

from ansible_collections.certkeeper.pki.plugins.plugin_utils.role_words import in_role_words, result_in_role_words

WORDS = {"host": "db1", "variables": {"subject_alt_names": "pg_mtls_server_sans", "common_name": "pg_mtls_server_cn",
                                      "ca_common_name": "pg_mtls_ca_cn", "path": "pg_mtls_ssl_dir",
                                      "key_size": "pg_mtls_key_size", "ca": "cert_track_requests[0].ca"}}


@pytest.mark.parametrize("message, expected", [
    ("subject_alt_names: 'IP:999.1.1.1' is not a valid IP address",
     "pg_mtls_server_sans: 'IP:999.1.1.1' is not a valid IP address (host db1)"),
    ("ca_common_name must be a non-empty string", "pg_mtls_ca_cn must be a non-empty string (host db1)"),
    # a one-word option is replaced where a message starts with it, not where it is a word of prose
    ("path must be an absolute path, got 'x'", "pg_mtls_ssl_dir must be an absolute path, got 'x' (host db1)"),
    ("the path is wrong", "the path is wrong"),
    # AnsibleModule's own phrasings
    ("value of ca must be one of: local, helper, got: x",
     "value of cert_track_requests[0].ca must be one of: local, helper, got: x (host db1)"),
    ("argument 'key_size' is of type <class 'str'>", "argument 'pg_mtls_key_size' is of type <class 'str'> (host db1)"),
    # a value quoted in the message stays as the user wrote it
    ("CN 'common_name' is too long", "CN 'common_name' is too long"),
    ("sign[app1].common_name must be", "sign[app1].common_name must be"),
])
def test_options_become_role_variables_and_values_stay(message, expected):
    assert in_role_words(message, WORDS) == expected


def test_outside_a_role_nothing_changes():
    result = {"msg": "subject_alt_names: bad", "warnings": ["key_size x"]}
    assert result_in_role_words(result, None) == result
    assert in_role_words("subject_alt_names: bad", {"host": "h", "variables": {}}) == "subject_alt_names: bad"


def test_message_warnings_reasons_and_diff_headers_are_rewritten():
    result = result_in_role_words({"msg": "common_name must be", "warnings": ["key_size 1024"],
                                   "changes": [{"path": "/x", "reason": "subject_alt_names changed"}],
                                   "diff": [{"before_header": "/x", "after_header": "/x (subject_alt_names changed)"}]},
                                  WORDS)
    assert result["msg"] == "pg_mtls_server_cn must be (host db1)"
    assert result["warnings"] == ["pg_mtls_key_size 1024 (host db1)"]
    assert result["changes"][0]["reason"] == "pg_mtls_server_sans changed (host db1)"
    assert result["diff"][0] == {"before_header": "/x", "after_header": "/x (pg_mtls_server_sans changed) (host db1)"}


def test_a_path_that_holds_an_option_name_and_prose_with_apostrophes_stay_right():
    words = {"host": "db1", "variables": {"ca_path": "pg_mtls_ca_dir", "key_type": "pg_mtls_key_type"}}
    assert in_role_words("cannot read /srv/ca_path/root.crt", words) == "cannot read /srv/ca_path/root.crt"
    assert in_role_words("the host's key_type differs from the CA's", words) == (
        "the host's pg_mtls_key_type differs from the CA's (host db1)")
