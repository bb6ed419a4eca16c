#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) certkeeper.pki contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: cert_track
short_description: Track a certificate for renewal, certmonger-style (request, start-tracking, stop-tracking, resubmit)
version_added: 0.1.0
description:
  - Keeps a tracking record for one certificate in the host's tracking store (one JSON file per request in a
    root-only directory). The C(certkeeper renew --all) command, run by the C(cert_track) role's timer, renews
    every tracked certificate that is due; C(certkeeper list) shows them as C(getcert list) does.
  - O(state=present) is certmonger's C(request) when O(cert_path) does not exist yet (the certificate is
    requested through O(ca) at once) and C(start-tracking) when it does. O(state=absent) is C(stop-tracking),
    and the files stay. O(state=resubmit) renews now, applying changed O(subject) and O(subject_alt_names).
  - A certificate is due when fewer than O(renew_before) days or less than O(renew_fraction) of its lifetime
    is left. The key is rotated by default. Renewal writes the key, the certificate and every O(outputs) file
    together (all staged before any is renamed), then runs O(post_save_command); a failure keeps the old
    files and records a status (C(CA_UNREACHABLE), C(CA_REJECTED), C(NEED_CA), C(POST_SAVE_FAILED), ...).
author:
  - certkeeper.pki contributors (@certkeeper)
extends_documentation_fragment:
  - certkeeper.pki.attributes
  - certkeeper.pki.private_key
attributes:
  check_mode:
    support: full
    details: Reports the record and certificate changes; writes nothing and runs no command.
  diff_mode:
    support: full
    details: Shows the tracking record before and after (passwords left out).
  idempotent:
    support: full
    details: O(state=present) and O(state=absent) change nothing on a rerun; O(state=resubmit) always renews.
  safe_file_operations:
    support: full
    details: Record, key, certificate and outputs are written atomically.
