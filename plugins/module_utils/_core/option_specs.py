# -*- coding: utf-8 -*-
# Copyright (c) certkeeper.pki contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Argument-spec entries several modules share, each defined once (their documentation is the doc fragment of
the same name under plugins/doc_fragments).

Standard library only: the action plugins validate arguments on the controller with these, in every
forked worker, where importing ``cryptography`` would cost each task tens of milliseconds."""

from __future__ import annotations

import re

DEFAULT_KEY_SIZES = {"rsa": 2048, "ecdsa": 256}  # the size a key type gets when none is asked for

# The private key a module makes (doc fragment private_key).
KEY_OPTIONS = {
    "key_type": {"type": "str", "default": "rsa", "choices": list(DEFAULT_KEY_SIZES)},
    "key_size": {"type": "int"},  # the type's default: crypto.KeySpec.default_size
}
# How long a certificate is valid and how early it is renewed.
VALIDITY_OPTIONS = {
    "valid_days": {"type": "int", "default": 365},
    "renew_before": {"type": "int", "default": 30},
}
# The cap on a TLS server certificate's lifetime that clients enforce (doc fragment server_validity).
SERVER_VALIDITY_OPTIONS = {"max_server_valid_days": {"type": "int", "default": 398}}
# RFC 5280 reasons a leaf may be revoked for (certificateHold is not final; removeFromCRL is for deltas), and how
# long a CRL is valid (_ca/revocation.py); here because an argument spec offers them.
REVOCATION_REASONS = (
    "unspecified",
    "keyCompromise",
    "affiliationChanged",
    "superseded",
    "cessationOfOperation",
    "privilegeWithdrawn",
)
DEFAULT_CRL_VALID_DAYS = 30
DEFAULT_STORE = "/var/lib/certkeeper"  # the tracking store a host keeps when none is named
# What names a record of the store (a request's id, a CA configuration's name): it is also its file name there.
ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,127}$")
SUBJECT_ALT_NAMES_OPTION = {"subject_alt_names": {"type": "list", "elements": "str", "default": []}}
