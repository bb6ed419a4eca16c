# -*- coding: utf-8 -*-
# Copyright (c) certkeeper.pki contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

import os

DOCUMENTATION = r"""
name: cert_report_path_problems
short_description: What is wrong with the cert_report_paths of the play's hosts
version_added: 0.3.0
description:
  - Used by the C(cert_report) role to check every host's C(cert_report_paths) in one task on the controller
    (one task for the play instead of one per host). Each problem names the host and the variable.
extends_documentation_fragment:
  - certkeeper.pki.hostvars
options:
  _input:
    description: The hosts of the play (C(ansible_play_hosts)).
    type: list
    elements: str
    required: true
"""

EXAMPLES = r"""
- name: Every host's cert_report_paths are absolute
  ansible.builtin.assert:
    that: (ansible_play_hosts | certkeeper.pki.cert_report_path_problems(hostvars)) | length == 0
  run_once: true
"""

RETURN = r"""
_value:
  description: One line per host whose C(cert_report_paths) is not a list of absolute paths; empty when all are.
  type: list
  elements: str
"""


def cert_report_path_problems(hosts, hostvars):
    problems = []
    for host in hosts:
        paths = hostvars[host].get("cert_report_paths", [])
        if not isinstance(paths, list):
            problems.append("cert_report_paths of %s is %r, not a list of paths" % (host, paths))
            continue
        wrong = [path for path in paths if not isinstance(path, str) or not os.path.isabs(path)]
        if wrong:
            problems.append("cert_report_paths of %s must be absolute paths: %s" % (host, ", ".join(map(repr, wrong))))
    return problems


class FilterModule:
    def filters(self):
        return {"cert_report_path_problems": cert_report_path_problems}
