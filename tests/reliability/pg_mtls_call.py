"""One pg_mtls_certs call without Ansible, in a process of its own so that a test can kill it
(python pg_mtls_call.py '{"role": ...}'); prints the result, or the error, as JSON."""

from __future__ import annotations

import json
import sys

from ansible_collections.certkeeper.pki.plugins.module_utils._core.crypto import CertError
from ansible_collections.certkeeper.pki.plugins.module_utils._pg_mtls.run import run_pg_mtls_certs
from tests.support.pg_mtls_options import DEFAULTS


if __name__ == "__main__":
    try:
        print(json.dumps(run_pg_mtls_certs(dict(DEFAULTS, **json.loads(sys.argv[1])), check_mode=False)))
    except CertError as exc:
        print(json.dumps({"failed": True, "msg": str(exc)}))
        sys.exit(1)
