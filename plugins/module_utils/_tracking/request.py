# -*- coding: utf-8 -*-
# Copyright (c) certkeeper.pki contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The tracked request, defined once: its options as users give them (REQUEST_OPTIONS, which the cert_track
module's argument spec, the ``certkeeper start-tracking`` options, the role's items and the record take),
one set of defaults, the record (TrackedRequest) and its checks, and its status names.

A request says where a certificate and its key live, how a renewal is signed (``ca``: a type of
``_ca/registry.py``, which declares the options it reads), which names to request, which derived files to
regenerate, what to run before and after saving, and the status of the last attempt, with certmonger's
status names where the meaning is the same."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
from dataclasses import asdict, dataclass, field
from typing import ClassVar

from .._ca.registry import CA_TYPES, ca_options, issuer_class
from .._core import crypto
from .._core.crypto import CertError
from .._core.cryptography_import import x509
from .._core.files import parse_mode, private_file_attributes
from .._core.option_specs import ID_PATTERN, KEY_OPTIONS, SUBJECT_ALT_NAMES_OPTION, VALIDITY_OPTIONS
from .._core.outputs import FORMATS, Output
from .._core.policy import check_days, check_renewal_window

# certmonger's names, plus PRE_SAVE_FAILED / POST_SAVE_FAILED / NEED_GUIDANCE for what it has no name for.
MONITORING = "MONITORING"
NEED_CA = "NEED_CA"  # ca: ansible - due, the next playbook run re-issues it through the CA host
CA_WORKING = "CA_WORKING"  # the CA helper asked to wait (cookie kept); polled on the next tick
CA_UNREACHABLE = "CA_UNREACHABLE"
CA_REJECTED = "CA_REJECTED"
CA_UNCONFIGURED = "CA_UNCONFIGURED"
NEED_GUIDANCE = "NEED_GUIDANCE"  # a tracked file is missing or unusable
PRE_SAVE_FAILED = "PRE_SAVE_FAILED"
POST_SAVE_FAILED = "POST_SAVE_FAILED"
STUCK = {CA_REJECTED, CA_UNCONFIGURED, NEED_GUIDANCE, PRE_SAVE_FAILED, POST_SAVE_FAILED}  # a person must act
STATUSES = (
    MONITORING,
    NEED_CA,
    CA_WORKING,
    CA_UNREACHABLE,
    CA_REJECTED,
    CA_UNCONFIGURED,
    NEED_GUIDANCE,
    PRE_SAVE_FAILED,
    POST_SAVE_FAILED,
)

# The challenge password is kept with the status: it is an input the CA spends (compared by its digest, never shown).
STATUS_FIELDS = ("status", "last_error", "last_attempt", "last_renewed", "ca_cookie", "challenge", "challenge_digest")

# The options of a request, as the cert_track module, the role's items and ``certkeeper start-tracking`` take
# them: argument-spec entries (``cli``: the command's flags; ``help``: its one line). The CA types add theirs.
REQUEST_OPTIONS: dict = dict(
    {
        "cert_path": {"type": "path", "cli": ("-f", "--cert"), "help": "certificate file (PEM)"},
        "key_path": {"type": "path", "no_log": False, "cli": ("-k", "--key"), "help": "private key file"},
        "ca": {
            "type": "str",
            "default": "self_sign",
            "choices": list(CA_TYPES),
            "cli": ("-c", "--ca"),
            "help": "how renewals are signed",
        },
        "subject": {"type": "str", "cli": ("-N", "--subject"), "help": "subject to request (default: the current one)"},
        **SUBJECT_ALT_NAMES_OPTION,
        "profile": {"type": "str", "default": "server", "choices": list(crypto.PROFILE_NAMES), "cli": ("--profile",)},
        **KEY_OPTIONS,
        "rotate_key": {"type": "bool", "default": True},
        "renew_before": dict(VALIDITY_OPTIONS["renew_before"], cli=("--renew-before",), help="days"),
        "renew_fraction": {"type": "float", "default": 1 / 3},
        "valid_days": dict(VALIDITY_OPTIONS["valid_days"], cli=("--valid-days",), help="ca local/self_sign"),
        "key_owner": {"type": "str", "default": "root", "no_log": False},
        "key_group": {"type": "str", "default": "root", "no_log": False},
        "key_mode": {"type": "str", "default": "0600", "no_log": False},
        "cert_mode": {"type": "str", "default": "0644"},
        "outputs": {
            "type": "list",
            "elements": "dict",
            "default": [],
            "options": {
                "path": {"type": "path", "required": True},
                "format": {"type": "str", "required": True, "choices": list(FORMATS)},
                "password": {"type": "str", "default": "", "no_log": True},
                "friendly_name": {"type": "str", "default": "user"},
            },
        },
        "chain_path": {"type": "path"},
        "pre_save_command": {"type": "str", "default": "", "cli": ("-B", "--pre-save")},
        "post_save_command": {"type": "str", "default": "", "cli": ("-C", "--post-save")},
        "auto_renew": {"type": "bool", "default": True},
    },
    **ca_options(),
)
_ARGUMENT_SPEC_KEYS = ("type", "default", "choices", "elements", "options", "no_log", "required")


