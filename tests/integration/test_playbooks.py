"""The playbooks run unattended: no prompts, and a missing required variable stops them before any task."""

from __future__ import annotations

import glob
import os
import sys

import pytest
import yaml

from tests.integration.conftest import ROOT, run_playbook

pytestmark = pytest.mark.integration


def tasks_of(path: str):
    for item in yaml.safe_load(open(path)) or []:
        yield item
        for key in ("block", "rescue", "always"):
            yield from item.get(key, [])


def test_no_playbook_or_role_prompts():
    for playbook in glob.glob(os.path.join(ROOT, "playbooks", "*.yml")):
        assert all("vars_prompt" not in play for play in yaml.safe_load(open(playbook))), playbook
    for task_file in glob.glob(os.path.join(ROOT, "roles", "*", "tasks", "*.yml")):
        for task in tasks_of(task_file):
            assert not {"pause", "ansible.builtin.pause", "ansible.builtin.wait_for_connection"} & set(task), task_file


def test_a_missing_required_variable_stops_the_play_before_any_module(tmp_path):
    inventory = tmp_path / "inventory.yml"
    host = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable,
            "signing_cert_dir": str(tmp_path / "signing")}
    inventory.write_text(yaml.safe_dump({"all": {"children": {"signing_cert_hosts": {"hosts": {"sq1": host}}}}}))
    run = run_playbook("certkeeper.pki.signing_cert", str(inventory), tmp_dir=str(tmp_path))
    assert run.returncode != 0
    assert "missing required arguments: signing_cert_friendly_name" in run.output, run.output
    assert run.invocations == {} and not os.path.exists(host["signing_cert_dir"])


def test_the_renewal_check_names_a_stuck_certificate(tmp_path):
    store = str(tmp_path / "store")
    inventory = tmp_path / "inventory.yml"
    inventory.write_text(yaml.safe_dump({"all": {"hosts": {"h1": {
        "ansible_connection": "local", "ansible_python_interpreter": sys.executable, "cert_track_store": store}}}}))
    setup = tmp_path / "setup.yml"
    track = {"store": store, "cert_path": str(tmp_path / "%s.crt"), "key_path": str(tmp_path / "%s.key"),
             "subject": "CN=%s.example.com"}
    healthy = dict({k: v.replace("%s", "ok") for k, v in track.items()}, id="ok", ca="self_sign")
    rejected = dict({k: v.replace("%s", "bad") for k, v in track.items()}, id="bad", ca="helper",
                    helper="echo refused by policy; exit 2")
    tasks = [{"name": "A healthy self-signed request", "certkeeper.pki.cert_track": healthy},
             {"name": "A request the CA rejects", "ignore_errors": True, "certkeeper.pki.cert_track": rejected}]
    setup.write_text(yaml.safe_dump([{"hosts": "all", "gather_facts": False, "tasks": tasks}]))
    assert run_playbook(str(setup), str(inventory), tmp_dir=str(tmp_path)).returncode == 0

    check = run_playbook("certkeeper.pki.cert_check", str(inventory), "--check", tmp_dir=str(tmp_path))
    assert check.returncode != 0 and "stuck" in check.output and "['bad']" in check.output, check.output
    assert "'ok'" not in check.output

    untrack = tmp_path / "untrack.yml"
    stop = {"name": "Stop tracking the rejected one",
            "certkeeper.pki.cert_track": {"store": store, "id": "bad", "state": "absent"}}
    untrack.write_text(yaml.safe_dump([{"hosts": "all", "gather_facts": False, "tasks": [stop]}]))
    assert run_playbook(str(untrack), str(inventory), tmp_dir=str(tmp_path)).returncode == 0
    check = run_playbook("certkeeper.pki.cert_check", str(inventory), tmp_dir=str(tmp_path))
    assert check.returncode == 0 and "1 tracked certificate(s) and 0 CRL(s), none stuck or waiting" in check.output, check.output
