"""The certkeeper zipapp: reproducible bytes, and it runs as a command with the collection's code."""

from __future__ import annotations

import os
import shutil
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


def test_it_runs_isolated_so_pythonpath_cannot_choose_its_code(tmp_path):
    """root's renewal imports nothing from PYTHONPATH, the user site or the working directory (python -I)."""
    command = tmp_path / "certkeeper"
    command.write_bytes(build_zipapp(sys.executable))
    command.chmod(0o755)
    assert command.read_bytes().startswith(b"#!" + sys.executable.encode() + b" -I\n")
    hostile = tmp_path / "hostile"
    (hostile / "certkeeper_pki" / "_host").mkdir(parents=True)
    marker = tmp_path / "hijacked"
    planted = "import pathlib\npathlib.Path(%r).open('a').write(__name__ + '\\n')\n" % str(marker)
    # sitecustomize runs at start-up; argparse and json are stdlib modules the command imports; certkeeper_pki
    # is its own package
    for name in ("sitecustomize.py", "usercustomize.py", "argparse.py", "json.py", "certkeeper_pki/__init__.py",
                 "certkeeper_pki/_host/cli.py"):
        (hostile / name).write_text(planted + "raise SystemExit(97)\n")
    env = dict(os.environ, PYTHONPATH=str(hostile), PYTHONSTARTUP=str(hostile / "json.py"), PYTHONINSPECT="")
    result = subprocess.run([str(command), "--store", str(tmp_path / "store"), "list"], capture_output=True,
                            text=True, check=False, env=env, cwd=str(hostile))
    assert not marker.exists(), "imported from PYTHONPATH: %s" % marker.read_text()
    assert result.returncode == 0, result.stderr
    assert result.stdout == "Number of certificates and requests being tracked: 0.\n"


def test_the_service_unit_has_a_timeout(tmp_path):
    """certkeeper-renew.service as the role writes it: TimeoutStartSec from cert_track_service_timeout (30min)."""
    import jinja2
    import yaml

    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    role = os.path.join(root, "roles", "cert_track")
    defaults = yaml.safe_load(open(os.path.join(role, "defaults", "main.yml")))
    spec = yaml.safe_load(open(os.path.join(role, "meta", "argument_specs.yml")))
    assert defaults["cert_track_service_timeout"] == "30min"
    assert spec["argument_specs"]["main"]["options"]["cert_track_service_timeout"]["default"] == "30min"
    command = tmp_path / "certkeeper"
    command.write_bytes(build_zipapp(sys.executable))
    command.chmod(0o755)
    template = open(os.path.join(role, "templates", "certkeeper-renew.service.j2")).read()
    unit = tmp_path / "certkeeper-renew.service"
    unit.write_text(jinja2.Template(template, keep_trailing_newline=True).render(
        cert_track_bin=str(command), cert_track_store=str(tmp_path / "store"),
        cert_track_service_timeout=defaults["cert_track_service_timeout"]))
    assert "\nTimeoutStartSec=30min\n" in unit.read_text()
    if shutil.which("systemd-analyze"):
        verify = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, check=False)
        assert verify.returncode == 0 and verify.stderr == "", verify.stderr
