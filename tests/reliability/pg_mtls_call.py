"""One pg_mtls_certs call without Ansible, in a process of its own so that a test can kill it
(python pg_mtls_call.py '{"role": ...}'); prints the result, or the error, as JSON."""

from __future__ import annotations

import json
import sys

from ansible_collections.certkeeper.pki.plugins.module_utils.crypto import CertError
from ansible_collections.certkeeper.pki.plugins.module_utils.pg_mtls_module import run_pg_mtls_certs

DEFAULTS = dict(role=None, path=None, common_name=None, subject_alt_names=[], ca_certificate=None, ca_path=None,
                ca_common_name="certkeeper.pki PostgreSQL CA", ca_valid_days=3650, certificate=None, sign=[],
                key_type="rsa", key_size=None, valid_days=365, max_server_valid_days=398, renew_before=30,
                key_owner="root", key_group="root", key_mode=None, pfx_password="", pfx_friendly_name="user",
                postgresql_conf=None, postgresql_conf_block=None, pg_hba_conf=None, pg_hba_block=None, track=None)

if __name__ == "__main__":
    try:
        print(json.dumps(run_pg_mtls_certs(dict(DEFAULTS, **json.loads(sys.argv[1])), check_mode=False)))
    except CertError as exc:
        print(json.dumps({"failed": True, "msg": str(exc)}))
        sys.exit(1)
