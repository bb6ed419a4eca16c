# -*- coding: utf-8 -*-
# Copyright (c) certkeeper.pki contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The cert_track, cert_track_ca and cert_track_info modules' work, without Ansible."""

from __future__ import annotations

from .._ca.scep import ScepCAConfig
from .._core.files import Plan
from .._core.option_specs import DEFAULT_STORE
from .request import argument_spec, request_from_options
from .store import Store
from .verbs import add_scep_ca, listing, remove_ca, resubmit, track, untrack

CERT_TRACK_CA_ARGUMENT_SPEC = dict(
    name=dict(type="str", required=True),
    state=dict(type="str", default="present", choices=["present", "absent"]),
    url=dict(type="str"),
    ca_file=dict(type="path", default=""),
    renewal_challenge=dict(type="bool", default=False),
    thumbprint=dict(type="str", default=""),
    store=dict(type="path", default=DEFAULT_STORE),
)


def cert_track_argument_spec() -> dict:
    """The cert_track module's options: id, state and store, then the request's (request.py)."""
    return dict(
        id=dict(type="str", required=True),
        state=dict(type="str", default="present", choices=["present", "absent", "resubmit"]),
        store=dict(type="path", default=DEFAULT_STORE),
        **argument_spec(),
    )


def run_cert_track(params: dict, check_mode: bool) -> dict:
    store = Store(params["store"])
    if params["state"] == "absent":
        return untrack(store, params["id"], check_mode)
    if params["state"] == "resubmit":
        return resubmit(store, params["id"], check_mode)
    return track(store, request_from_options(params["id"], params), check_mode)


def run_cert_track_ca(params: dict, check_mode: bool) -> dict:
    store = Store(params["store"])
    if params["state"] == "absent":
        if store.load(params["name"], ScepCAConfig) is None:
            return Plan().result()
        return remove_ca(store, params["name"], check_mode)
    config = ScepCAConfig(params["name"], params["url"], params["ca_file"], params["renewal_challenge"]).validate()
    return add_scep_ca(store, config, check_mode, thumbprint=params["thumbprint"], declared=True)


def run_cert_track_info(params: dict, check_mode: bool) -> dict:
    items = listing(Store(params["store"]), params.get("id"))
    return {
        "changed": False,
        "requests": [item for item in items if item["kind"] == "certificate"],
        "crls": [item for item in items if item["kind"] == "crl"],
    }
