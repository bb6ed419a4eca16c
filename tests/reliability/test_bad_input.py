"""Bad input through Ansible, batched into one playbook: each case fails with a message naming the
option and the fix, and not one file in the target directories changes (bytes, mode, owner, inode)."""

from __future__ import annotations

import pytest

from tests.reliability.catalog import SIGN, TRACK, bad_input_cases, Material
from tests.reliability.conftest import changed_paths, run_cases, tree_snapshot
from tests.reliability.material import LabMaterial

pytestmark = pytest.mark.integration
CASE_IDS = [c.id for c in bad_input_cases(Material())]
MODULES = {"pg_mtls_certs", SIGN, TRACK}


def _task(case) -> dict:
    if case.target in MODULES:
        return {"name": "case " + case.id, "certkeeper.pki." + case.target: case.args, "ignore_errors": True}
    role = case.target.split()[1]
    variables = dict(case.args, signing_cert_group="pg_servers", signing_cert_friendly_name="Sign") \
        if role == "signing_cert" else case.args
    return {"name": "case " + case.id, "block": [{"ansible.builtin.include_role": {"name": "certkeeper.pki." + role},
                                                  "vars": variables}],
            "rescue": [{"ansible.builtin.meta": "noop"}]}


@pytest.fixture(scope="module")
def outcome(working):
    lab = working
    material = LabMaterial(lab)
    setup = [{"hosts": "db1", "gather_facts": False, "tasks": [
        {"name": "case setup-signing", "certkeeper.pki.signing_cert": dict(
            path=material.signing_dir, friendly_name="Sign", subject="CN=sign.example.com",
            subject_alt_names=["sign.example.com"], password=material.signing_password)},
        {"name": "case setup-track", "certkeeper.pki.cert_track": dict(
            id="tracked", store=material.track_store, cert_path=material.track_dir + "/t.crt",
            key_path=material.track_dir + "/t.key", subject="CN=t.example.com", subject_alt_names=["t.example.com"])},
    ]}]
    run, _results = run_cases(lab.base, "bad-input-setup", setup, lab.inventory)
    assert run.returncode == 0, run.output
    material.load_pfx()
    cases = bad_input_cases(material)
    before = tree_snapshot(*material.tops(lab))
    run, results = run_cases(lab.base, "bad-input", [{"hosts": "db1", "gather_facts": False,
                                                      "tasks": [_task(c) for c in cases]}], lab.inventory)
    after = tree_snapshot(*material.tops(lab))
    return {"cases": {c.id: c for c in cases}, "results": results, "changed": changed_paths(before, after),
            "output": run.output, "files": len(before)}


def test_no_file_changed_in_any_target_directory(outcome):
    assert outcome["files"] > 40
    assert outcome["changed"] == []


@pytest.mark.parametrize("case_id", CASE_IDS)
def test_case_fails_clearly(outcome, case_id):
    case, result = outcome["cases"][case_id], outcome["results"].get(case_id)
    assert result is not None, "case did not run:\n" + outcome["output"][-3000:]
    assert result["failed"] and not result["changed"], result
    missing = [text for text in case.expect if text not in result["msg"]]
    assert not missing, "message %r lacks %r" % (result["msg"], missing)