def _default(name: str):
    return REQUEST_OPTIONS[name]["default"]


def argument_spec() -> dict:
    """The request's options as an Ansible argument spec (the cert_track module's, besides id/state/store)."""
    return {
        name: {key: value for key, value in spec.items() if key in _ARGUMENT_SPEC_KEYS}
        for name, spec in REQUEST_OPTIONS.items()
    }


def request_from_options(request_id: str, options: dict) -> TrackedRequest:
    """The record of a request given as options (a module's params, a role item): None means the default."""
    given = {name: options[name] for name in REQUEST_OPTIONS if options.get(name) is not None}
    given["key_size"] = given.get("key_size") or crypto.KeySpec.default_size(
        given.get("key_type", _default("key_type"))
    )
    given["outputs"] = [dict(o) for o in given.get("outputs", [])]
    return TrackedRequest(id=request_id, **given)


def challenge_digest(challenge: str, salt: bytes | None = None) -> str:
    """``salt:PBKDF2-SHA256`` of a challenge password, to tell a new one from the one given before once it is spent
    (salted and slow: a short PIN is not read back from it)."""
    salt = salt if salt is not None else os.urandom(16)
    digest = hashlib.pbkdf2_hmac("sha256", challenge.encode("utf-8"), salt, 100_000)
    return "%s:%s" % (salt.hex(), digest.hex())


def _same_challenge(digest: str, challenge: str) -> bool:
    salt, _sep, _digest = digest.partition(":")
    try:
        return hmac.compare_digest(digest, challenge_digest(challenge, bytes.fromhex(salt)))
    except ValueError:
        return False


def request_id_for(prefix: str, cert_path: str) -> str:
    """The id of the request that tracks ``cert_path``: a request is tied to its certificate, as certmonger's
    are, so two certificates on one machine never share a record. Readable (``prefix-etc-app-client.crt``)
    and made unique by a digest of the exact path."""
    readable = re.sub(r"[^A-Za-z0-9_.@]+", "-", cert_path.strip("/"))[-80:].strip("-.")
    return "%s-%s-%s" % (prefix, readable, hashlib.sha256(cert_path.encode("utf-8")).hexdigest()[:8])


def validate_id(request_id) -> str:
    if not isinstance(request_id, str) or not ID_PATTERN.match(request_id):
        raise CertError(
            "id %r must be 1-128 letters, digits, '_', '.', '@' or '-', starting with a letter or digit" % (request_id,)
        )
    return request_id


class TrackedRecord:
    """What every record of the store shares (a certificate's request, a CRL): a status, whether a person must act,
    and the settings beside the status fields (``status_fields``, declared by each record's dataclass)."""

    status_fields: ClassVar[tuple]

    @property
    def stuck(self) -> bool:
        return self.status in STUCK  # type: ignore[attr-defined]

    def settings(self) -> dict:
        """What the user asked for, without the status fields: equal settings mean nothing to change."""
        data = asdict(self)  # type: ignore[call-overload]
        for name in self.status_fields:
            data.pop(name)
        return data

    def keep_status(self, existing) -> str:
        """Take the status fields of the stored record ``existing`` (None: there is none, this record is new); a
        reason to save it all the same when an input it carries with its status is new, else ""."""
        if existing is not None:
            for name in self.status_fields:
                setattr(self, name, getattr(existing, name))
        return ""


