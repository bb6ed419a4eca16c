"""The pg_mtls_certs options as the module hands them to its work: every option of the argument spec, with its
default (None where it has none), so that calls without Ansible see what a module run sees."""

from __future__ import annotations

from ansible_collections.certkeeper.pki.plugins.module_utils._pg_mtls.arguments import ARGUMENT_SPEC

DEFAULTS = {name: option.get("default") for name, option in ARGUMENT_SPEC.items()}
