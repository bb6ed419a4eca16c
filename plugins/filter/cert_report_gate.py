# -*- coding: utf-8 -*-
# Copyright (c) certkeeper.pki contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

from ansible_collections.certkeeper.pki.plugins.module_utils._report.fleet import gate_problems

DOCUMENTATION = r"""
name: cert_report_gate
short_description: What fails the fleet report's gate
version_added: 0.3.0
description:
  - Used by the C(cert_report) role for C(cert_report_fail_within_days). Every certificate or CRL of the report that
    expires within O(days) days (or has expired), and every stuck one, one line each.
options:
  _input:
    description: The report document (C(certkeeper.pki.cert_report_document)).
    type: dict
    required: true
  days:
    description: The number of days.
    type: int
    required: true
"""

EXAMPLES = r"""
- name: Fail when anything expires within two weeks
  ansible.builtin.assert:
    that: (report | certkeeper.pki.cert_report_gate(14)) | length == 0
"""

RETURN = r"""
_value:
  description: One line per problem; empty when the gate passes.
  type: list
  elements: str
"""


def cert_report_gate(document, days):
    return gate_problems(document, int(days))


class FilterModule:
    def filters(self):
        return {"cert_report_gate": cert_report_gate}
