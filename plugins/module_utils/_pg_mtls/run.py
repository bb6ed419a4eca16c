# -*- coding: utf-8 -*-
# Copyright (c) certkeeper.pki contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The pg_mtls_certs module's work, without Ansible: options in, plan applied, result out."""

from __future__ import annotations

import os
from dataclasses import asdict

from .._ca import local
from .._core import crypto, stamp_record
from .._core.config_blocks import plan_block
from .._core.crypto import CertError, KeySpec
from .._core.cryptography_import import NameOID, x509
from .._core.files import Plan, apply_plan, check_absolute_path, private_file_attributes, read_state
from .._core.pkcs12 import compatibility_warnings
from .._core.policy import check_days, check_renewal_window, due_at, server_validity_warnings
from .._tracking.request import NEED_CA, TrackedRequest, request_id_for, shown
from .._tracking.store import Store
from . import pg_hba
from .plan import (
    CA_CERT,
    CA_KEY,
    LEAF_NAMES,
    CARequest,
    LeafRequest,
    SigningRequest,
    client_outputs,
    pending_key_name,
    plan_ca,
    plan_leaf,
    sign_request,
)

DEFAULT_KEY_MODE = {"ca": "0600", "server": "0600", "client": "0640"}
_UNCHANGED = {"changed": False, "changes": [], "diff": []}  # what a run reports once nothing moved
CONFIG_BLOCK_NAME = "pg_mtls"


def _positive(params: dict, option: str) -> int:
    return check_days(params[option], option)


def _key_spec(params: dict) -> KeySpec:
    size = params.get("key_size") or KeySpec.default_size(params["key_type"])
    return KeySpec(params["key_type"], size)


def _ca_key_spec(params: dict) -> KeySpec:
    """The key a new CA gets: ca_key_type/ca_key_size, else the call's key_type/key_size."""
    if params.get("ca_key_type"):
        return _key_spec({"key_type": params["ca_key_type"], "key_size": params.get("ca_key_size")})
    return _key_spec(params)


def _ca_renew_option(params: dict) -> str:
    """The option that sets the CA certificate's renewal window: ca_renew_before, else renew_before."""
    return "ca_renew_before" if params.get("ca_renew_before") is not None else "renew_before"


def _ca_renew_before(params: dict) -> int:
    return _positive(params, _ca_renew_option(params))


def _ca_request(params: dict, directory: str) -> CARequest:
    return CARequest(
        directory,
        crypto.validate_common_name(params["ca_common_name"], "ca_common_name"),
        _ca_key_spec(params),
        _positive(params, "ca_valid_days"),
        _ca_renew_before(params),
        reissue=bool(params.get("ca_reissue")),
    )


def _plan_ca_in(params: dict, directory: str):
    return plan_ca(
        _ca_request(params, directory),
        read_state(directory),
        read_state(os.path.join(directory, CA_KEY)),
        read_state(os.path.join(directory, CA_CERT)),
    )


def _subject_alt_names(profile: str, common_name: str, entries, prefix: str = "") -> tuple:
    """A server certificate always names its CN among its SANs; a client certificate has none.

    ``prefix`` places the options in error messages, e.g. "sign[db2]." for a signing request."""
    sans = crypto.parse_subject_alt_names(entries, prefix + "subject_alt_names")
    if profile == "server":
        cn_name = crypto.parse_subject_alt_names([common_name], prefix + "common_name")[0]
        if cn_name not in sans:
            sans.insert(0, cn_name)
    elif sans:
        raise CertError(
            "%ssubject_alt_names applies to server certificates only; a client certificate is "
            "named by its common_name (the database user)" % prefix
        )
    return tuple(sans)


def _leaf_sans(params: dict) -> tuple:
    return _subject_alt_names(params["role"], params["common_name"], params["subject_alt_names"])


def run_pg_mtls_certs(params: dict, check_mode: bool) -> dict:
    if params["role"] != "ca" and params.get("track"):
        # the certkeeper timer may be renewing these very files: plan and write under its lock
        with Store(params["track"]["store"]).lock(create=not check_mode):
            return _run_pg_mtls_certs(params, check_mode)
    return _run_pg_mtls_certs(params, check_mode)


