# -*- coding: utf-8 -*-
# Copyright (c) certkeeper.pki contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one error type of the core, kept apart so light modules can raise it without ``cryptography``."""

from __future__ import annotations


class CertError(ValueError):
    """Bad input or unusable material; the message names what to fix."""
