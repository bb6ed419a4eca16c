# -*- coding: utf-8 -*-
# Copyright (c) certkeeper.pki contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

from ansible_collections.certkeeper.pki.plugins.plugin_utils.cert_track_requests import cert_track_request_words

DOCUMENTATION = r"""
name: cert_track_request_words
short_description: The role variable each option of one item of cert_track_requests is
version_added: 0.2.0
description:
  - Used by the C(cert_track) role so that messages about a request's option name the role variable
    (C(cert_track_requests[N].option)) rather than the module option. The options are those of the
    request schema the C(certkeeper.pki.cert_track) module takes.
options:
  _input:
    description: The item's index in C(cert_track_requests).
    type: int
    required: true
"""

EXAMPLES = r"""
- name: The words of the second request
  ansible.builtin.debug:
    msg: "{{ 1 | certkeeper.pki.cert_track_request_words }}"
"""

RETURN = r"""
_value:
  description: "C({option: role variable}), C(store) being C(cert_track_store)."
  type: dict
"""


class FilterModule:
    def filters(self):
        return {"cert_track_request_words": cert_track_request_words}
