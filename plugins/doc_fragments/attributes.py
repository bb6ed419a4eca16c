# -*- coding: utf-8 -*-
# Copyright (c) certkeeper.pki contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What each attribute means, once for every module; a module states its support and details."""

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
attributes:
  check_mode:
    description: Runs with C(--check), reports what would change and why, and changes nothing.
  diff_mode:
    description: With C(--diff), shows what changes (or would change in check mode).
  idempotent:
    description: A second run with the same options reports no change and rewrites nothing.
  safe_file_operations:
    description:
      - Every file is written to a temporary file in its own directory with its final owner and mode, synced,
        and renamed over the old one; when any write fails, every existing file stays as it was.
"""

    # A module that only reads: cert_track_info, cert_report_info.
    INFO_MODULE = r"""
attributes:
  check_mode:
    support: full
    details: Reads only.
  diff_mode:
    support: none
    details: Changes nothing.
  idempotent:
    support: full
    details: Reads only.
  safe_file_operations:
    support: none
    details: Writes nothing.
"""
