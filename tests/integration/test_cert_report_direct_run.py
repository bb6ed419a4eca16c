"""cert_report_info with pipelining runs in the short program the action plugin sends, not as a module: the same
calls give the same results either way (what a fleet report reads must not depend on how it was read)."""

from __future__ import annotations

import json
import os
import re
import sys

import pytest
import yaml

from tests.integration.conftest import run_playbook
from tests.integration.test_pg_mtls_direct_run import _comparable

pytestmark = pytest.mark.integration


def _calls(directory: str) -> list:
    """Material to read (a tracked server certificate, a corrupt file), then the reads, each registered."""
    made = {"role": "server", "path": directory + "/srv", "ca_path": directory + "/ca", "common_name": "db1",
            "track": {"store": directory + "/store"}}
    read = "certkeeper.pki.cert_report_info"
    tasks = [
        {"name": "material", "certkeeper.pki.pg_mtls_certs": made},
        {"name": "a directory to read", "ansible.builtin.file": {"path": directory + "/extra", "state": "directory"}},
        {"name": "a corrupt certificate",
         "ansible.builtin.copy": {"dest": directory + "/extra/bad.crt", "content": "not a certificate\n"}},
        {"name": "read", read: {"store": directory + "/store", "paths": [directory + "/extra"]}, "register": "read"},
        {"name": "checked", read: {"store": directory + "/store"}, "register": "checked", "check_mode": True},
        {"name": "refused", read: {"paths": ["relative/path"]}, "register": "refused", "ignore_errors": True},
        {"name": "write the results", "ansible.builtin.copy": {
            "dest": directory + "/results.json",
            "content": "{{ dict(names | zip(names | map('extract', vars))) | to_json }}"},
         "vars": {"names": ["read", "checked", "refused"]}},
    ]
    return [{"hosts": "localhost", "gather_facts": False, "connection": "local",
             "vars": {"ansible_python_interpreter": sys.executable}, "tasks": tasks}]


def _run(tmp_path, name: str, pipelining: bool):
    directory = str(tmp_path / name)
    os.makedirs(directory)
    playbook = os.path.join(directory, "calls.yml")
    with open(playbook, "w") as handle:
        yaml.safe_dump(_calls(directory), handle, width=1000)
    run = run_playbook(playbook, "localhost,", "-vvv", tmp_dir=directory,
                       env={"ANSIBLE_PIPELINING": "true" if pipelining else "false"})
    assert run.returncode == 0, run.output
    return run, json.load(open(os.path.join(directory, "results.json"))), directory


def _without_ids(results: dict) -> dict:
    """The results with each row's request id (made from its path, with a digest of it) blanked."""
    return json.loads(re.sub(r'"id": "pg_mtls-[^"]*"', '"id": "<id>"', json.dumps(results)))


def test_the_host_program_reads_what_the_module_reads(tmp_path):
    direct, direct_results, direct_dir = _run(tmp_path, "direct", pipelining=True)
    module, module_results, module_dir = _run(tmp_path, "module", pipelining=False)
    assert direct.output.count("> cert_report_info: done on the host without a module run") == 3, direct.output
    assert not re.search(r"Using module file \S*/cert_report_info\.py", direct.output)
    assert len(re.findall(r"Using module file \S*/cert_report_info\.py", module.output)) == 3
    assert _comparable(_without_ids(direct_results), direct_dir) == _comparable(_without_ids(module_results), module_dir)
    # a few facts of it, so that two equally wrong results cannot pass
    rows = {row["path"].replace(direct_dir, "DIR"): row for row in direct_results["read"]["certificates"]}
    assert rows["DIR/srv/server.crt"]["source"] == "tracked" and rows["DIR/srv/server.crt"]["id"].startswith("pg_mtls-")
    assert rows["DIR/srv/server.crt"]["certificate"]["subject"] == "CN=db1"
    assert rows["DIR/extra/bad.crt"]["certificate"] is None and "not a certificate" in rows["DIR/extra/bad.crt"]["error"]
    assert direct_results["checked"]["changed"] is False and direct_results["checked"]["certificates"]
    assert direct_results["refused"]["failed"] and "paths[0]" in direct_results["refused"]["msg"]
