# -*- coding: utf-8 -*-
# Copyright (c) certkeeper.pki contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""``ca: ansible``: the playbook's CA host issues (pg_mtls). Between playbook runs a due certificate is
marked NEED_CA, and the next run re-issues it through the CA host."""

from __future__ import annotations

from .base import Issuer


class DeferredCA(Issuer):
    name = "ansible"
    summary = "the CA host of the next playbook run issues it"
    defers = True

    def deferral(self, reason: str) -> str:
        return "due (%s); the next playbook run re-issues it through the CA host" % reason
