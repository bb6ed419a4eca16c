# -*- coding: utf-8 -*-
# Copyright (c) certkeeper.pki contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run cert_report_info in one short program on the host (``direct_action``): a fleet report costs each host
its reading, not a module's start-up."""

from __future__ import annotations

from ansible_collections.certkeeper.pki.plugins.module_utils._report.arguments import ARGUMENT_SPEC
from ansible_collections.certkeeper.pki.plugins.plugin_utils.direct_action import DirectRunAction


class ActionModule(DirectRunAction):
    MODULE = "certkeeper.pki.cert_report_info"
    NAME = "cert_report_info"
    ARGUMENT_SPEC = ARGUMENT_SPEC
