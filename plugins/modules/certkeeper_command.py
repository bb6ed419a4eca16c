#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) certkeeper.pki contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: certkeeper_command
short_description: Install the certkeeper command on a host
version_added: 0.1.0
description:
  - Installs C(certkeeper) (C(list), C(start-tracking), C(stop-tracking), C(resubmit), C(renew)) as one executable
    Python zipapp holding this collection's C(plugins/module_utils), the code the modules run.
  - The file is built on the controller with fixed timestamps, so the same collection version gives the same
    bytes and a rerun changes nothing. Used by the C(certkeeper.pki.cert_track) role.
author:
  - certkeeper.pki contributors (@certkeeper)
extends_documentation_fragment:
  - certkeeper.pki.attributes
attributes:
  action:
    support: full
    description: Runs on the controller and transfers one file.
  check_mode:
    support: full
    details: As the copy module.
  diff_mode:
    support: none
    details: A binary file.
  idempotent:
    support: full
    details: Reproducible bytes.
  safe_file_operations:
    support: full
    details: The command is written by the copy module (temporary file and rename).
options:
  dest:
    description: Path of the command on the host.
    type: path
    required: true
  python:
    description: Absolute path of the host's Python with C(cryptography) 42 or newer (the shebang).
    type: path
    default: /usr/bin/python3
notes:
  - Owner root, group root, mode 0755.
"""

EXAMPLES = r"""
- name: Install certkeeper
  certkeeper.pki.certkeeper_command:
    dest: /usr/local/sbin/certkeeper
    python: /usr/bin/python3
"""

RETURN = r"""
dest:
  description: Where the command was installed.
  returned: always
  type: str
"""
