# -*- coding: utf-8 -*-
# Copyright (c) certkeeper.pki contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The items of the cert_track role's cert_track_requests, read through the request schema the cert_track
module takes (module_utils/_tracking/request.py): what an item may carry, and the role variable each option is."""

from __future__ import annotations

from collections.abc import Mapping

from ansible.errors import AnsibleFilterError

_ROLE_OWN = ("store",)  # cert_track_store, for every item


def request_options() -> list:
    """What an item of cert_track_requests may carry: the cert_track module's options but the store."""
    # Imported here: Ansible loads every filter file of the collection in each forked worker that templates
    # any of its filters (the pg_mtls role's too), and the schema brings cryptography along.
    from ansible_collections.certkeeper.pki.plugins.module_utils._tracking.modules import cert_track_argument_spec

    return [name for name in cert_track_argument_spec() if name not in _ROLE_OWN]


def cert_track_request(item, index: int) -> dict:
    where = "cert_track_requests[%s]" % index
    if not isinstance(item, Mapping):
        raise AnsibleFilterError("%s must be a dict of cert_track options, got %r" % (where, item))
    unknown = sorted(set(item) - set(request_options()))
    if unknown:
        raise AnsibleFilterError(
            "%s (id %r) has %s, which %s not an option of a tracked request (ansible-doc certkeeper.pki.cert_track "
            "lists them)"
            % (where, item.get("id"), ", ".join(repr(key) for key in unknown), "is" if len(unknown) == 1 else "are")
        )
    return dict(item)


def cert_track_request_words(index: int) -> dict:
    """The role variable each option of item ``index`` is (role_words): cert_track_requests[N].option."""
    words = {name: "cert_track_requests[%s].%s" % (index, name) for name in request_options()}
    return dict(words, store="cert_track_store")
