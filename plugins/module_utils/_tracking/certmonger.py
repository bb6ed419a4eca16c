# -*- coding: utf-8 -*-
# Copyright (c) certkeeper.pki contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Adopting what certmonger tracks (``certkeeper adopt-certmonger``): its request and CA files read as certmonger
writes them, each FILE-stored request mapped to a certkeeper request with the same id, files, names, key usage,
commands and auto-renew flag, its CA to a certkeeper CA type. Nothing is re-issued.

certmonger keeps one file per request (``/var/lib/certmonger/requests``) and per CA (``.../cas``): ``key=value``
lines, where a line that starts with a space continues the value before it (as in the PEM blocks it stores)."""

from __future__ import annotations

import grp
import os
import pwd
import stat
from dataclasses import dataclass

from .._core.crypto import CertError
from .._core.files import foreign_problem, ownership_problem, read_state
from .._core.option_specs import ID_PATTERN
from .request import TrackedRequest

DEFAULT_REQUESTS_DIR = "/var/lib/certmonger/requests"
DEFAULT_CAS_DIR = "/var/lib/certmonger/cas"
CERTMONGER_RENEW_BEFORE = 28  # days: certmonger's default renewal window (enroll_ttls)
_SERVER_AUTH, _CLIENT_AUTH = "1.3.6.1.5.5.7.3.1", "1.3.6.1.5.5.7.3.2"
_PROFILE_OF_EKUS = {
    frozenset([_SERVER_AUTH]): "server",
    frozenset([_CLIENT_AUTH]): "client",
    frozenset([_SERVER_AUTH, _CLIENT_AUTH]): "ssl",
}
_KEY_TYPES = {"RSA": "rsa", "EC": "ecdsa", "ECDSA": "ecdsa"}
_SCEP_HELPER = "scep-submit"


def parse_file(text: str) -> dict:
    """certmonger's ``key=value`` lines; a line that starts with a space continues the value before it."""
    fields: dict = {}
    last = None
    for line in text.splitlines():
        if line.startswith(" ") and last is not None:
            fields[last] += "\n" + line[1:]
        elif "=" in line:
            last, value = line.split("=", 1)
            fields[last] = value
    return fields


def _read_directory(directory: str) -> list:
    """(file name, fields, why it is not trusted or "") of each file in ``directory``, in name order; a missing
    directory holds none. The commands in these files run as root once adopted: a directory or a file that is not
    root's alone (whoever can write it would choose them) is refused, as certmonger's own files are root-only."""
    try:
        st = os.stat(directory)
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise CertError("cannot read certmonger's directory %s: %s" % (directory, exc.strerror)) from None
    problem = foreign_problem(st)
    if problem:
        raise CertError(
            "certmonger's directory %s %s: whoever can write it chooses the commands root would run; nothing is "
            "adopted from it" % (directory, problem)
        )
    found = []
    for name in sorted(os.listdir(directory)):
        state = read_state(os.path.join(directory, name))
        if state.data is None or state.error or state.is_directory:
            continue
        # the owner and mode of what was read (through its descriptor), not of what the path names now
        file_problem = ownership_problem(state.attributes.uid, state.attributes.mode)
        distrust = (
            "its file %s %s: whoever can write it chooses the commands root would run" % (state.path, file_problem)
            if file_problem
            else ""
        )
        found.append((name, parse_file(state.data.decode("utf-8", "replace")), distrust))
    return found


@dataclass
class Adoption:
    """One certmonger request and what certkeeper makes of it: ``request``, or why it is not adopted."""

    id: str
    source: str  # the certmonger request file
    ca_name: str
    request: TrackedRequest | None = None
    refusal: str = ""
    mapping: tuple = ()  # (what, from where) lines that say how each setting was taken

    def as_dict(self) -> dict:
        return {
            "id": self.id,
            "source": self.source,
            "ca_name": self.ca_name,
            "adoptable": self.request is not None,
            "refusal": self.refusal,
            "mapping": [list(line) for line in self.mapping],
        }


def certmonger_adoptions(requests_dir: str, cas_dir: str, ids: list | None = None) -> list:
    """The requests of certmonger's ``requests_dir`` (those of ``ids`` when given) and how each is adopted."""
    cas = {fields.get("id"): dict(fields, distrust=distrust) for _name, fields, distrust in _read_directory(cas_dir)}
    adoptions = []
    for name, fields, distrust in _read_directory(requests_dir):
        request_id = fields.get("id", "")
        if ids and request_id not in ids:
            continue
        adoption = Adoption(request_id, os.path.join(requests_dir, name), fields.get("ca_name", ""))
        try:
            if distrust:
                raise CertError(distrust)
            adoption.request, adoption.mapping = _request_of(fields, cas)
        except CertError as exc:
            adoption.refusal = str(exc)
        adoptions.append(adoption)
    return adoptions


