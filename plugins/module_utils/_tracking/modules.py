# -*- coding: utf-8 -*-
# Copyright (c) certkeeper.pki contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The cert_track and cert_track_info modules' work, without Ansible."""

from __future__ import annotations

from .store import Store, TrackedRequest
from .verbs import listing, resubmit, track, untrack

_REQUEST_OPTIONS = (
    "cert_path",
    "key_path",
    "ca",
    "helper",
    "subject",
    "subject_alt_names",
    "profile",
    "key_type",
    "rotate_key",
    "renew_before",
    "renew_fraction",
    "valid_days",
    "key_owner",
    "key_group",
    "key_mode",
    "cert_mode",
    "ca_cert_path",
    "ca_key_path",
    "chain_path",
    "pre_save_command",
    "post_save_command",
    "auto_renew",
)


def run_cert_track(params: dict, check_mode: bool) -> dict:
    store = Store(params["store"])
    if params["state"] == "absent":
        return untrack(store, params["id"], check_mode)
    if params["state"] == "resubmit":
        return resubmit(store, params["id"], check_mode)
    options = {name: params[name] for name in _REQUEST_OPTIONS if params.get(name) is not None}
    options["key_size"] = params.get("key_size") or (2048 if params["key_type"] == "rsa" else 256)
    options["outputs"] = [dict(o) for o in params["outputs"]]
    return track(store, TrackedRequest(id=params["id"], **options), check_mode)


def run_cert_track_info(params: dict, check_mode: bool) -> dict:
    return {"changed": False, "requests": listing(Store(params["store"]), params.get("id"))}
