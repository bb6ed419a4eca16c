# -*- coding: utf-8 -*-
# Copyright (c) certkeeper.pki contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

from ansible_collections.certkeeper.pki.plugins.plugin_utils.cert_track_requests import cert_track_request

DOCUMENTATION = r"""
name: cert_track_request
short_description: One item of cert_track_requests as the arguments of a cert_track call
version_added: 0.2.0
description:
  - Used by the C(cert_track) role. The options an item may carry are those of the request schema the
    C(certkeeper.pki.cert_track) module takes (id, state and the request's options), defined once in the
    collection; a key that is none of them fails, naming the item, instead of being dropped in silence.
options:
  _input:
    description: One item of C(cert_track_requests).
    type: dict
    required: true
  index:
    description: The item's index in C(cert_track_requests), for messages.
    type: int
    required: true
"""

EXAMPLES = r"""
- name: Track one request
  certkeeper.pki.cert_track:
    store: /var/lib/certkeeper
  module_defaults:
    certkeeper.pki.cert_track: "{{ item | certkeeper.pki.cert_track_request(idx) }}"
  loop: "{{ cert_track_requests }}"
  loop_control:
    index_var: idx
"""

RETURN = r"""
_value:
  description: The item's options, ready to hand to C(certkeeper.pki.cert_track).
  type: dict
"""


class FilterModule:
    def filters(self):
        return {"cert_track_request": cert_track_request}
