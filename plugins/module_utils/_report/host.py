# -*- coding: utf-8 -*-
# Copyright (c) certkeeper.pki contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What one host holds, for the fleet report (the cert_report_info module): every tracked request and CRL of its
store, the CA certificates those records name, and the certificates in files under the paths the user lists.

Read-only. A private key is never read into the report: files named ``*.key`` are not opened, and of any other file
only its CERTIFICATE blocks (or the whole file as DER) are parsed; a file that is not a certificate becomes a row with
its error, never with its content."""

from __future__ import annotations

import os
import re

from .._core import crypto
from .._core.crypto import CertError
from .._core.facts import certificate_facts
from .._core.files import check_absolute_path, read_state
from .._tracking.crl import TrackedCRL, describe_crl
from .._tracking.listing import describe_request
from .._tracking.store import Store

CERTIFICATE_SUFFIXES = (".crt", ".pem", ".cer", ".cert", ".der")
MAX_FILE_BYTES = 1024 * 1024  # a certificate bundle is far smaller; anything larger is not read
MAX_FILES_PER_PATH = 2000
_PEM_CERTIFICATE = re.compile(rb"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", re.DOTALL)


def run_cert_report_info(params: dict, check_mode: bool) -> dict:
    """The cert_report_info module's work (read-only: check mode changes nothing)."""
    return dict(host_report(params["store"], params["paths"]), changed=False)


def host_report(store_dir: str, paths: list) -> dict:
    """Rows of the host's certificates (``source`` tracked, ca or file) and of its tracked CRLs, and when the timer last
    went through its store (``last_check``)."""
    for index, path in enumerate(paths):
        check_absolute_path(path, "paths[%d]" % index)
    store = Store(store_dir)
    requests, tracked_crls = store.all(), store.all(TrackedCRL)  # each record read once, for its row and its CA
    certificates = [_tracked_row(describe_request(request)) for request in requests]
    crls = [describe_crl(record) for record in tracked_crls]
    seen = {row["path"] for row in certificates}
    for path in _ca_paths(requests + tracked_crls):
        if path not in seen:
            seen.add(path)
            certificates += _file_rows(path, "ca")
    for path in paths:
        for found in _certificate_files(path):
            if found not in seen:
                seen.add(found)
                certificates += _file_rows(found, "file")
    return {"last_check": store.last_check(), "certificates": certificates, "crls": crls}


def _tracked_row(item: dict) -> dict:
    return _row(
        "tracked",
        item["cert_location"],
        item["certificate"],
        id=item["request_id"],
        status=item["status"],
        stuck=item["stuck"],
        ca=item["ca"],
        renew_at=item["renew_at"],
        last_attempt=item["last_attempt"],
        last_renewed=item["last_renewed"],
        last_error=item["last_error"],
        outputs=[output["path"] for output in item["outputs"]],
        error="" if item["certificate"] else "no certificate to read at %s" % item["cert_location"],
    )


def _row(source: str, path: str, facts: dict | None, **fields) -> dict:
    row = dict(
        source=source,
        path=path,
        id="",
        status="",
        stuck=False,
        ca="",
        renew_at="",
        last_attempt="",
        last_renewed="",
        last_error="",
        outputs=[],
        error="",
        certificate=facts,
    )
    row.update(fields)
    return row


def _ca_paths(records: list) -> list:
    """The CA certificates the store's records name: a request's chain and local CA, a CRL's CA (an unreadable
    record names none)."""
    paths = {getattr(record, name, "") for record in records for name in ("chain_path", "ca_cert_path")}
    return sorted(path for path in paths if path)


def _certificate_files(path: str) -> list:
    """``path`` itself when it is a file, else the certificate files under it (by suffix, no link followed)."""
    if not os.path.isdir(path) or os.path.islink(path):
        return [path]
    found = []
    for directory, subdirectories, names in os.walk(path):
        subdirectories.sort()
        for name in sorted(names):
            if name.endswith(CERTIFICATE_SUFFIXES) and not os.path.islink(os.path.join(directory, name)):
                found.append(os.path.join(directory, name))
                if len(found) >= MAX_FILES_PER_PATH:
                    return found
    return found


def _file_rows(path: str, source: str) -> list:
    """One row per certificate in the file (a bundle gives several), or one row with the error."""
    if path.endswith(".key"):
        return [_row(source, path, None, error="a key file: not read")]
    state = read_state(path)
    if state.data is None or state.error or state.is_directory:
        return [_row(source, path, None, error=state.error or ("a directory" if state.is_directory else "missing"))]
    if len(state.data) > MAX_FILE_BYTES:
        return [_row(source, path, None, error="larger than %d bytes: not read" % MAX_FILE_BYTES)]
    blocks = _PEM_CERTIFICATE.findall(state.data)
    try:
        if blocks:
            return [_row(source, path, certificate_facts(crypto.load_certificate(block))) for block in blocks]
        if b"-----BEGIN" in state.data:  # PEM, but no certificate in it (a key, a CSR, a CRL)
            raise CertError("no certificate in it")
        return [_row(source, path, certificate_facts(crypto.load_certificate(state.data)))]
    except CertError as exc:
        return [_row(source, path, None, error="not a certificate (PEM or DER): %s" % exc)]
