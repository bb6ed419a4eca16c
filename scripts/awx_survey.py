"""An AWX / Automation Controller survey spec from a role's argument spec (what ansible-doc -t role shows).

Usage: python scripts/awx_survey.py ROLE [VARIABLE ...] > survey.json
  ROLE       signing_cert, pg_mtls or cert_track
  VARIABLE   the options to ask for, in this order (default: the required ones, then those without a default)
Paste the output into the job template's survey (or POST it to /api/v2/job_templates/N/survey_spec/).
Secrets (no_log) become password questions; choices a multiple choice; lists a text of comma-separated
values, which the role's argument spec turns back into a list.
"""

from __future__ import annotations

import json
import os
import re
import sys

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SURVEY_TYPES = {"int": "integer", "float": "float"}
MARKUP = re.compile(r"\b[OCVIRBMU]\(([^)]*)\)")  # ansible-doc markup: O(option), C(code), V(value), ...


def question(name: str, spec: dict, required: bool) -> dict:
    description = spec.get("description", "")
    text = MARKUP.sub(r"\1", " ".join(description) if isinstance(description, list) else description)
    item = {"variable": name, "question_name": name.replace("_", " "), "question_description": text,
            "required": required, "type": "text", "default": ""}
    if spec.get("no_log"):
        item["type"] = "password"
    elif spec.get("type") == "bool":
        item.update(type="multiplechoice", choices=["true", "false"])
    elif spec.get("choices") and spec.get("type") == "list":
        item.update(type="multiselect", choices=[str(c) for c in spec["choices"]])
    elif spec.get("choices"):
        item.update(type="multiplechoice", choices=[str(c) for c in spec["choices"]])
    elif spec.get("type") in SURVEY_TYPES:
        item["type"] = SURVEY_TYPES[spec["type"]]
    elif spec.get("type") == "list":
        item["question_description"] = (text + " Comma-separated.").strip()
    default = spec.get("default")
    if item["type"] == "multiselect":
        item["default"] = "\n".join(str(d) for d in default or [])
    elif isinstance(default, bool):
        item["default"] = str(default).lower()
    elif isinstance(default, list):
        item["default"] = ",".join(str(d) for d in default)
    elif default is not None and "{{" not in str(default):
        item["default"] = default
    return item


def survey(role: str, variables: list[str]) -> dict:
    with open(os.path.join(ROOT, "roles", role, "meta", "argument_specs.yml")) as handle:
        main = yaml.safe_load(handle)["argument_specs"]["main"]
    options = main["options"]
    unknown = [v for v in variables if v not in options]
    if unknown:
        raise SystemExit("%s: not options of role %s: %s" % (sys.argv[0], role, ", ".join(unknown)))
    if not variables:
        variables = [n for n, s in options.items() if s.get("required")] + \
                    [n for n, s in options.items() if not s.get("required") and "default" not in s]
    return {"name": "certkeeper.pki.%s" % role, "description": main.get("short_description", ""),
            "spec": [question(v, options[v], bool(options[v].get("required"))) for v in variables]}


if __name__ == "__main__":
    if len(sys.argv) < 2:
        raise SystemExit(__doc__)
    json.dump(survey(sys.argv[1], sys.argv[2:]), sys.stdout, indent=2)
    sys.stdout.write("\n")
