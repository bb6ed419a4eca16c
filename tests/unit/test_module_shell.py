"""module_shell.run_module: what every certkeeper module does around its work."""

from __future__ import annotations

import pytest

from ansible_collections.certkeeper.pki.plugins.module_utils._core import cryptography_import
from ansible_collections.certkeeper.pki.plugins.module_utils._core.errors import CertError
from ansible_collections.certkeeper.pki.plugins.module_utils._host import module_shell


class Exited(Exception):
    pass


class FakeModule:
    """The AnsibleModule calls run_module makes, recorded; exit_json and fail_json end the call as they would."""

    def __init__(self, diff: bool = False):
        self.params, self.check_mode, self._diff = {"path": "/x"}, False, diff
        self.warnings, self.exit = [], None

    def warn(self, warning):
        self.warnings.append(warning)

    def exit_json(self, **result):
        self.exit = dict(result, failed=False)
        raise Exited

    def fail_json(self, **result):
        self.exit = dict(result, failed=True)
        raise Exited


def _run(work, recorded=None, diff=False) -> FakeModule:
    module = FakeModule(diff)
    with pytest.raises(Exited):
        module_shell.run_module(module, work, recorded)
    return module


def test_a_host_without_cryptography_gets_the_library_named_not_a_name_error(monkeypatch):
    monkeypatch.setattr(cryptography_import, "CRYPTOGRAPHY_IMPORT_ERROR", "Traceback ...\nModuleNotFoundError: cryptography")
    ran = []
    module = _run(lambda params, check_mode: ran.append(params))
    assert module.exit["failed"] and ran == []
    assert "Failed to import the required Python library (cryptography)" in module.exit["msg"]
    assert module.exit["exception"].endswith("ModuleNotFoundError: cryptography")
    # a stamp's answer needs no cryptography
    answered = _run(lambda params, check_mode: ran.append(params), recorded={"changed": False, "diff": []})
    assert answered.exit == {"changed": False, "failed": False} and ran == []


def test_warnings_are_warned_and_the_diff_shown_only_under_diff():
    def work(params, check_mode):
        return {"changed": True, "warnings": ["careful"], "diff": [{"before": "a", "after": "b"}]}

    plain, with_diff = _run(work), _run(work, diff=True)
    assert plain.warnings == ["careful"] and "diff" not in plain.exit and "warnings" not in plain.exit
    assert with_diff.exit["diff"] == [{"before": "a", "after": "b"}]


def test_a_cert_error_is_the_message_of_the_failure():
    def work(params, check_mode):
        raise CertError("valid_days must be positive")

    assert _run(work).exit == {"msg": "valid_days must be positive", "changed": False, "failed": True}
