# -*- coding: utf-8 -*-
# Copyright (c) certkeeper.pki contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The warning bound shared by every module that issues server certificates."""

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  max_server_valid_days:
    description:
      - A warning when a server certificate is issued for longer than this many days (398, the CA/Browser
        Forum's limit, by default). V(0) turns the warning off.
    type: int
    default: 398
"""