@dataclass
class TrackedRequest(TrackedRecord):
    """One tracked certificate. Everything but the status fields is what the user asked for."""

    status_fields: ClassVar[tuple] = STATUS_FIELDS
    store_dir: ClassVar[str] = "requests"

    id: str
    cert_path: str
    key_path: str
    ca: str = _default("ca")
    ca_cert_path: str = ""
    ca_key_path: str = ""
    helper: str = ""
    subject: str = ""  # RFC 4514; empty: keep the current certificate's subject
    subject_alt_names: list = field(default_factory=list)
    profile: str = _default("profile")
    key_type: str = _default("key_type")
    key_size: int = crypto.KeySpec.size  # the default key_type's default size
    rotate_key: bool = _default("rotate_key")
    renew_before: int = _default("renew_before")
    renew_fraction: float = _default("renew_fraction")
    valid_days: int = _default("valid_days")
    key_owner: str = _default("key_owner")
    key_group: str = _default("key_group")
    key_mode: str = _default("key_mode")
    cert_mode: str = _default("cert_mode")
    outputs: list = field(default_factory=list)  # dicts of Output fields, passwords included (root-only store)
    chain_path: str = ""  # CA certificate to put in PKCS#12 outputs
    pre_save_command: str = ""
    post_save_command: str = ""
    auto_renew: bool = _default("auto_renew")
    scep_ca: str = ""
    # status of the last attempt
    status: str = MONITORING
    last_error: str = ""
    last_attempt: str = ""
    last_renewed: str = ""
    ca_cookie: str = ""
    challenge: str = ""  # the CA's challenge password until it is spent (ca scep)
    challenge_digest: str = ""  # of the last one given (challenge_digest), kept once it is spent

    def keep_status(self, existing) -> str:
        """Also: a challenge password given is kept with its digest when it is not the one given before."""
        given = self.challenge
        super().keep_status(existing)
        if given and (existing is None or not _same_challenge(existing.challenge_digest, given)):
            self.challenge, self.challenge_digest = given, challenge_digest(given)
            return "a new challenge password" if existing is not None else ""
        return ""

    def output_list(self) -> list:
        return [Output(**o) for o in self.outputs]

    def reset_status(self) -> bool:
        """Back to MONITORING (a playbook run installed a certificate); False when it was there already."""
        if (self.status, self.last_error, self.ca_cookie) == (MONITORING, "", ""):
            return False
        self.status, self.last_error, self.ca_cookie = MONITORING, "", ""
        return True

    def shown(self) -> str:
        """The settings for --diff, passwords left out."""
        settings = self.settings()
        settings["outputs"] = [o.public() for o in self.output_list()]
        return json.dumps(settings, indent=2, sort_keys=True) + "\n"

    def public(self) -> dict:
        """The record as listings show it: outputs without passwords."""
        data = asdict(self)
        data["outputs"] = [o.public() for o in self.output_list()]
        data["stuck"] = self.stuck
        del data["challenge"], data["challenge_digest"]
        return data

    def validate(self) -> TrackedRequest:
        validate_id(self.id)
        issuer_class(self.ca).check(self)
        if self.profile not in crypto.PROFILE_NAMES:
            raise CertError("profile must be one of %s, got %r" % (", ".join(crypto.PROFILE_NAMES), self.profile))
        for option in ("cert_path", "key_path"):
            if not os.path.isabs(getattr(self, option) or ""):
                raise CertError("%s must be an absolute path, got %r" % (option, getattr(self, option)))
        check_days(self.renew_before, "renew_before")
        check_days(self.valid_days, "valid_days")
        check_renewal_window(self.renew_before, self.valid_days)
        if not 0 < self.renew_fraction < 1:
            raise CertError(
                "renew_fraction must be between 0 and 1 (one third renews with a third of the "
                "lifetime left), got %r" % (self.renew_fraction,)
            )
        crypto.KeySpec(self.key_type, self.key_size)
        private_file_attributes(self.key_owner, self.key_group, self.key_mode, "key")
        if parse_mode(self.cert_mode, "cert_mode") & 0o022:
            raise CertError(
                "cert_mode %s lets others rewrite the certificate (and so the names renewed); use 0644" % self.cert_mode
            )
        if not self.subject:
            raise CertError("subject is required (or start tracking an existing certificate, whose names are used)")
        try:
            x509.Name.from_rfc4514_string(self.subject)
        except ValueError:
            raise CertError(
                "subject %r is not a distinguished name such as CN=db1.example.com" % self.subject
            ) from None
        crypto.parse_subject_alt_names(self.subject_alt_names)
        self.output_list()  # validates formats
        return self


@dataclass
class UnreadableRecord:
    """A record file that could not be read; reported in its request's place."""

    id: str
    error: str


def shown(record) -> str:
    """A record's settings for --diff (a request's without passwords), or that it is not tracked."""
    return "not tracked\n" if record is None else record.shown()
