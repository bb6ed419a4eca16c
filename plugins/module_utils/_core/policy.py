# -*- coding: utf-8 -*-
# Copyright (c) certkeeper.pki contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""When a certificate is due: one rule for the modules and for the renewal timer."""

from __future__ import annotations

import datetime

from .errors import CertError

DEFAULT_FRACTION = 1 / 3  # as certbot and cert-manager do
MAX_DAYS = 36500


def check_days(value, option: str) -> int:
    if not isinstance(value, int) or not 1 <= value <= MAX_DAYS:
        raise CertError("%s must be a number of days between 1 and %d, got %r" % (option, MAX_DAYS, value))
    return value


def check_renewal_window(
    renew_before: int, validity: int, validity_option: str = "valid_days", renew_option: str = "renew_before"
) -> None:
    """A certificate must start outside its renewal window, or every run renews it again."""
    if renew_before >= validity:
        raise CertError(
            "%s (%d days) must be shorter than %s (%d days), or every run would reissue"
            % (renew_option, renew_before, validity_option, validity)
        )


def due_reason(cert, now, renew_before_days: int, fraction: float | None = DEFAULT_FRACTION) -> str | None:
    """Due when fewer than ``renew_before_days`` days or less than ``fraction`` of the lifetime is left."""
    not_after = cert.not_valid_after_utc
    left = not_after - now
    expires = not_after.strftime("%Y-%m-%d %H:%M UTC")
    if left <= datetime.timedelta(0):
        return "expired on %s" % expires
    if left < datetime.timedelta(days=renew_before_days):
        return "expires on %s, within the renewal window of %d days" % (expires, renew_before_days)
    if fraction and left < (not_after - cert.not_valid_before_utc) * fraction:
        return "expires on %s, with less than %.0f%% of its lifetime left" % (expires, fraction * 100)
    return None


def due_at(cert, renew_before_days: int, fraction: float | None = DEFAULT_FRACTION) -> datetime.datetime:
    """The moment ``due_reason`` starts to name a reason for ``cert``."""
    not_after = cert.not_valid_after_utc
    moment = not_after - datetime.timedelta(days=renew_before_days)
    if fraction:
        moment = min(moment, not_after - (not_after - cert.not_valid_before_utc) * fraction)
    return moment


DEFAULT_MAX_SERVER_DAYS = 398  # the CA/Browser Forum's limit for TLS server certificates


def server_validity_warning(valid_days: int, maximum: int, option: str = "valid_days") -> str | None:
    """A warning when a server certificate would live longer than ``maximum`` days (0 disables it)."""
    if maximum and valid_days > maximum:
        return (
            "%s is %d days, beyond the %d days set as the maximum for server certificates; shorter "
            "certificates limit the damage of a leaked key (lower %s or raise max_server_valid_days)"
            % (option, valid_days, maximum, option)
        )
    return None


def server_validity_warnings(params: dict, valid_days: int) -> list:
    """The warnings of a module whose options include ``max_server_valid_days``."""
    warning = server_validity_warning(valid_days, params.get("max_server_valid_days", DEFAULT_MAX_SERVER_DAYS))
    return [warning] if warning else []