def _request_of(fields: dict, cas: dict) -> tuple:
    """(the certkeeper request for a certmonger request, the mapping lines), or CertError saying why it cannot be."""
    request_id = fields.get("id", "")
    if not ID_PATTERN.match(request_id):
        raise CertError("its id %r is not one certkeeper can keep (letters, digits, '_', '.', '@', '-')" % request_id)
    for kind in ("key", "cert"):
        storage = fields.get("%s_storage_type" % kind, "")
        if storage != "FILE":
            raise CertError(
                "its %s is stored in %s (%s_storage_type=%s, %s): certkeeper keeps keys and certificates in files; "
                "export them (pk12util, openssl pkcs12) and track the files with certkeeper start-tracking"
                % (
                    kind,
                    "an NSS database" if storage == "NSSDB" else repr(storage),
                    kind,
                    storage,
                    fields.get("%s_storage_location" % kind, ""),
                )
            )
    ca, ca_mapping = _ca_of(fields.get("ca_name", ""), cas)
    key_path, cert_path = fields["key_storage_location"], fields["cert_storage_location"]
    key_owner, key_group, key_mode = _file_attributes(key_path, "key")
    _owner, _group, cert_mode = _file_attributes(cert_path, "certificate")
    ekus = frozenset(oid for oid in fields.get("template_eku", "").split(",") if oid)
    profile = _PROFILE_OF_EKUS.get(ekus, "signing")
    key_type = _KEY_TYPES.get(fields.get("key_gen_type", "RSA"), "rsa")
    request = TrackedRequest(
        id=request_id,
        cert_path=cert_path,
        key_path=key_path,
        subject=fields.get("template_subject") or fields.get("cert_subject", ""),
        subject_alt_names=["DNS:" + name for name in _list(fields, "template_hostname")]
        + ["IP:" + address for address in _list(fields, "template_ipaddress")],
        profile=profile,
        key_type=key_type,
        key_size=int(fields.get("key_gen_size") or 2048),
        rotate_key=False,  # certmonger renews with the same key (getcert rekey makes a new one)
        renew_before=CERTMONGER_RENEW_BEFORE,
        key_owner=key_owner,
        key_group=key_group,
        key_mode=key_mode,
        cert_mode=cert_mode,
        pre_save_command=fields.get("pre_certsave_command", ""),
        post_save_command=fields.get("post_certsave_command", ""),
        auto_renew=fields.get("autorenew", "1") == "1",
        **ca,
    )
    request.validate()
    mapping = ca_mapping + (
        ("files", "key %s, certificate %s (key_/cert_storage_location)" % (key_path, cert_path)),
        (
            "names",
            "%s, SANs [%s] (template_subject, _hostname, _ipaddress)"
            % (request.subject, ", ".join(request.subject_alt_names)),
        ),
        ("profile", "%s (template_eku %s)" % (profile, ",".join(sorted(ekus)) or "none")),
        (
            "key",
            "%s %d, kept on renewal as certmonger keeps it (key_gen_type, key_gen_size)" % (key_type, request.key_size),
        ),
        (
            "owner and mode",
            "key %s:%s %s, certificate %s (as the files are)" % (key_owner, key_group, key_mode, cert_mode),
        ),
        ("commands", "pre-save %r, post-save %r" % (request.pre_save_command, request.post_save_command)),
        ("auto-renew", "%s (autorenew)" % ("yes" if request.auto_renew else "no")),
    )
    return request, mapping


def _ca_of(ca_name: str, cas: dict) -> tuple:
    """(the request's CA options, the mapping line) for certmonger's CA ``ca_name``."""
    ca = cas.get(ca_name)
    if ca is None:
        raise CertError("its CA %r is not one of certmonger's CAs (getcert list-cas)" % ca_name)
    if ca["distrust"]:
        raise CertError("its CA %r is not trusted: %s" % (ca_name, ca["distrust"]))
    ca_type, helper = ca.get("ca_type", ""), " ".join(ca.get("ca_external_helper", "").split())
    if ca_type == "INTERNAL:SELF":
        return {"ca": "self_sign"}, (("CA", "self_sign (certmonger's %s, INTERNAL:SELF)" % ca_name),)
    if ca_type == "EXTERNAL" and helper:
        if os.path.basename(helper.split()[0]) == _SCEP_HELPER:
            raise CertError(
                "not adopted: its CA %r is a SCEP CA (%s), whose certificates a person must compare first; add it with "
                "certkeeper add-scep-ca and track the files with certkeeper start-tracking -c scep --scep-ca NAME "
                "(certmonger keeps tracking it until then)" % (ca_name, helper)
            )
        return {"ca": "helper", "helper": helper}, (("CA", "helper %s (certmonger's %s)" % (helper, ca_name)),)
    raise CertError("its CA %r has a type certkeeper cannot use (ca_type=%s)" % (ca_name, ca_type or "none"))


def _list(fields: dict, name: str) -> list:
    return [value.strip() for value in fields.get(name, "").split(",") if value.strip()]


def _file_attributes(path: str, what: str) -> tuple:
    """(owner, group, mode) of ``path`` as it is: renewals keep what certmonger left."""
    try:
        st = os.lstat(path)
    except OSError as exc:
        raise CertError("its %s %s cannot be read: %s" % (what, path, exc.strerror)) from None
    if not stat.S_ISREG(st.st_mode):
        raise CertError("its %s %s is not a regular file" % (what, path))
    try:
        owner, group = pwd.getpwuid(st.st_uid).pw_name, grp.getgrgid(st.st_gid).gr_name
    except KeyError:
        owner, group = str(st.st_uid), str(st.st_gid)
    return owner, group, "%04o" % stat.S_IMODE(st.st_mode)