options:
  id:
    description: Request ID (certmonger's C(-I)); letters, digits, C(_ . @ -).
    type: str
    required: true
  state:
    description: V(present) request or start tracking, V(absent) stop tracking (files stay), V(resubmit) renew now.
    type: str
    choices: [present, absent, resubmit]
    default: present
  store:
    description: Tracking store directory on the host (made root-only).
    type: path
    default: /var/lib/certkeeper
  cert_path:
    description: Certificate file (PEM). Required for O(state=present).
    type: path
  key_path:
    description: Private key file (PEM). Required for O(state=present).
    type: path
  ca:
    description:
      - How a renewal is signed. V(local) by a CA whose key is on this host (O(ca_cert_path), O(ca_key_path));
        V(self_sign); V(helper) by O(helper), any command speaking certmonger's CA-helper protocol
        (C(CERTMONGER_OPERATION=SUBMIT)/C(POLL), C(CERTMONGER_CSR), the certificate on stdout, exit 0 issued,
        1 wait, 2 rejected, 3 unreachable, 4 under-configured, 5 wait with delay, 6 unsupported);
        V(ansible) the host only reports that the certificate is due (C(NEED_CA)) and the next playbook run
        re-issues it through the CA host; V(scep) a SCEP server, through the CA configuration O(scep_ca)
        (M(certkeeper.pki.cert_track_ca), C(certkeeper add-scep-ca)), with an RSA key.
    type: str
    choices: [local, self_sign, helper, ansible, scep]
    default: self_sign
  ca_cert_path:
    description: For O(ca=local), the CA certificate on this host.
    type: path
  ca_key_path:
    description: For O(ca=local), the CA private key on this host.
    type: path
  helper:
    description: For O(ca=helper), the command to run (through C(/bin/sh -c)).
    type: str
  scep_ca:
    description: For O(ca=scep), the name of the SCEP CA configuration (M(certkeeper.pki.cert_track_ca)).
    type: str
  challenge:
    description:
      - For O(ca=scep), the challenge password (one-time PIN) the CA gave for this request (certmonger's C(-L)).
      - Kept in the root-only store until the first certificate is issued, then forgotten unless the CA configuration
        says renewals carry it. Never shown; a rerun with the same value changes nothing, another value is a new PIN.
    type: str
  subject:
    description:
      - Subject to request, RFC 4514 (C(CN=db1.example.com)).
      - Default, the current certificate's subject; required when the certificate does not exist yet.
    type: str
  subject_alt_names:
    description: SANs to request (C(DNS:x), C(IP:x) or bare). Default, the current certificate's.
    type: list
    elements: str
    default: []
  profile:
    description: Key usages of renewed certificates, V(server) (serverAuth), V(client) (clientAuth), V(ssl) (both) or V(signing) (digitalSignature only).
    type: str
    choices: [server, client, ssl, signing]
    default: server
  rotate_key:
    description: Make a new key on each renewal (default, as certbot and cert-manager do); V(false) keeps the key.
    type: bool
    default: true
  renew_before:
    description: Renew when fewer than this many days are left.
    type: int
    default: 30
  renew_fraction:
    description: Renew when less than this fraction of the certificate's lifetime is left, whichever of the two comes first.
    type: float
    default: 0.3333333333333333
  valid_days:
    description: Validity of renewed certificates for O(ca=local) and O(ca=self_sign).
    type: int
    default: 365
  key_owner:
    description: Owner of the key and certificate files (and of O(outputs)).
    type: str
    default: root
  key_group:
    description: Group of the key and certificate files (and of O(outputs)).
    type: str
    default: root
  key_mode:
    description: Mode of the key file and of O(outputs).
    type: str
    default: "0600"
  cert_mode:
    description: Mode of the certificate file.
    type: str
    default: "0644"
  outputs:
    description: Files made from the key and certificate, regenerated on every renewal with the key's owner and mode.
    type: list
    elements: dict
    default: []
    suboptions:
      path:
        description: File path.
        type: path
        required: true
      format:
        description: V(pkcs8_der) (e.g. C(client.pk8)), V(pkcs8_pem) (C(client.pem.pk8)) or V(pkcs12) (C(client.pfx)).
        type: str
        required: true
        choices: [pkcs8_der, pkcs8_pem, pkcs12]
      password:
        description: PKCS#12 password (may be empty). Kept in the root-only store; never shown.
        type: str
        default: ""
      friendly_name:
        description: PKCS#12 alias (pgjdbc looks up V(user)).
        type: str
        default: user
  chain_path:
    description:
      - CA certificates (PEM, one or several) put into PKCS#12 outputs, the one that issued the certificate first.
    type: path
  pre_save_command:
    description: Command run before a renewed certificate is saved (through C(/bin/sh -c)); a failure saves nothing.
    type: str
    default: ""
  post_save_command:
    description: Command run after saving, e.g. to reload the service; a failure is reported as C(POST_SAVE_FAILED).
    type: str
    default: ""
  auto_renew:
    description: Renew when due; V(false) only reports.
    type: bool
    default: true
notes:
  - Install the C(certkeeper) command and its timer with the C(certkeeper.pki.cert_track) role.
seealso:
  - module: certkeeper.pki.cert_track_info
  - name: Tracking and renewal
    description: docs/cert_track.md in this collection.
    link: https://github.com/certkeeper/pki/blob/main/docs/cert_track.md
"""

EXAMPLES = r"""
- name: Track the PostgreSQL server certificate; its CA is on this host; reload after renewal
  certkeeper.pki.cert_track:
    id: postgresql-server
    cert_path: /etc/postgresql/15/main/server.crt
    key_path: /etc/postgresql/15/main/server.key
    ca: local
    ca_cert_path: /root/certkeeper-ca/root.crt
    ca_key_path: /root/certkeeper-ca/root.key
    key_owner: postgres
    key_group: postgres
    post_save_command: systemctl reload postgresql

- name: Request a certificate from the company CA through its certmonger-protocol helper
  certkeeper.pki.cert_track:
    id: web
    cert_path: /etc/pki/tls/certs/web.crt
    key_path: /etc/pki/tls/private/web.key
    ca: helper
    helper: /usr/local/libexec/example-ca-submit
    subject: CN=web.example.com
    subject_alt_names: [web.example.com]
    post_save_command: systemctl reload nginx

- name: Request a client certificate through SCEP with the one-time PIN (the CA added with cert_track_ca)
  certkeeper.pki.cert_track:
    id: app-client
    cert_path: /etc/pki/tls/certs/app-client.crt
    key_path: /etc/pki/tls/private/app-client.key
    ca: scep
    scep_ca: SCEP_example
    challenge: "{{ vault_scep_pin }}"
    subject: CN=app1
    profile: client

- name: Renew now with a new SAN
  certkeeper.pki.cert_track:
    id: web
    state: resubmit

- name: Stop tracking (the files stay)
  certkeeper.pki.cert_track:
    id: web
    state: absent
"""

RETURN = r"""
changes:
  description: What changed (or would in check mode), with the reason.
  returned: always
  type: list
  elements: dict
request:
  description: The request as C(certkeeper list --json) shows it (request_id, status, stuck, key_location, cert_location,
    ca, ca_name (a SCEP CA configuration), issuer, subject, expires, dns, ip, key_usage, eku, pre/post-save commands, track, auto_renew, last_error, outputs).
  returned: when O(state) is present or resubmit
  type: dict
outcome:
  description: What a request or renewal did in this call (id, action, status, message).
  returned: when a certificate was requested or renewed
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.certkeeper.pki.plugins.module_utils._host.module_shell import run_module
from ansible_collections.certkeeper.pki.plugins.module_utils._tracking.modules import (
    cert_track_argument_spec,
    run_cert_track,
)


def main():
    module = AnsibleModule(
        argument_spec=cert_track_argument_spec(),
        required_if=[("state", "present", ("cert_path", "key_path"))],
        supports_check_mode=True,
    )
    run_module(module, run_cert_track)


if __name__ == "__main__":
    main()
