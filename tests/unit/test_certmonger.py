"""certmonger's request and CA files as certkeeper reads them (adopt-certmonger): the key=value format with its
continuation lines, and how a request maps. Real files; the daemon itself is in test_certmonger_adoption."""

from __future__ import annotations

import datetime
import os

import pytest

from ansible_collections.certkeeper.pki.plugins.module_utils._core.crypto import CertError
from ansible_collections.certkeeper.pki.plugins.module_utils._tracking.certmonger import (
    certmonger_adoptions,
    parse_file,
)
from tests.support.certificates import certificate_file

LOCAL_CA = "id=local\nca_type=EXTERNAL\nca_external_helper=/usr/lib/certmonger/local-submit\nca_root_certs=Local\n"


def test_a_line_that_starts_with_a_space_continues_the_value_before_it():
    fields = parse_file("id=web\ncert=-----BEGIN CERTIFICATE-----\n MIIB\n -----END CERTIFICATE-----\n \n"
                        "template_subject=CN=web,\n O=Example\npost_certsave_command=systemctl reload nginx\n")
    assert fields["cert"] == "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
    assert fields["template_subject"] == "CN=web,\nO=Example"
    assert fields["post_certsave_command"] == "systemctl reload nginx"  # the key after a PEM block is read


@pytest.fixture
def certmonger_dirs(tmp_path):
    requests, cas = tmp_path / "requests", tmp_path / "cas"
    requests.mkdir()
    cas.mkdir()
    (cas / "20260101000000").write_text(LOCAL_CA)
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate_file(str(tmp_path / "web.crt"), "web", now, now + datetime.timedelta(days=90))
    (tmp_path / "web.key").write_text("key")
    os.chmod(tmp_path / "web.key", 0o640)
    return tmp_path


def request_text(tmp_path, **fields) -> str:
    base = dict(id="web", key_storage_type="FILE", key_storage_location=str(tmp_path / "web.key"),
                cert_storage_type="FILE", cert_storage_location=str(tmp_path / "web.crt"), ca_name="local",
                template_subject="CN=web", key_gen_type="EC", key_gen_size="256",
                template_eku="1.3.6.1.5.5.7.3.1,1.3.6.1.5.5.7.3.2", autorenew="0")
    base.update(fields)
    return "".join("%s=%s\n" % item for item in base.items())


def test_a_file_request_maps_with_its_key_profile_and_files_as_they_are(certmonger_dirs):
    (certmonger_dirs / "requests" / "1").write_text(request_text(certmonger_dirs))
    (adoption,) = certmonger_adoptions(str(certmonger_dirs / "requests"), str(certmonger_dirs / "cas"))
    request = adoption.request
    assert (request.ca, request.helper, request.profile) == ("helper", "/usr/lib/certmonger/local-submit", "ssl")
    assert (request.key_type, request.key_size, request.rotate_key, request.auto_renew) == ("ecdsa", 256, False, False)
    assert (request.key_owner, request.key_group, request.key_mode) == ("root", "root", "0640")


@pytest.mark.parametrize("fields, refusal", [
    (dict(id="bad id!"), "its id 'bad id!' is not one certkeeper can keep"),
    (dict(cert_storage_type="NSSDB", cert_storage_location="/etc/pki/nssdb"),
     "its cert is stored in an NSS database (cert_storage_type=NSSDB, /etc/pki/nssdb)"),
    (dict(ca_name="nope"), "its CA 'nope' is not one of certmonger's CAs"),
    (dict(key_storage_location="/nonexistent/web.key"), "its key /nonexistent/web.key cannot be read"),
])
def test_what_cannot_be_adopted_says_why(certmonger_dirs, fields, refusal):
    (certmonger_dirs / "requests" / "1").write_text(request_text(certmonger_dirs, **fields))
    (adoption,) = certmonger_adoptions(str(certmonger_dirs / "requests"), str(certmonger_dirs / "cas"))
    assert adoption.request is None and adoption.refusal.startswith(refusal), adoption.refusal


def test_only_the_ids_asked_for_and_missing_directories_hold_nothing(certmonger_dirs):
    (certmonger_dirs / "requests" / "1").write_text(request_text(certmonger_dirs))
    (certmonger_dirs / "requests" / "2").write_text(request_text(certmonger_dirs, id="other"))
    assert [a.id for a in certmonger_adoptions(str(certmonger_dirs / "requests"), str(certmonger_dirs / "cas"),
                                               ["other"])] == ["other"]
    assert certmonger_adoptions(str(certmonger_dirs / "none"), str(certmonger_dirs / "cas")) == []


@pytest.mark.parametrize("where", ["request", "ca"])
def test_a_file_someone_else_can_write_is_never_adopted(certmonger_dirs, where):
    """Its commands would run as root: a request or CA file others can write (or that is not root's) is refused."""
    request = certmonger_dirs / "requests" / "1"
    request.write_text(request_text(certmonger_dirs, post_certsave_command="chmod u+s /bin/sh"))
    target = request if where == "request" else certmonger_dirs / "cas" / "20260101000000"
    os.chmod(target, 0o666)
    (adoption,) = certmonger_adoptions(str(certmonger_dirs / "requests"), str(certmonger_dirs / "cas"))
    assert adoption.request is None and "is writable by its group and others" in adoption.refusal, adoption.refusal
    os.chmod(target, 0o644)
    os.chown(target, 65534, 65534)
    (adoption,) = certmonger_adoptions(str(certmonger_dirs / "requests"), str(certmonger_dirs / "cas"))
    assert adoption.request is None and "is not root's" in adoption.refusal


def test_a_certmonger_directory_others_can_write_is_refused_whole(certmonger_dirs):
    os.chmod(certmonger_dirs / "requests", 0o777)
    with pytest.raises(CertError, match=r"certmonger's directory .*requests is writable by its group and others"):
        certmonger_adoptions(str(certmonger_dirs / "requests"), str(certmonger_dirs / "cas"))
