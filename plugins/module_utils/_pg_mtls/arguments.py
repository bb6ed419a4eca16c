# -*- coding: utf-8 -*-
# Copyright (c) certkeeper.pki contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The options of pg_mtls_certs: the module validates them on the host, its action plugin on the controller
(to hand the host's program the very options the module would work with, and to mask their no_log values)."""

from __future__ import annotations

from .._core.option_specs import (
    DEFAULT_CRL_VALID_DAYS,
    KEY_OPTIONS,
    REVOCATION_REASONS,
    SERVER_VALIDITY_OPTIONS,
    SUBJECT_ALT_NAMES_OPTION,
    VALIDITY_OPTIONS,
)

ARGUMENT_SPEC = dict(
    **KEY_OPTIONS,
    **VALIDITY_OPTIONS,
    **SERVER_VALIDITY_OPTIONS,
    **SUBJECT_ALT_NAMES_OPTION,
    role=dict(type="str", required=True, choices=["ca", "server", "client"]),
    path=dict(type="path", required=True),
    common_name=dict(type="str"),
    ca_certificate=dict(type="str"),
    ca_bundle=dict(type="str"),
    ca_path=dict(type="path"),
    identity=dict(type="str"),
    ca_common_name=dict(type="str", default="certkeeper.pki PostgreSQL CA"),
    ca_valid_days=dict(type="int", default=3650),
    ca_renew_before=dict(type="int"),
    ca_key_type=dict(type="str", choices=["rsa", "ecdsa"]),
    ca_key_size=dict(type="int"),
    ca_reissue=dict(type="bool", default=False),
    ca_generation=dict(type="int", default=1),
    rollover_hosts=dict(type="list", elements="str", default=[]),
    rollover_waive=dict(type="list", elements="str", default=[]),
    rollover_report=dict(
        type="dict",
        options=dict(
            generation=dict(type="int", required=True),
            phase=dict(type="str", required=True),
            hosts=dict(type="dict", default={}),
        ),
    ),
    certificate=dict(type="str"),
    sign=dict(
        type="list",
        elements="dict",
        default=[],
        options=dict(
            name=dict(type="str", required=True),
            csr=dict(type="str", required=True),
            profile=dict(type="str", required=True, choices=["server", "client"]),
            common_name=dict(type="str", required=True),
            **SUBJECT_ALT_NAMES_OPTION,
            valid_days=dict(type="int"),
        ),
    ),
    revoke=dict(
        type="list",
        elements="dict",
        default=[],
        options=dict(
            name=dict(type="str", required=True),
            reason=dict(type="str", default="unspecified", choices=list(REVOCATION_REASONS)),
            serial=dict(type="str"),
        ),
    ),
    rekey=dict(
        type="list",
        elements="dict",
        default=[],
        no_log=False,  # identities and incident words, no secret
        options=dict(name=dict(type="str", required=True), token=dict(type="str", required=True, no_log=False)),
    ),
    crl_valid_days=dict(type="int", default=DEFAULT_CRL_VALID_DAYS),
    crl=dict(type="str"),
    rotate_key=dict(type="bool", default=True),
    key_owner=dict(type="str", default="root", no_log=False),
    key_group=dict(type="str", default="root", no_log=False),
    key_mode=dict(type="raw", no_log=False),
    pfx_password=dict(type="str", default="", no_log=True),
    pfx_friendly_name=dict(type="str", default="user"),
    postgresql_conf=dict(type="path"),
    postgresql_conf_block=dict(type="str"),
    pg_hba_conf=dict(type="path"),
    pg_hba_block=dict(type="str"),
    track=dict(
        type="dict",
        options=dict(
            store=dict(type="path", default="/var/lib/certkeeper"),
            id=dict(type="str"),
            post_save_command=dict(type="str", default=""),
        ),
    ),
)

ARGUMENT_RULES = dict(
    required_if=[("role", "server", ("common_name",)), ("role", "client", ("common_name",))],
    required_together=[("postgresql_conf", "postgresql_conf_block"), ("pg_hba_conf", "pg_hba_block")],
    mutually_exclusive=[("ca_certificate", "ca_path")],
)