def _run_pg_mtls_certs(params: dict, check_mode: bool) -> dict:
    role = params["role"]
    for option in ("path", "ca_path", "postgresql_conf", "pg_hba_conf"):
        check_absolute_path(params.get(option), option)
    for option in ("valid_days", "renew_before", "ca_valid_days"):
        _positive(params, option)
    if role == "ca" or params.get("ca_path"):  # a call that plans the CA: its own window
        check_renewal_window(
            _ca_renew_before(params), params["ca_valid_days"], "ca_valid_days", _ca_renew_option(params)
        )
    if role == "ca":
        return _run_ca(params, check_mode)
    check_renewal_window(params["renew_before"], params["valid_days"])
    if params.get("sign"):
        raise CertError("sign applies to role=ca only")
    crypto.validate_common_name(params["common_name"], "common_name")

    plan = Plan()
    signer = None
    ca_pem = params.get("ca_certificate")
    result: dict = {}
    if params.get("ca_path"):
        ca_plan = _plan_ca_in(params, params["ca_path"])
        plan.changes += ca_plan.changes
        plan.warnings += ca_plan.warnings
        ca_cert = ca_plan.certificate
        result["ca_certificate"] = crypto.certificate_pem(ca_cert).decode()
        sans, valid_days = list(_leaf_sans(params)), _positive(params, "valid_days")

        def signer(csr):
            subject = crypto.common_name_subject(params["common_name"])
            return local.sign(ca_plan.key, ca_cert, csr.public_key(), subject, sans, role, valid_days)
    elif ca_pem:
        try:
            ca_cert = crypto.load_certificate(ca_pem)
        except CertError:
            raise CertError(
                "ca_certificate is not a PEM certificate; pass the CA host's ca_certificate result"
            ) from None
        crypto.check_ca(ca_cert, None, "ca_certificate")
    else:
        raise CertError("role=%s needs ca_certificate (the CA's PEM) or ca_path (a CA on this host)" % role)

    request = _leaf_request(params, ca_cert)
    issued = None
    if params.get("certificate"):
        try:
            issued = crypto.load_certificate(params["certificate"])
        except CertError:
            raise CertError(
                "certificate is not a PEM certificate; pass the CA host's certificates[host] result"
            ) from None
    names = list(LEAF_NAMES[role].values()) + [CA_CERT, pending_key_name(role)]
    states = {name: read_state(request.path(name)) for name in names}
    states["directory"] = read_state(request.directory)
    leaf = plan_leaf(request, states, issued=issued, signer=signer)
    plan.changes += leaf.changes
    plan.warnings += leaf.warnings
    if role == "server":
        plan.changes += _config_changes(params)
    if params.get("track"):
        plan.changes += _tracking_changes(params, request, leaf)
    # Warnings about the files as they stand, repeated by every run (a stamp's recorded result included);
    # the one about a certificate just issued is not.
    standing_warnings = compatibility_warnings(request.pfx_password) if role == "client" else []
    plan.warnings += standing_warnings
    if role == "server" and signer and leaf.certificate_reasons:  # signed here, with this call's valid_days
        plan.warnings += server_validity_warnings(params, params["valid_days"])

    if not check_mode:
        apply_plan(plan)
    result.update(plan.result())
    result.update(certificate_needed=leaf.certificate_needed, certificate_reasons=leaf.certificate_reasons)
    if params.get("track"):
        result["tracking_id"] = _tracking_id(params)
    if leaf.certificate_needed:
        result["csr"] = crypto.csr_pem(leaf.csr).decode()
        return result
    result["certificate"] = crypto.describe_certificate(leaf.certificate)
    if not check_mode:
        paths = [state.path for state in states.values()] + [
            params.get(option) for option in ("postgresql_conf", "pg_hba_conf") if params.get(option)
        ]
        due = [due_at(leaf.certificate, request.renew_before_days, request.renew_fraction)]
        if params.get("ca_path"):
            paths += [
                params["ca_path"],
                os.path.join(params["ca_path"], CA_KEY),
                os.path.join(params["ca_path"], CA_CERT),
            ]
            due.append(due_at(ca_cert, _ca_renew_before(params), fraction=None))
        if params.get("track"):
            paths.append(Store(params["track"]["store"]).path(_tracking_id(params)))
        stamp_record.record(
            request.directory,
            params,
            request.path(LEAF_NAMES[role]["key"]),
            paths,
            min(due).timestamp(),
            dict(result, certificate_reasons=[], warnings=standing_warnings, **_UNCHANGED),
        )
    return result


def _leaf_request(params: dict, ca_cert) -> LeafRequest:
    role = params["role"]
    key_mode = params.get("key_mode") or DEFAULT_KEY_MODE[role]
    key_attributes = private_file_attributes(params["key_owner"], params["key_group"], key_mode, "key")
    return LeafRequest(
        role=role,
        directory=params["path"],
        common_name=params["common_name"],
        ca_certificate=ca_cert,
        subject_alt_names=_leaf_sans(params),
        key_spec=_key_spec(params),
        renew_before_days=_positive(params, "renew_before"),
        key_attributes=key_attributes,
        pfx_password=params["pfx_password"] or "",
        pfx_friendly_name=crypto.validate_common_name(params["pfx_friendly_name"], "pfx_friendly_name"),
        rotate_key=params["rotate_key"],
    )


def _tracking_id(params: dict) -> str:
    role = params["role"]
    return params["track"].get("id") or request_id_for(
        "pg_mtls-" + role, os.path.join(params["path"], LEAF_NAMES[role]["cert"])
    )


