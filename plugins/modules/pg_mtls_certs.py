#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) certkeeper.pki contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: pg_mtls_certs
short_description: PostgreSQL mutual TLS keys and certificates for one host (CA, server or client)
version_added: 0.1.0
description:
  - Makes and keeps the files of the PostgreSQL mutual TLS procedure on one host, with a dedicated CA key
    instead of the vendor procedure's reuse of C(server.key).
  - O(role=ca) keeps C(root.key) and the self-signed C(root.crt) in a root-only directory and signs
    certificate signing requests in one batch (O(sign)).
  - The CA keeps the index of every certificate it issued and revoked (C(index.json), root-only, beside C(root.key))
    and publishes its certificate revocation list (C(root.crl), V(0644)) in the same directory. It revokes by identity
    (O(revoke), O(rekey)) and re-signs the CRL when it changes or when less than a third of its validity
    (O(crl_valid_days)) is left, so that a CRL that is checked regularly never lapses. A server or client given the CRL
    (O(crl)) keeps it as C(root.crl) and replaces a certificate it lists, with a new key.
  - O(role=server) keeps C(server.key), C(server.crt) (EKU serverAuth, CN and SANs) and C(root.crt), and
    optionally the SSL settings block of C(postgresql.conf) and the C(hostssl) block of C(pg_hba.conf).
  - O(role=client) keeps C(client.key), C(client.crt) (EKU clientAuth, CN = database user), C(root.crt),
    C(client.pk8) (PKCS#8 DER, for JDBC), C(client.pem.pk8) (PKCS#8 PEM) and C(client.pfx)
    (PKCS#12 with alias C(user), for .NET and JDBC).
  - Private keys are made on the host that uses them and never returned. When a certificate must be
    (re)issued and the CA is on another host, the module returns a CSR (RV(csr)); the CA host signs it
    and a second call hands the certificate in through O(certificate).
  - Decides from the files themselves; every change carries a reason (missing, corrupt, key does not
    match, not issued by this CA, CN/SAN changed, within the renewal window, wrong format, owner/mode)
    that check mode and C(--diff) show.
  - After a run that leaves the directory complete and verified, records a root-only stamp
    (C(.certkeeper-stamp.json)) of every file's inode, size, times, owner and mode, an HMAC (keyed with
    the private key) of the options and of the code, and when the first certificate falls due. A later
    call with the same options on unmoved files, before that moment and with the same code, returns the
    recorded result. Anything else verifies every file again.
  - With pipelining on, the action plugin validates the arguments on the controller and runs one short
    program on the host instead of the module, over the same connection, user and interpreter. The program
    answers from the stamp, or else does the same work with this collection's module_utils (sent with it) in the
    same process, and its result is reported as the module reports its own. A call costs the host a
    fraction of a module run. Without pipelining, with C(~) or C($) in a path, or on a host without
    C(cryptography), the module runs. See docs/pg_mtls.md.
  - Files are written atomically with their final owner and mode set before content; when a write
    fails, every existing file stays as it was.
author:
  - certkeeper.pki contributors (@certkeeper)
extends_documentation_fragment:
  - certkeeper.pki.attributes
  - certkeeper.pki.private_key
  - certkeeper.pki.server_validity
attributes:
  check_mode:
    support: full
    details: Reports every change and its reason; writes nothing.
  diff_mode:
    support: full
    details: Shows each file before and after; key material is described, never shown.
  idempotent:
    support: full
    details: A second run with the same options changes nothing and rewrites no file.
  safe_file_operations:
    support: full
    details: Temp file in the same directory with final owner and mode, fsync, rename.
options:
  role:
    description: Which part of the procedure this host plays.
    type: str
    required: true
    choices: [ca, server, client]
  path:
    description:
      - Directory of the files. For O(role=ca) the CA directory (made root-only, 0700); otherwise the
        directory of C(server.*) or C(client.*), C(root.crt) and C(root.crl). Created when missing.
    type: path
    required: true
  common_name:
    description:
      - CN of the certificate. The server's FQDN for O(role=server); the PostgreSQL role the client
        logs in as for O(role=client). Required unless O(role=ca).
    type: str
  subject_alt_names:
    description:
      - Subject alternative names of the server certificate, as C(DNS:name), C(IP:address), or bare
        names and addresses. Wildcards only as the whole left-most label (C(*.example.com)).
      - For O(role=server) the O(common_name) is always included.
    type: list
    elements: str
    default: []
  ca_certificate:
    description:
      - PEM of the CA certificate the host's certificate must chain to (the CA host returns it as
        RV(ca_certificate)). Written to C(root.crt).
      - Required for O(role=server) and O(role=client) unless O(ca_path) is set.
      - While the CA key rolls over (O(ca_generation)), the CA that signs now; C(root.crt) holds O(ca_bundle).
    type: str
  ca_bundle:
    description:
      - PEM of every CA C(root.crt) holds (the CA call returns it as RV(ca_bundle)). Defaults to O(ca_certificate)
        alone. It must hold the CA that signs (O(ca_certificate), or the CA in O(ca_path)), each CA once.
      - While a CA key rolls over it holds both CAs, so that certificates of either are trusted. A certificate
        issued by another CA of the bundle than the one that signs is replaced for the same key.
    type: str
    version_added: 0.3.0
  ca_path:
    description:
      - CA directory on this same host. The CA is created there when missing and this host's
        certificate is signed in the same call, so no CSR travels.
      - The certificate signed here is recorded in the CA index under O(identity), and the CA's CRL is re-signed
        when it is due, as by an O(role=ca) call.
    type: path
  identity:
    description:
      - With O(ca_path), the identity the CA index records this host's certificates under, as O(sign[].name) does for
        the others (the inventory host), so that O(revoke) and O(rekey) find them by that name. Defaults to
        O(common_name).
    type: str
    version_added: 0.3.0
  ca_common_name:
    description: CN of the self-signed CA certificate.
    type: str
    default: certkeeper.pki PostgreSQL CA
  ca_valid_days:
    description: Validity of the CA certificate, in days.
    type: int
    default: 3650
  ca_renew_before:
    description:
      - Reissue the CA certificate (from the same CA key) when fewer than this many days of its validity are left.
        Defaults to O(renew_before).
    type: int
  ca_key_type:
    description:
      - Key type of a new CA, and of the next generation when O(ca_generation) is raised (an existing CA key is
        never replaced otherwise; a different one only warns). Defaults to O(key_type).
    type: str
    choices: [rsa, ecdsa]
  ca_key_size:
    description: Key size of a new CA; defaults to O(key_size) when O(ca_key_type) is unset, else 2048 (RSA) or 256 (ECDSA).
    type: int
  ca_generation:
    description:
      - For O(role=ca), the CA generation asked for. One more than the CA's starts a rollover to a new CA key
        (O(ca_key_type), O(ca_key_size)), carried out over the next O(role=ca) calls, each at the start of a run.
      - Step 1, the new CA is made in C(next/) beside the one in force, which keeps signing; RV(ca_bundle) and RV(crl)
        hold both CAs. Step 2, once every host of O(rollover_hosts) confirmed it holds both (O(rollover_report)), the
        new CA moves to C(root.key)/C(root.crt) and signs, the old one to C(previous/). Step 3, once every host of
        O(rollover_hosts) not in O(rollover_waive) confirmed a certificate of the new CA (O(rollover_report)), the
        old CA leaves the bundle and its files move to C(archive/g<N>-<key digest>/).
      - Lower than the CA's, more than one above it, or another value or key while a rollover runs, is an error and
        nothing changes. A run cut short in a step is completed by the next call.
    type: int
    default: 1
    version_added: 0.3.0
  rollover_hosts:
    description:
      - For O(role=ca), the hosts a CA rollover waits for (the C(pg_mtls) role gives every host of the servers' and
        clients' groups of the inventory, whatever C(--limit) says). A rollover without them is refused.
    type: list
    elements: str
    default: []
    version_added: 0.3.0
  rollover_waive:
    description:
      - For O(role=ca), hosts of O(rollover_hosts) step 3 of a CA rollover does not wait for.
    type: list
    elements: str
    default: []
    version_added: 0.3.0
  rollover_report:
    description:
      - For O(role=ca), what the hosts of a run confirmed once their files were in place and PostgreSQL reloaded
        (filter P(certkeeper.pki.pg_mtls_rollover_report#filter)). Recorded in C(rollover.json), nothing else; a step
        moves on at the next call. A report of another generation or phase counts for nothing; a serial the index
        holds for another host, or from the old CA, is not counted.
      - Work to do, never answered from the stamp; no O(sign), O(revoke) or O(rekey) in the same call.
    type: dict
    version_added: 0.3.0
    suboptions:
      generation:
        description: The generation RV(rollover) named.
        type: int
        required: true
      phase:
        description: The phase RV(rollover) named.
        type: str
        required: true
      hosts:
        description: Each host that succeeded, mapped to the serial number (hex) of the certificate it presents.
        type: dict
        default: {}
  ca_reissue:
    description:
      - When C(root.crt) is missing or unreadable beside an intact CA key, certify the same key anew (a warning
        gives the new SHA-256 fingerprint). Certificates already issued keep verifying (same key, same name).
      - When V(false), such a call fails naming the file and changes nothing, since a trust anchor that other
        systems may have pinned is restored from a backup, not replaced behind the operator's back.
    type: bool
    default: false
  certificate:
    description:
      - PEM certificate the CA issued for this host's RV(csr). It must match this host's key, chain to
        O(ca_certificate) and carry the requested names, or the module fails and changes nothing.
    type: str
  sign:
    description:
      - For O(role=ca), the signing requests to serve in this call. Names come from here (the inventory),
        never from the CSR, which only proves possession of the key.
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: Key of this request in RV(certificates), usually the inventory host name.
        type: str
        required: true
      csr:
        description: PEM certificate signing request.
        type: str
        required: true
      profile:
        description: V(server) (EKU serverAuth) or V(client) (EKU clientAuth).
        type: str
        required: true
        choices: [server, client]
      common_name:
        description: CN to issue.
        type: str
        required: true
      subject_alt_names:
        description: SANs to issue, as for O(subject_alt_names).
        type: list
        elements: str
        default: []
      valid_days:
        description: Validity of this certificate in days; defaults to O(valid_days).
        type: int
  revoke:
    description:
      - For O(role=ca), identities whose current certificates (not expired, not revoked yet) the CA revokes in this
        call, and for which it signs nothing while they are listed here (their O(sign) entries are refused, in
        RV(refused)). Taking a name off the list does not un-revoke anything; it lets the CA sign for it again.
      - Each name is an inventory host the CA signed for (the O(sign) entry's O(sign[].name)) or a database user or
        server name (the certificate's CN). A name the CA never issued a certificate to, or the CA's own CN, fails the
        call, and nothing is written.
      - Listing the same names again changes nothing.
    type: list
    elements: dict
    default: []
    version_added: 0.2.0
    suboptions:
      name:
        description: The identity, an inventory host or a CN.
        type: str
        required: true
      reason:
        description: The RFC 5280 reason the CRL gives.
        type: str
        default: unspecified
        choices: [unspecified, keyCompromise, affiliationChanged, superseded, cessationOfOperation, privilegeWithdrawn]
      serial:
        description:
          - The serial number (hex, as C(openssl x509 -noout -serial) prints it; colons allowed) of one certificate of
            O(revoke[].name) to revoke, in place of its current ones. For a certificate the CA issued before it kept
            an index (version 0.1). The index then records it as issued to O(revoke[].name) and revoked, listed by
            the CRL until the CA certificate expires (its own expiry is not known). A serial the index holds for
            another identity fails the call.
        type: str
        version_added: 0.3.0
  rekey:
    description:
      - For O(role=ca), identities that must get a new key and certificate after an incident. The first call that
        sees a name with a new O(rekey[].token) revokes its current certificates with the reason V(keyCompromise)
        and notes the token in the CA index; the same token again does nothing. Unlike O(revoke), the identity's
        O(sign) entries are signed (its new key's CSR), and a name the CA has no certificate of yet only has its token
        noted.
      - The host itself gets its new key when it is given the CRL (O(crl)), which lists its old certificate. The CA
        never certifies the key of a revoked certificate again.
    type: list
    elements: dict
    default: []
    version_added: 0.2.0
    suboptions:
      name:
        description: The identity, as for O(revoke[].name).
        type: str
        required: true
      token:
        description: A word that names the incident (its date, a ticket).
        type: str
        required: true
  crl_valid_days:
    description:
      - Validity of the CRL the CA signs, in days. The CRL is signed anew once less than a third of it is left, so a
        check more often than that keeps the CRL that servers and clients hold current.
      - Used by O(role=ca) and by a call with O(ca_path).
    type: int
    default: 30
    version_added: 0.2.0
  crl:
    description:
      - For O(role=server) and O(role=client), the PEM CRL the CA call returned (RV(crl)), kept as C(root.crl) in
        O(path) with the owner and mode of C(root.crt) and rewritten only when it differs. PostgreSQL reads it through
        C(ssl_crl_file), libpq through C(sslcrl).
      - It must be signed by the CA of O(ca_certificate) (or of O(ca_path)), or the call fails and changes nothing.
        With O(ca_bundle), it holds one CRL of each CA of the bundle, concatenated (PostgreSQL refuses the
        certificates of a trusted CA without its CRL).
      - When it lists this host's certificate, the certificate is due (RV(certificate_reasons) says it is revoked, and
        why) and a new key is made whatever O(rotate_key) says; the CSR (or, with O(ca_path), the certificate) follows
        as for any due certificate.
    type: str
    version_added: 0.2.0
  valid_days:
    description: Validity of issued server and client certificates, in days (capped at the CA's own expiry).
    type: int
    default: 365
  renew_before:
    description: Reissue a certificate when fewer than this many days of validity are left.
    type: int
    default: 30
  rotate_key:
    description:
      - The key policy. V(true) gives a certificate that is replaced (due, renamed, from another CA) a new key (it waits
        as C(<key>.pending) until its certificate arrives, then both replace the old pair together); a missing
        certificate is issued for the key in place. V(false) keeps the key for as long as it is sound. The
        tracking record gets the same policy, so the certkeeper timer's renewals follow it too. A key of the wrong
        type or size, missing or corrupt is replaced either way.
    type: bool
    default: true
  key_owner:
    description:
      - Owner of the private key files (C(server.key); C(client.key), C(client.pk8), C(client.pem.pk8),
        C(client.pfx)). The CA key is always C(root:root 0600).
    type: str
    default: root
  key_group:
    description: Group of the private key files.
    type: str
    default: root
  key_mode:
    description:
      - Mode of the private key files, as an octal string. Defaults to V(0600) for O(role=server)
        (what PostgreSQL requires unless the key is owned by root with group read, V(0640)) and to
        V(0640) for O(role=client), as in the vendor procedure.
    type: raw
  pfx_password:
    description: Password of C(client.pfx). Empty by default, as in the vendor procedure.
    type: str
    default: ""
  pfx_friendly_name:
    description: Alias (friendly name) of the key entry in C(client.pfx); pgjdbc looks up V(user).
    type: str
    default: user
  postgresql_conf:
    description:
      - For O(role=server), the C(postgresql.conf) that gets O(postgresql_conf_block) as a marked block at
        its end, where its settings win. The rest of the file is kept.
    type: path
  postgresql_conf_block:
    description: Settings to keep in the marked block of O(postgresql_conf).
    type: str
  pg_hba_conf:
    description:
      - For O(role=server), the C(pg_hba.conf) that gets O(pg_hba_block) as a marked block at its top,
        so its rules match before the user's own rules, which are kept.
    type: path
  pg_hba_block:
    description:
      - Rules to keep in the marked block of O(pg_hba_conf), one per line.
      - Each line must be C(hostssl <database> <user> <address> cert [options]), a comment or blank; any other line
        (another method, C(host), C(local), a C(#) inside a rule, a quote, a backslash, a character outside
        printable ASCII) fails the call naming it, before any file is read or written.
      - C(database) is V(all), V(sameuser), V(samerole), V(replication) or a name, or a comma list of those; C(user)
        is V(all), a name or C(+name), or a comma list of those (a name is 1 to 63 of C(A-Z a-z 0-9 _ . $ -), not
        starting with C(.), C($) or C(-)); C(address) is an IP address with a CIDR mask, V(all), V(samehost),
        V(samenet) or a host name (V(.example.com) for a domain); the options are V(clientcert=verify-full),
        V(clientname=CN) or V(clientname=DN), C(map=<name>), each at most once.
      - The block is kept above every rule of the file (a block found below a rule is moved to the top). Markers
        out of order (a BEGIN without END, an END first, two BEGINs) or any line but a C(hostssl ... cert) rule, a
        comment or a blank between them fail the call naming the lines, and the file is left as it is.
    type: str
  track:
    description:
      - Register the certificate for renewal in the host's certkeeper tracking store (see the C(cert_track) role),
        in this same call. On the CA host (O(ca_path)) the timer renews it itself (C(ca=local)) and runs
        O(track.post_save_command); elsewhere it reports the certificate as due (C(NEED_CA)) and the next playbook
        run re-issues it. Client records regenerate C(client.pk8), C(client.pem.pk8) and C(client.pfx).
    type: dict
    suboptions:
      store:
        description: Tracking store directory.
        type: path
        default: /var/lib/certkeeper
      id:
        description:
          - Request ID. By default one per certificate, made from its path (C(pg_mtls-<role>-<path>-<digest>)), so two
            identities on one machine never share a record; a record of an earlier version (C(pg_mtls-<role>)) for
            this same certificate is moved to it with its status.
        type: str
      post_save_command:
        description: Command run after a renewal, e.g. to reload PostgreSQL.
        type: str
        default: ""
notes:
  - Requires the C(cryptography) Python library (42 or newer) on the managed host.
  - The CA key is never replaced once it exists; a corrupt CA key is an error to resolve by hand. Neither is the CA
    index, which is restored from a backup when it cannot be read (a new empty one would take every revocation out of
    the CRL).
seealso:
  - name: Vendor procedure (seed 002) and how the role maps it
    description: docs/pg_mtls.md in this collection.
    link: https://github.com/certkeeper/pki/blob/main/docs/pg_mtls.md
"""

EXAMPLES = r"""
- name: CA and the server's own certificate on the first PostgreSQL server, in one call
  certkeeper.pki.pg_mtls_certs:
    role: server
    path: /etc/postgresql/15/main
    ca_path: /root/certkeeper-ca
    common_name: db1.example.com
    subject_alt_names: [IP:10.0.0.5]
    key_owner: postgres
    key_group: postgres
  register: server_tls
  when: inventory_hostname in groups['pg_servers']

- name: Client key and CSR; files that need no CA are written now
  certkeeper.pki.pg_mtls_certs:
    role: client
    path: /etc/certkeeper/postgresql
    common_name: app
    ca_certificate: "{{ hostvars['db1'].server_tls.ca_certificate }}"
  register: client_tls
  when: inventory_hostname in groups['pg_clients']

- name: Sign every pending CSR in one call on the CA host
  certkeeper.pki.pg_mtls_certs:
    role: ca
    path: /root/certkeeper-ca
    sign:
      - name: app1
        csr: "{{ hostvars['app1'].client_tls.csr }}"
        profile: client
        common_name: app
  delegate_to: db1
  run_once: true
  register: signed

- name: Install the issued certificate with all client formats
  certkeeper.pki.pg_mtls_certs:
    role: client
    path: /etc/certkeeper/postgresql
    common_name: app
    ca_certificate: "{{ hostvars['db1'].server_tls.ca_certificate }}"
    certificate: "{{ signed.certificates[inventory_hostname] }}"
  when: inventory_hostname in groups['pg_clients'] and client_tls.certificate_needed

- name: Revoke app1's certificate (its key leaked) and publish the CRL
  certkeeper.pki.pg_mtls_certs:
    role: ca
    path: /root/certkeeper-ca
    revoke:
      - name: app1
        reason: keyCompromise
    crl_valid_days: 30
  delegate_to: db1
  run_once: true
  register: ca_crl

- name: Give the client the CRL; the host whose certificate it lists makes a new key and returns its CSR
  certkeeper.pki.pg_mtls_certs:
    role: client
    path: /etc/certkeeper/postgresql
    common_name: app
    ca_certificate: "{{ hostvars['db1'].server_tls.ca_certificate }}"
    crl: "{{ ca_crl.crl }}"
  when: inventory_hostname in groups['pg_clients']

# A new CA key (docs/pg_mtls.md, Changing the CA key; the pg_mtls role does all of this): the first CA call of a run
# moves the rollover on by one step; every host then gets both CAs, and reports back once they are in place.
- name: Start a rollover to an ECDSA CA key (step 1 of 3; the CA keeps signing with the old key)
  certkeeper.pki.pg_mtls_certs:
    role: ca
    path: /root/certkeeper-ca
    ca_generation: 2
    ca_key_type: ecdsa
    rollover_hosts: "{{ groups['pg_servers'] + groups['pg_clients'] }}"
  delegate_to: db1
  run_once: true
  register: ca_rollover

- name: Trust both CAs on the client (root.crt bundle, a CRL of each in root.crl, both in client.pfx's chain)
  certkeeper.pki.pg_mtls_certs:
    role: client
    path: /etc/certkeeper/postgresql
    common_name: app
    ca_certificate: "{{ ca_rollover.ca_certificate }}"
    ca_bundle: "{{ ca_rollover.ca_bundle }}"
    crl: "{{ ca_rollover.crl }}"
  register: client_trust
  when: inventory_hostname in groups['pg_clients']

- name: Record that the clients hold both CAs; the next run's first CA call then lets the new CA sign
  certkeeper.pki.pg_mtls_certs:
    role: ca
    path: /root/certkeeper-ca
    ca_generation: 2
    ca_key_type: ecdsa
    rollover_hosts: "{{ groups['pg_servers'] + groups['pg_clients'] }}"
    rollover_report: >-
      {{ ansible_play_hosts | certkeeper.pki.pg_mtls_rollover_report(hostvars, ca_rollover.rollover, ['client_trust']) }}
  delegate_to: db1
  run_once: true
"""

RETURN = r"""
changes:
  description: What changed (or would change in check mode), one entry per file, with the reason.
  returned: always
  type: list
  elements: dict
  sample: [{"path": "/etc/certkeeper/postgresql/client.pk8", "action": "write", "reason": "missing"}]
certificate_needed:
  description: True when this host needs a certificate from a CA on another host; RV(csr) holds the request.
  returned: when O(role) is server or client
  type: bool
csr:
  description: PEM certificate signing request for this host's key, when RV(certificate_needed).
  returned: when a certificate must be issued
  type: str
certificate_reasons:
  description: Why a certificate is (re)issued, for example V(missing) or V(expires on ..., within the renewal window of 30 days).
  returned: when O(role) is server or client
  type: list
  elements: str
refused:
  description:
    - For O(role=ca) with O(sign), the requests the CA did not sign, by name, with the reason (a CSR that does not verify,
      a key below RSA-2048 or P-256, a bad name). The other requests of the batch are signed.
  returned: when O(role) is ca
  type: dict
  sample: {app3: "request 'app3': the CSR's key is RSA-1024; RSA keys must have at least 2048 bits; the CA does not certify it"}
tracking_id:
  description: The id of the tracking record of this host's certificate (C(certkeeper list)).
  returned: when O(track) is set and O(role) is server or client
  type: str
  sample: pg_mtls-client-etc-certkeeper-postgresql-client.crt-1a2b3c4d
certificate:
  description: Public facts of the certificate in force after this call (subject, issuer, serial_number,
    not_before, not_after, subject_alt_names, fingerprint_sha256).
  returned: when a certificate is in force
  type: dict
ca_certificate:
  description: PEM of the CA certificate; hand it to other hosts as O(ca_certificate).
  returned: when O(role=ca) or O(ca_path) is set
  type: str
certificates:
  description: For O(role=ca), the issued PEM certificates keyed by request name.
  returned: when O(role=ca)
  type: dict
crl:
  description:
    - PEM of the CA's CRL as this call leaves it; hand it to servers and clients as O(crl).
    - While a CA key rolls over, one CRL of each CA of RV(ca_bundle), in its order.
  returned: when O(role=ca)
  type: str
  version_added: 0.2.0
ca_bundle:
  description: PEM of every CA the hosts trust (the CA, or both CAs while its key rolls over); hand it over as
    O(ca_bundle).
  returned: when O(role=ca)
  type: str
  version_added: 0.3.0
rollover:
  description:
    - Where a CA key rollover stands. C(generation), C(phase) (C(trust), C(sign) or C(done)), C(step) (1 to 3,
      0 when none runs), C(trusted) (each CA of the bundle with C(generation), C(signs) and its certificate's facts),
      C(waiting_for) (hosts step 2 waits for) and C(holdouts) (host and what of the old CA it still holds).
  returned: when O(role=ca)
  type: dict
  sample: {"generation": 2, "phase": "sign", "step": 2, "waiting_for": [], "holdouts": {"app2": "serial 1f, expires 2027-03-01"}}
  version_added: 0.3.0
crl_next_update:
  description: When the CRL stops being valid (its nextUpdate), ISO 8601 UTC. It is re-signed well before.
  returned: when O(role=ca)
  type: str
  sample: "2027-04-01T12:00:00+00:00"
  version_added: 0.2.0
revoked:
  description:
    - The certificates this call revoked (through O(revoke) or O(rekey)), each with the identity it was issued to
      (C(name)), its serial number in hex (C(serial)) and the RFC 5280 reason (C(reason)). Empty on a rerun.
  returned: when O(role=ca)
  type: list
  elements: dict
  sample: [{"name": "app2", "serial": "3b1f0c9e5d", "reason": "keyCompromise"}]
  version_added: 0.2.0
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.certkeeper.pki.plugins.module_utils._core.stamp import recorded_result
from ansible_collections.certkeeper.pki.plugins.module_utils._host.module_shell import run_module
from ansible_collections.certkeeper.pki.plugins.module_utils._pg_mtls.arguments import ARGUMENT_RULES, ARGUMENT_SPEC


def run_full(params, check_mode):
    """Verify or change the files; cryptography is imported here, not when a stamp says nothing moved."""
    from ansible_collections.certkeeper.pki.plugins.module_utils._pg_mtls.run import run_pg_mtls_certs

    return run_pg_mtls_certs(params, check_mode)


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True, **ARGUMENT_RULES)
    run_module(module, run_full, recorded_result(module.params["path"], module.params))


if __name__ == "__main__":
    main()
