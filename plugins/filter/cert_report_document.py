# -*- coding: utf-8 -*-
# Copyright (c) certkeeper.pki contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

import datetime

from ansible_collections.certkeeper.pki.plugins.module_utils._report.fleet import fleet_document

DOCUMENTATION = r"""
name: cert_report_document
short_description: The fleet report from what each host's cert_report_info returned
version_added: 0.3.0
description:
  - Used by the C(cert_report) role. One document (the schema of C(certkeeper-report.json), docs/cert_report.md)
    with every certificate and CRL of every host, its host and its state at O(now) (C(ok), C(renewal window),
    C(expired), C(stuck), C(error)), sorted by expiry, and a summary.
options:
  _input:
    description: "C({host: cert_report_info result}) of the hosts that answered."
    type: dict
    required: true
  unreachable:
    description: The hosts of the play that did not answer.
    type: list
    elements: str
    default: []
  now:
    description: The moment of the report (a datetime, or ISO 8601 text), e.g. C(now(utc=true)).
    type: raw
    required: true
"""

EXAMPLES = r"""
- name: The report of the play's hosts
  ansible.builtin.set_fact:
    report: "{{ results | certkeeper.pki.cert_report_document([], now(utc=true)) }}"
"""

RETURN = r"""
_value:
  description: The report document (schema C(certkeeper-report/1)).
  type: dict
"""


def cert_report_document(results, unreachable=(), now=None):
    if isinstance(now, str):
        now = datetime.datetime.fromisoformat(now)
    if now.tzinfo is None:
        now = now.replace(tzinfo=datetime.timezone.utc)
    return fleet_document(dict(results), list(unreachable), now)


class FilterModule:
    def filters(self):
        return {"cert_report_document": cert_report_document}
