# -*- coding: utf-8 -*-
# Copyright (c) certkeeper.pki contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run cert_track_ca; inside the collection's roles its errors, warnings and change reasons name role variables."""

from __future__ import annotations

from ansible_collections.certkeeper.pki.plugins.plugin_utils.module_action import RoleWordsModuleAction


class ActionModule(RoleWordsModuleAction):
    MODULE = "certkeeper.pki.cert_track_ca"
