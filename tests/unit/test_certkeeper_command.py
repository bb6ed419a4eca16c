"""The certkeeper zipapp: reproducible bytes, and it runs as a command with the collection's code."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile

from ansible_collections.certkeeper.pki.plugins.action.certkeeper_command import build_zipapp
from ansible_collections.certkeeper.pki.plugins.plugin_utils.module_utils_files import MODULE_UTILS


def test_the_same_sources_give_the_same_bytes():
    assert build_zipapp("/usr/bin/python3") == build_zipapp("/usr/bin/python3")
    assert build_zipapp("/usr/bin/python3") != build_zipapp("/opt/py/bin/python3")


def test_it_holds_every_module_util_and_runs(tmp_path):
    command = tmp_path / "certkeeper"
    command.write_bytes(build_zipapp(sys.executable))
    command.chmod(0o755)
    names = zipfile.ZipFile(command).namelist()
    assert {"certkeeper_pki/%s" % n for n in os.listdir(MODULE_UTILS) if n.endswith(".py")} <= set(names)
    assert "__main__.py" in names and not any("__pycache__" in n for n in names)
    result = subprocess.run([str(command), "--store", str(tmp_path / "store"), "list"], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "Number of certificates and requests being tracked: 0.\n"
