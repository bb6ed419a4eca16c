# -*- coding: utf-8 -*-
# Copyright (c) certkeeper.pki contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""This collection's module_utils as the controller holds them: the code the certkeeper command bundles and
the code the pg_mtls_certs action plugin sends to a host (with the digests it compares a stamp's with)."""

from __future__ import annotations

import importlib.util
import io
import marshal
import os
import zipfile

MODULE_UTILS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "module_utils")
PACKAGE = "ansible_collections.certkeeper.pki.plugins.module_utils"
_EPOCH = (1980, 1, 1, 0, 0, 0)  # fixed timestamps: the same sources give the same bytes
_HASH_BASED_UNCHECKED = (0b01).to_bytes(4, "little")  # PEP 552 flags: hash-based, source not checked


def module_utils_sources() -> dict:
    """``{path: bytes}`` of every module_utils ``*.py``, by path below module_utils (``_core/crypto.py``), in
    path order: the names a stamp gives the code that verified it."""
    sources = {}
    for directory, folders, names in os.walk(MODULE_UTILS):
        folders[:] = [folder for folder in folders if folder != "__pycache__"]
        for name in names:
            if name.endswith(".py"):
                path = os.path.join(directory, name)
                with open(path, "rb") as handle:
                    sources[os.path.relpath(path, MODULE_UTILS).replace(os.sep, "/")] = handle.read()
    return dict(sorted(sources.items()))


def zip_archive(entries: dict) -> bytes:
    """A deflated zip of ``{archive name: bytes or str}``, reproducible byte for byte."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in entries.items():
            info = zipfile.ZipInfo(name, _EPOCH)
            info.external_attr = 0o644 << 16
            archive.writestr(info, data, zipfile.ZIP_DEFLATED)
    return buffer.getvalue()


def package_archive(sources: dict, compiled: bool = False) -> bytes:
    """The module_utils ``sources`` as a zip to put on ``sys.path``: the package at its collection path, with
    the ``__init__.py`` of every level above it (zipimport finds regular packages only; its subpackages have
    theirs), as a module's payload has it; ``compiled``: each file's .pyc beside it (``pyc``)."""
    entries: dict = {}
    parts = PACKAGE.split(".")
    for depth in range(1, len(parts) + 1):
        entries["/".join(parts[:depth]) + "/__init__.py"] = b""
    directory = PACKAGE.replace(".", "/")
    for name, data in sources.items():
        entries["%s/%s" % (directory, name)] = data
        if compiled:
            entries["%s/%sc" % (directory, name)] = pyc(data, "%s/%s" % (directory, name))
    return zip_archive(entries)


def pyc(source: bytes, path: str) -> bytes:
    """``source`` compiled by this Python (PEP 552: hash-based and unchecked, for the .py beside it in the same
    zip holds the same bytes). Compiling the module_utils is most of what a host spends on a call that works
    before the work itself; a host whose Python is another version sees another magic number and compiles
    the .py, as without it."""
    code = compile(source, path, "exec", dont_inherit=True)
    return (
        importlib.util.MAGIC_NUMBER + _HASH_BASED_UNCHECKED + importlib.util.source_hash(source) + marshal.dumps(code)
    )