def _tracking_changes(params: dict, request: LeafRequest, leaf) -> list:
    """Register this host's certificate for renewal by the certkeeper timer, in the same call.

    With the CA on this host (ca_path) the timer renews it itself (ca: local); otherwise it reports
    the certificate as due (NEED_CA) and the next playbook run re-issues it through the CA host. A
    certificate this call installs, or one in force and not due, ends a stale NEED_CA at once."""
    track, role, names = params["track"], params["role"], LEAF_NAMES[params["role"]]
    store = Store(track["store"])
    ca_path = params.get("ca_path")
    request_id = _tracking_id(params)
    desired = TrackedRequest(
        id=request_id,
        cert_path=request.path(names["cert"]),
        key_path=request.path(names["key"]),
        ca="local" if ca_path else "ansible",
        ca_cert_path=os.path.join(ca_path, CA_CERT) if ca_path else "",
        ca_key_path=os.path.join(ca_path, CA_KEY) if ca_path else "",
        subject=x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, request.common_name)]).rfc4514_string(),
        subject_alt_names=[crypto.general_name_text(n) for n in request.subject_alt_names],
        profile=role,
        key_type=request.key_spec.type,
        key_size=request.key_spec.size,
        renew_before=request.renew_before_days,
        valid_days=params["valid_days"],
        key_owner=params["key_owner"],
        key_group=params["key_group"],
        key_mode="%04o" % request.key_attributes.mode,
        outputs=[asdict(o) for o in client_outputs(request)] if role == "client" else [],
        chain_path=request.path(CA_CERT),
        post_save_command=track.get("post_save_command") or "",
        rotate_key=request.rotate_key,
    )
    existing, moved = store.load(request_id), []
    # Versions before 0.2 kept one record per role and machine (pg_mtls-client): the record of this very certificate
    # moves to its own id, status kept (and goes, should a crash have left it behind its copy); a record of another
    # certificate stays for its owner.
    earlier = None if track.get("id") else store.load("pg_mtls-" + role)
    if earlier is not None and earlier.cert_path == desired.cert_path:
        existing = existing or earlier
        moved = [
            store.record_removal(
                earlier.id,
                "moved to %s (one record per certificate)" % request_id,
                shown(earlier),
                "not tracked under this id\n",
            )
        ]
    if leaf.certificate is not None and leaf.certificate_reasons:
        reset = "certificate installed by this run"
    elif leaf.certificate is not None and existing is not None and existing.status == NEED_CA:
        reset = "the certificate in force is not due"
    else:
        reset = ""
    record = store.record_change(desired, reset, existing)
    return store.directory_changes() + ([record] if record else []) + moved


def _config_changes(params: dict) -> list:
    changes = []
    for path_option, block_option, placement, what, syntax in (
        ("postgresql_conf", "postgresql_conf_block", "last", "postgresql.conf", None),
        ("pg_hba_conf", "pg_hba_block", "first", "pg_hba.conf", pg_hba.SYNTAX),  # hostssl ... cert lines only
    ):
        if params.get(path_option):
            change = plan_block(
                read_state(params[path_option]), CONFIG_BLOCK_NAME, params[block_option], placement, what, syntax
            )
            if change:
                changes.append(change)
    return changes


def _run_ca(params: dict, check_mode: bool) -> dict:
    for option in ("certificate", "ca_certificate", "ca_path", "postgresql_conf", "pg_hba_conf", "track"):
        if params.get(option):
            raise CertError("%s does not apply to role=ca" % option)
    plan = _plan_ca_in(params, params["path"])
    # One host's bad request (a CSR that does not verify, a weak key, a bad name) is refused for that host only:
    # the others of the batch are signed.
    certificates, refused, server_days = {}, {}, set()
    for entry in params.get("sign") or []:
        try:
            request = SigningRequest(
                entry["name"],
                entry["csr"],
                entry["profile"],
                crypto.validate_common_name(entry["common_name"], "sign[%s].common_name" % entry["name"]),
                _subject_alt_names(
                    entry["profile"], entry["common_name"], entry["subject_alt_names"], "sign[%s]." % entry["name"]
                ),
                check_days(entry.get("valid_days") or params["valid_days"], "sign[%s].valid_days" % entry["name"]),
            )
            certificates[request.name] = crypto.certificate_pem(
                sign_request(plan.key, plan.certificate, request)
            ).decode()
        except CertError as exc:
            refused[entry["name"]] = str(exc)
            continue
        if request.profile == "server":
            server_days.add(request.valid_days)
    for days in sorted(server_days):
        plan.warnings += server_validity_warnings(params, days)
    if not check_mode:
        apply_plan(plan)
    result = plan.result()
    result.update(
        ca_certificate=crypto.certificate_pem(plan.certificate).decode(),
        certificates=certificates,
        refused=refused,
        certificate=crypto.describe_certificate(plan.certificate),
    )
    result["warnings"] += ["not signed for %s: %s" % item for item in sorted(refused.items())]
    if not check_mode and not params.get("sign"):
        key_path = os.path.join(params["path"], CA_KEY)
        stamp_record.record(
            params["path"],
            params,
            key_path,
            [params["path"], key_path, os.path.join(params["path"], CA_CERT)],
            due_at(plan.certificate, _ca_renew_before(params), fraction=None).timestamp(),
            dict(result, warnings=[], **_UNCHANGED),  # a reissued root's warning is said once
        )
    if certificates:
        result["changed"] = True
        result["changes"].append(
            {
                "path": params["path"],
                "action": "sign",
                "reason": "issued certificates for %s" % ", ".join(sorted(certificates)),
            }
        )
    return result
