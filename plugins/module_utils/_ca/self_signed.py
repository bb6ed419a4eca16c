# -*- coding: utf-8 -*-
# Copyright (c) certkeeper.pki contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""``ca: self_sign``: the certificate's own key signs it."""

from __future__ import annotations

from .._core import crypto
from .base import Answer, Issuer, IssueRequest


def self_sign(key, subject, subject_alt_names: list, profile: str, valid_days: int, now=None):
    usage = crypto.PROFILES[profile]
    return crypto.issue_certificate(
        key,
        subject,
        key.public_key(),
        subject,
        list(subject_alt_names),
        valid_days,
        list(usage.extended_key_usages),
        usage.encipherment,
        now=now,
    )


class SelfSignedCA(Issuer):
    name = "self_sign"
    summary = "the certificate's own key signs it"

    def issue(self, request: IssueRequest) -> Answer:
        return Answer.issued(
            self_sign(
                request.private_key,
                request.subject,
                request.subject_alt_names,
                request.profile,
                request.valid_days,
                request.now,
            )
        )
