"""docs/reliability.md lists exactly the cases and faults the suite runs."""

from __future__ import annotations

import os
import re

from tests.reliability.catalog import FAULTS, Material, bad_input_cases, render_table

HERE = os.path.dirname(os.path.abspath(__file__))
DOC = os.path.join(HERE, "..", "..", "docs", "reliability.md")


def test_the_docs_table_is_the_catalog():
    text = open(DOC).read()
    table = render_table(bad_input_cases(Material()), FAULTS)
    assert table in text, "docs/reliability.md is out of date: python -m tests.reliability.catalog prints the tables"
    section = text.split("## Cases and faults", 1)[1].split("\n## ", 1)[0]  # the threats table follows it
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    assert len(rows) == len(bad_input_cases(Material())) + len(FAULTS)


def test_enough_distinct_cases_and_faults():
    ids = [c.id for c in bad_input_cases(Material())]
    assert len(ids) == len(set(ids)) >= 60
    assert all(c.expect for c in bad_input_cases(Material()))
    assert len({f.id for f in FAULTS}) == len(FAULTS) >= 10


def test_every_fault_has_its_test():
    source = open(os.path.join(HERE, "test_faults.py")).read()
    tests = set(re.findall(r"^def (test_\w+)", source, re.M))
    for fault in FAULTS:
        assert "test_" + fault.id.replace("-", "_") in tests or '("%s",' % fault.id in source, fault.id
