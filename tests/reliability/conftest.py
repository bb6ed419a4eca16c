"""The reliability suite reuses the integration fixtures (the Lab: a real PostgreSQL and a local
three-host inventory) and adds a runner that reports each named case's outcome."""

from __future__ import annotations

import json
import os
import stat

import pytest
import yaml

from tests.integration.conftest import HERE as INTEGRATION_HERE
# the integration suite's lab fixture, shared
from tests.integration.conftest import lab, run_playbook  # noqa: F401  pylint: disable=unused-import

HERE = os.path.dirname(os.path.abspath(__file__))


def run_cases(base: str, name: str, plays: list, inventory: str, *args: str, env: dict | None = None):
    """Run ``plays`` (a playbook as data); (PlaybookRun, {case id: {failed, msg, changed, warnings}})."""
    playbook = os.path.join(base, name + ".yml")
    with open(playbook, "w") as handle:
        yaml.safe_dump(plays, handle, allow_unicode=False, width=1000)
    results = os.path.join(base, name + ".cases.json")
    if os.path.exists(results):
        os.unlink(results)
    callbacks = "%s:%s" % (os.path.join(INTEGRATION_HERE, "callback_plugins"), os.path.join(HERE, "callback_plugins"))
    run = run_playbook(playbook, inventory, *args, tmp_dir=base, env=dict(
        {"ANSIBLE_CALLBACK_PLUGINS": callbacks,
         "ANSIBLE_CALLBACKS_ENABLED": "module_counts,case_results", "CERTKEEPER_CASES_FILE": results},
        **(env or {})))
    return run, (json.load(open(results)) if os.path.exists(results) else {})


def tree_snapshot(*tops: str) -> dict:
    """Every file under ``tops`` (recursively, links not followed): bytes, mode, owner, group, inode."""
    result = {}
    for top in tops:
        if os.path.isfile(top):
            paths = [top]
        else:
            paths = []
            for directory, dirs, files in os.walk(top):
                dirs.sort()
                paths += [os.path.join(directory, n) for n in sorted(files + dirs)]
        for path in paths:
            st = os.lstat(path)
            data = open(path, "rb").read() if stat.S_ISREG(st.st_mode) else os.readlink(path) \
                if stat.S_ISLNK(st.st_mode) else b""
            result[path] = (data, stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, st.st_ino)
    return result


def changed_paths(before: dict, after: dict) -> list:
    return sorted(p for p in set(before) | set(after) if before.get(p) != after.get(p))


@pytest.fixture(scope="module")
def working(lab):  # noqa: F811
    """The lab after a successful pg_mtls run: every host holds a working set of files."""
    run = lab.run()
    assert run.returncode == 0, run.output
    return lab
