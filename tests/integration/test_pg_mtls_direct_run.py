"""pg_mtls_certs with pipelining runs its work in the short program the action plugin sends, not as a module:
the same calls give the same results either way, and a host that cannot run it that way gets the module."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest
import yaml

from tests.integration.conftest import run_playbook

pytestmark = pytest.mark.integration
PASSWORD = "direct-run pfx secret"
MASK = "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"


def _calls(directory: str, python: str) -> list:
    """One play of pg_mtls_certs calls on localhost that registers each result, and writes them out as JSON."""
    call = "certkeeper.pki.pg_mtls_certs"
    server = {"role": "server", "path": directory + "/srv", "ca_path": directory + "/ca", "common_name": "db1"}
    client = {"role": "client", "path": directory + "/cli", "common_name": "app", "pfx_password": PASSWORD,
              "ca_certificate": "{{ made.ca_certificate }}"}
    tasks = [
        {"name": "made", call: server, "register": "made"},
        {"name": "again", call: server, "register": "again"},
        {"name": "csr", call: client, "register": "csr"},
        {"name": "signed", call: {"role": "ca", "path": directory + "/ca", "sign": [
            {"name": "cli", "csr": "{{ csr.csr }}", "profile": "client", "common_name": "app"}]}, "register": "signed"},
        {"name": "installed", call: dict(client, certificate="{{ signed.certificates.cli }}"), "register": "installed"},
        {"name": "remove root.crt", "ansible.builtin.file": {"path": directory + "/srv/root.crt", "state": "absent"}},
        {"name": "checked", call: server, "register": "checked", "check_mode": True, "diff": True},
        {"name": "refused", call: dict(client, valid_days=0), "register": "refused", "ignore_errors": True},
        {"name": "write the results", "ansible.builtin.copy": {
            "dest": directory + "/results.json",
            "content": "{{ dict(names | zip(names | map('extract', vars))) | to_json }}"},
         "vars": {"names": ["made", "again", "csr", "signed", "installed", "checked", "refused"]}},
    ]
    return [{"hosts": "localhost", "gather_facts": False, "connection": "local",
             "vars": {"ansible_python_interpreter": python}, "tasks": tasks}]


def _run(tmp_path, name: str, pipelining: bool, python: str = sys.executable):
    directory = str(tmp_path / name)
    os.makedirs(directory)
    playbook = os.path.join(directory, "calls.yml")
    with open(playbook, "w") as handle:
        yaml.safe_dump(_calls(directory, python), handle, width=1000)
    run = run_playbook(playbook, "localhost,", "-vvv", tmp_dir=directory,
                       env={"ANSIBLE_PIPELINING": "true" if pipelining else "false"})
    results = json.load(open(os.path.join(directory, "results.json"))) if run.returncode == 0 else None
    return run, results, directory


def _comparable(value, directory: str):
    """A result with what differs between two fresh sets of files (keys, serials, dates, paths) taken out."""
    if isinstance(value, dict):
        return {k: "<%s>" % k if k in ("serial_number", "fingerprint_sha256", "not_before", "not_after")
                else _comparable(v, directory) for k, v in value.items()}
    if isinstance(value, list):
        return [_comparable(v, directory) for v in value]
    if isinstance(value, str):
        value = re.sub(r"-----BEGIN ([A-Z0-9 ]+)-----.*?-----END \1-----\n?", r"<\1>", value.replace(directory, "DIR"),
                       flags=re.S)
        value = re.sub(r"\b[0-9A-F]{2}(:[0-9A-F]{2}){15,}\b", "<fingerprint>", value)
        return re.sub(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00", "<time>", value)
    return value


def test_the_host_program_reports_what_the_module_reports(tmp_path):
    direct, direct_results, direct_dir = _run(tmp_path, "direct", pipelining=True)
    module, module_results, module_dir = _run(tmp_path, "module", pipelining=False)
    assert direct.returncode == 0, direct.output
    assert module.returncode == 0, module.output
    # how each ran: no module sent with pipelining; only modules without
    assert direct.output.count("> pg_mtls_certs: done on the host without a module run") == 6, direct.output
    assert direct.output.count("pg_mtls_certs: the stamp shows nothing moved") == 1  # "again"
    assert "pg_mtls_certs.py" not in direct.output
    assert len(re.findall(r"Using module file \S*/pg_mtls_certs\.py", module.output)) == 7
    assert "> pg_mtls_certs: " not in module.output
    # what each reported, call by call: the same
    assert _comparable(direct_results, direct_dir) == _comparable(module_results, module_dir)
    # and a few facts of it, so that two equally wrong results cannot pass
    assert direct_results["made"]["changed"] and not direct_results["again"]["changed"]
    assert direct_results["csr"]["certificate_needed"] and "BEGIN CERTIFICATE REQUEST" in direct_results["csr"]["csr"]
    assert direct_results["checked"]["changed"] and direct_results["checked"]["diff"]
    assert not os.path.exists(os.path.join(direct_dir, "srv", "root.crt"))  # check mode wrote nothing
    assert direct_results["refused"]["failed"] and "valid_days" in direct_results["refused"]["msg"]
    # the PFX password never shows: -vvv prints each call's invocation, masked as the module masks it
    assert PASSWORD not in direct.output and '"pfx_password": "%s"' % MASK in direct.output
    assert PASSWORD not in open(os.path.join(direct_dir, "results.json")).read()


def test_a_host_that_cannot_run_it_gets_the_module(tmp_path):
    bare = str(tmp_path / "bare-python")  # a Python without cryptography
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", bare], check=True)
    run, _results, _directory = _run(tmp_path, "bare", pipelining=True, python=os.path.join(bare, "bin", "python"))
    assert run.returncode != 0
    assert "the host cannot do it without the module (cryptography cannot be imported); running the module" \
        in run.output, run.output
    assert "Using module file" in run.output and "pg_mtls_certs.py" in run.output
    # the module's own words (missing_required_lib), and nothing made
    assert "Failed to import the required Python library (cryptography)" in run.output, run.output
    assert not os.path.exists(os.path.join(str(tmp_path), "bare", "srv"))
