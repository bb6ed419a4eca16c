# -*- coding: utf-8 -*-
# Copyright (c) certkeeper.pki contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The options of cert_report_info: the module validates them on the host, its action plugin on the controller."""

from __future__ import annotations

from .._core.option_specs import DEFAULT_STORE

ARGUMENT_SPEC = dict(
    store=dict(type="path", default=DEFAULT_STORE),
    paths=dict(type="list", elements="path", default=[]),
)
