# -*- coding: utf-8 -*-
# Copyright (c) certkeeper.pki contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""This collection's module_utils as the controller holds them: the code the certkeeper command bundles and
the code whose digests the pg_mtls_certs stamp probe sends."""

from __future__ import annotations

import os

MODULE_UTILS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "module_utils")


def module_utils_sources() -> dict:
    """``{file name: bytes}`` of every module_utils ``*.py``, in name order."""
    sources = {}
    for name in sorted(os.listdir(MODULE_UTILS)):
        if name.endswith(".py"):
            with open(os.path.join(MODULE_UTILS, name), "rb") as handle:
                sources[name] = handle.read()
    return sources
