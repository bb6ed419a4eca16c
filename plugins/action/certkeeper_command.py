# -*- coding: utf-8 -*-
# Copyright (c) certkeeper.pki contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Install the certkeeper command: this collection's module_utils as one executable zipapp.

One file, one transfer, byte-for-byte reproducible (so a rerun changes nothing), and the very code the
modules run: the command and the modules are one implementation."""

from __future__ import annotations

import os
import shutil
import tempfile

from ansible import constants as C
from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

from ansible_collections.certkeeper.pki.plugins.plugin_utils import ansible_core
from ansible_collections.certkeeper.pki.plugins.plugin_utils.module_utils_files import module_utils_sources, zip_archive

PACKAGE = "certkeeper_pki"
MAIN = "import sys\n\nfrom certkeeper_pki._host.cli import main\n\nsys.exit(main())\n"


def build_zipapp(python: str) -> bytes:
    """``#!python -I`` then a zip of the module_utils as package certkeeper_pki and __main__.py, as ``python -m zipapp`` lays it out.

    ``-I`` (isolated): root's renewal never imports from PYTHONPATH, the user site or the working
    directory, so no environment variable or planted module chooses the code it runs."""
    sources = module_utils_sources()
    entries = {"%s/%s" % (PACKAGE, name): data for name, data in sources.items()}
    if "__init__.py" not in sources:  # module_utils is a namespace package; the zipapp needs a real one
        entries[PACKAGE + "/__init__.py"] = b""
    entries["__main__.py"] = MAIN
    return b"#!" + python.encode() + b" -I\n" + zip_archive(entries)


class ActionModule(ActionBase):
    TRANSFERS_FILES = True
    _VALID_ARGS = frozenset(("dest", "python"))

    def run(self, tmp=None, task_vars=None):
        super().run(tmp, task_vars)
        dest, python = self._task.args.get("dest"), self._task.args.get("python") or "/usr/bin/python3"
        if not dest:
            raise AnsibleActionFail(
                "dest is required: where the certkeeper command goes, e.g. /usr/local/sbin/certkeeper"
            )
        if not os.path.isabs(python) or any(c.isspace() for c in python):
            raise AnsibleActionFail("python must be an absolute path without spaces, got %r" % python)
        local_dir = tempfile.mkdtemp(dir=C.DEFAULT_LOCAL_TMP)
        try:
            source = os.path.join(local_dir, "certkeeper")
            with open(source, "wb") as handle:
                handle.write(build_zipapp(python))
            copy = dict(src=source, dest=dest, owner="root", group="root", mode="0755")
            return ansible_core.run_action(self, "ansible.legacy.copy", copy, task_vars)
        finally:
            shutil.rmtree(local_dir, ignore_errors=True)
