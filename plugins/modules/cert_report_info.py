#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) certkeeper.pki contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: cert_report_info
short_description: What one host holds, for the fleet report
version_added: 0.3.0
description:
  - Reads, in one call, every certificate request and CRL the host's tracking store tracks (with the certificate and
    CRL on disk), the CA certificates those records name, and the certificates in files under O(paths). The
    C(certkeeper.pki.cert_report) role builds the fleet report from what every host returns.
  - Never reads a private key into its result; files named C(*.key) are not opened, and of other files only their
    certificates are parsed. A file that is not a certificate gives a row with its error.
  - With pipelining on, the action plugin validates the arguments on the controller and runs the same work in one
    short program on the host instead of the module, over the same connection, user and interpreter, and reports
    its result as the module reports its own. A call costs the host its reading and not a module's start-up.
    Without pipelining, with C(~) or C($) in a path, or on a host without C(cryptography), the module runs.
author:
  - certkeeper.pki contributors (@certkeeper)
extends_documentation_fragment:
  - certkeeper.pki.attributes
  - certkeeper.pki.attributes.info_module
options:
  store:
    description: Tracking store directory on the host (a missing store tracks nothing).
    type: path
    default: /var/lib/certkeeper
  paths:
    description:
      - Absolute paths of certificate files, or of directories whose certificate files (C(*.crt), C(*.pem),
        C(*.cer), C(*.cert), C(*.der); symbolic links not followed) are read too.
    type: list
    elements: path
    default: []
"""

EXAMPLES = r"""
- name: What this host holds, with the certificates of the system directory
  certkeeper.pki.cert_report_info:
    paths: [/etc/pki/tls/certs]
  register: held

- name: The tracked ones that need a person
  ansible.builtin.debug:
    msg: "{{ held.certificates | selectattr('stuck') | map(attribute='path') | list }}"
"""

RETURN = r"""
certificates:
  description:
    - One row per certificate. C(source) is C(tracked) (a request of the store, with its id, status, stuck, ca,
      renew_at, last_renewed, last_error and outputs), C(ca) (a CA certificate a record names) or C(file) (under
      O(paths)). C(certificate) holds its facts (subject, issuer, serial_number, not_before, not_after,
      subject_alt_names, key_usage, extended_key_usage, fingerprint_sha256; ISO 8601 UTC), null with C(error) set
      when there is none to read.
  returned: always
  type: list
  elements: dict
crls:
  description: The tracked CRLs, as C(cert_track_info) returns them.
  returned: always
  type: list
  elements: dict
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.certkeeper.pki.plugins.module_utils._host.module_shell import run_module
from ansible_collections.certkeeper.pki.plugins.module_utils._report.arguments import ARGUMENT_SPEC
from ansible_collections.certkeeper.pki.plugins.module_utils._report.host import run_cert_report_info


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    run_module(module, run_cert_report_info)


if __name__ == "__main__":
    main()
