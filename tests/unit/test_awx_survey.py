"""scripts/awx_survey.py: an AWX survey spec from each role's argument spec."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
AWX_TYPES = {"text", "textarea", "password", "integer", "float", "multiplechoice", "multiselect"}


def survey(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "awx_survey.py"), *args],
                          capture_output=True, text=True, check=False)


@pytest.mark.parametrize("role", ["pg_mtls", "signing_cert", "cert_track"])
def test_default_survey_asks_every_required_option(role):
    options = yaml.safe_load(open(os.path.join(ROOT, "roles", role, "meta", "argument_specs.yml")))[
        "argument_specs"]["main"]["options"]
    result = survey(role)
    assert result.returncode == 0, result.stderr
    spec = json.loads(result.stdout)["spec"]
    asked = {q["variable"]: q for q in spec}
    assert {name for name, s in options.items() if s.get("required")} <= set(asked)
    for name, question in asked.items():
        assert question["type"] in AWX_TYPES and question["question_description"], question
        assert "O(" not in question["question_description"] and "C(" not in question["question_description"]
        if options[name].get("no_log"):
            assert question["type"] == "password"


def test_chosen_questions_keep_their_order_types_and_defaults():
    spec = json.loads(survey("signing_cert", "signing_cert_friendly_name", "signing_cert_password",
                             "signing_cert_profile", "signing_cert_valid_days", "signing_cert_force").stdout)["spec"]
    assert [q["variable"] for q in spec] == ["signing_cert_friendly_name", "signing_cert_password",
                                             "signing_cert_profile", "signing_cert_valid_days", "signing_cert_force"]
    assert [q["type"] for q in spec] == ["text", "password", "multiplechoice", "integer", "multiplechoice"]
    assert spec[0]["required"] and not spec[1]["required"]
    assert spec[2]["choices"] == ["ssl", "signing"] and spec[2]["default"] == "ssl"
    assert spec[3]["default"] == 365 and spec[4]["default"] == "false"


def test_an_unknown_variable_is_refused_by_name():
    result = survey("signing_cert", "signing_cert_passwd")
    assert result.returncode != 0 and "signing_cert_passwd" in result.stderr
