# -*- coding: utf-8 -*-
# Copyright (c) certkeeper.pki contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The pg_mtls_certs module's work, without Ansible: options in, plan applied, result out."""

from __future__ import annotations

import os
from dataclasses import asdict
from typing import Callable

from .._ca import local, revocation, rollover
from .._core import crypto, stamp_record
from .._core.config_blocks import plan_block
from .._core.crypto import CertError, KeySpec
from .._core.cryptography_import import NameOID, x509
from .._core.facts import certificate_facts
from .._core.files import Plan, apply_plan, check_absolute_path, private_file_attributes, read_state
from .._core.pkcs12 import compatibility_warnings
from .._core.policy import check_days, check_renewal_window, server_validity_warnings
from .._tracking.crl import TrackedCRL, crl_id_for
from .._tracking.request import NEED_CA, TrackedRequest, request_id_for, shown
from .._tracking.store import Store
from . import pg_hba
from .plan import (
    CA_CERT,
    CA_KEY,
    CRL,
    LEAF_NAMES,
    CAPlan,
    CARequest,
    LeafPlan,
    LeafRequest,
    SigningRequest,
    ca_paths,
    check_key_not_revoked,
    client_outputs,
    now_utc,
    pending_key_name,
    plan_ca,
    plan_ca_records,
    plan_leaf,
    plan_revocations,
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
        generation=params.get("ca_generation") or 1,
        rollover_hosts=tuple(params.get("rollover_hosts") or ()),
        rollover_waive=tuple(params.get("rollover_waive") or ()),
        # the run's first CA call moves a rollover on; its batch and the hosts' report come later in the same run
        transitions=params["role"] == "ca" and not params.get("rollover_report") and not params.get("sign"),
        report=params.get("rollover_report"),
    )


def _ca_directory(params: dict) -> str:
    """Where this call's CA lives: the CA call's path, or a leaf's ca_path (the CA host's own call)."""
    return params["path"] if params["role"] == "ca" else params["ca_path"]


def _plan_ca_in(params: dict, now) -> CAPlan:
    """The CA with its index read; _finish_ca_plan completes it once the call revoked and signed what it had to."""
    directory = _ca_directory(params)
    return plan_ca(_ca_request(params, directory), _read_ca_states(directory), now)


def _read_ca_states(directory: str) -> dict:
    """Every file the CA is planned from, as it is (the archive a rollover under way retires to included)."""
    states = {path: read_state(path) for path in ca_paths(directory)}
    try:
        under_way = rollover.RolloverState.parse(states[os.path.join(directory, rollover.ROLLOVER_NAME)])
    except CertError:
        return states  # plan_ca says what is wrong with it
    return dict(states, **{path: read_state(path) for path in ca_paths(directory, under_way) if path not in states})


def _finish_ca_plan(params: dict, plan: CAPlan, now) -> CAPlan:
    """The CA's index and CRLs as this call leaves them (after its revocations and signatures)."""
    return plan_ca_records(plan, _positive(params, "crl_valid_days"), now)


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
    if params.get("track"):
        # the certkeeper timer may be renewing these very files (or re-signing the CRL): plan and write under its lock
        with Store(params["track"]["store"]).lock(create=not check_mode):
            return _run_pg_mtls_certs(params, check_mode)
    return _run_pg_mtls_certs(params, check_mode)


def _run_pg_mtls_certs(params: dict, check_mode: bool) -> dict:
    _check_options(params)
    if params["role"] == "ca":
        return _run_ca(params, check_mode)
    return _run_leaf(params, check_mode)


def _check_options(params: dict) -> None:
    """What every role needs before a file is read: absolute paths, days in range, a CA renewal window that
    does not reissue on every run (when this call plans the CA)."""
    for option in ("path", "ca_path", "postgresql_conf", "pg_hba_conf"):
        check_absolute_path(params.get(option), option)
    for option in ("valid_days", "renew_before", "ca_valid_days", "crl_valid_days"):
        _positive(params, option)
    if params["role"] == "ca" or params.get("ca_path"):
        check_renewal_window(
            _ca_renew_before(params), params["ca_valid_days"], "ca_valid_days", _ca_renew_option(params)
        )


def _run_leaf(params: dict, check_mode: bool) -> dict:
    """A server's or client's call: the CA part and the leaf planned from the files as they are, applied at once,
    reported; once the leaf holds its certificate, the state it leaves is stamped for the next run."""
    _check_leaf_options(params)
    now = now_utc()
    ca_plan, ca_cert, trusted, signer = _leaf_ca(params, now)
    request = _leaf_request(params, ca_cert, trusted)
    issued = _certificate_to_install(params)
    leaf = plan_leaf(request, _read_leaf_states(request), issued=issued, signer=signer, now=now)
    if ca_plan is not None:
        _finish_ca_plan(params, ca_plan, now)
    standing_warnings = _standing_warnings(params, request)
    plan = _leaf_call_plan(params, ca_plan, request, leaf)
    plan.warnings += standing_warnings + _issuing_warnings(params, ca_plan, leaf)
    if not check_mode:
        apply_plan(plan)
    result = _leaf_result(params, ca_plan, plan, leaf)
    if not check_mode and not leaf.certificate_needed:
        unchanged = dict(result, certificate_reasons=[], warnings=standing_warnings, **_UNCHANGED)
        key_path = request.path(LEAF_NAMES[request.role]["key"])
        stamp_record.record(request.directory, params, key_path, _without_ca_index(params, plan), unchanged)
    return result


def _without_ca_index(params: dict, plan: Plan) -> Plan:
    """What a leaf's stamp covers: everything its plan read or changed but the CA index. Its CA part only appends
    what it signs there and re-signs the CRL from it (root.crl, covered, changes with every revocation); the CA
    call's stamp covers the index. Else every batch the CA signs would send the CA host's own call down the full
    path on the next run."""
    if not params.get("ca_path"):
        return plan
    index = os.path.join(params["ca_path"], revocation.INDEX_NAME)
    changes = [change for change in plan.changes if change.path != index]
    return Plan(changes, read=[path for path in plan.read if path != index], deadlines=plan.deadlines)


def _check_leaf_options(params: dict) -> None:
    """A server's or client's own options: a renewal window that does not reissue on every run, no batch to
    sign and nothing to revoke (only the CA does), a common name a certificate can carry."""
    check_renewal_window(params["renew_before"], params["valid_days"])
    for option in ("sign", "revoke", "rekey", "rollover_hosts", "rollover_waive", "rollover_report"):
        if params.get(option):
            raise CertError("%s applies to role=ca only" % option)
    if params.get("identity") and not params.get("ca_path"):
        raise CertError("identity applies with ca_path only (the CA host's own certificate)")
    crypto.validate_common_name(params["common_name"], "common_name")


def _leaf_ca(params: dict, now) -> tuple:
    """(CA plan or None, CA certificate, the CAs root.crt holds, signer or None): the CA the leaf chains to.

    With the CA's files on this host (ca_path) the CA is planned with the leaf and signs its CSR in the same
    call; with only the CA host's certificate (ca_certificate) the CSR is returned and the certificate comes
    in a later call."""
    if params.get("ca_path"):
        ca_plan = _plan_ca_in(params, now)
        ca_cert, trusted = ca_plan.certificate, tuple(ca.certificate for ca in ca_plan.trusted)
        if params.get("ca_bundle"):  # the CA call's bundle, as the role hands it over: in check mode the CA's files
            ca_cert, trusted = _given_bundle(params["ca_bundle"], ca_plan.certificate, "ca_path")  # are not moved yet
        return ca_plan, ca_cert, trusted, _local_signer(params, ca_plan)
    if params.get("ca_certificate"):
        ca_cert = _given_ca_certificate(params["ca_certificate"])
        return (None, *_given_bundle(params.get("ca_bundle"), ca_cert, "ca_certificate"), None)
    raise CertError("role=%s needs ca_certificate (the CA's PEM) or ca_path (a CA on this host)" % params["role"])


def _local_signer(params: dict, ca_plan: CAPlan) -> Callable:
    """CSR -> certificate, signed by the CA on this host with this call's names and valid_days, and recorded in the
    CA index under the call's identity (the CA host's inventory name; the common name when none is given)."""
    sans, valid_days = list(_leaf_sans(params)), _positive(params, "valid_days")

    def signer(csr):
        check_key_not_revoked(ca_plan.records.index, csr.public_key(), "the key of %s" % params["common_name"])
        subject = crypto.common_name_subject(params["common_name"])
        cert = local.sign(ca_plan.key, ca_plan.certificate, csr.public_key(), subject, sans, params["role"], valid_days)
        ca_plan.records.record(cert, params.get("identity") or params["common_name"], params["role"])
        return cert

    return signer


def _given_ca_certificate(pem: str):
    """The CA host's certificate (ca_certificate): it must be a CA's, or no leaf could chain to it."""
    try:
        ca_cert = crypto.load_certificate(pem)
    except CertError:
        raise CertError("ca_certificate is not a PEM certificate; pass the CA host's ca_certificate result") from None
    crypto.check_ca(ca_cert, None, "ca_certificate")
    return ca_cert


def _given_bundle(pem: str | None, ca_cert, signer_option: str) -> tuple:
    """(the CA that signs as the bundle holds it, the CAs root.crt holds): ca_bundle, by default ``ca_cert`` alone. CA
    certificates, the one that signs among them (by its key: in check mode the CA call may certify it anew), none
    twice."""
    if not pem:
        return ca_cert, (ca_cert,)
    try:
        bundle = crypto.load_certificates(pem)
    except CertError:
        raise CertError("ca_bundle is not PEM certificates; pass the CA host's ca_bundle result") from None
    for cert in bundle:
        crypto.check_ca(cert, None, "ca_bundle")
    signs = [ca for ca in bundle if crypto.same_public_key(ca.public_key(), ca_cert.public_key())]
    if len(signs) != 1 or len(set(bundle)) != len(bundle):
        raise CertError(
            "ca_bundle must hold the CA of %s, and each CA once; pass the CA host's ca_bundle result" % signer_option
        )
    return signs[0], tuple(bundle)


def _certificate_to_install(params: dict):
    """The certificate the CA host issued for this host's CSR (option certificate), or None."""
    if not params.get("certificate"):
        return None
    try:
        return crypto.load_certificate(params["certificate"])
    except CertError:
        raise CertError("certificate is not a PEM certificate; pass the CA host's certificates[host] result") from None


def _read_leaf_states(request: LeafRequest) -> dict:
    """The leaf's files as they are (its own, root.crt, root.crl, a key waiting for its certificate) and its
    directory."""
    names = list(LEAF_NAMES[request.role].values()) + [CA_CERT, CRL, pending_key_name(request.role)]
    states = {name: read_state(request.path(name)) for name in names}
    states["directory"] = read_state(request.directory)
    return states


def _leaf_call_plan(params: dict, ca_plan: CAPlan | None, request: LeafRequest, leaf: LeafPlan) -> Plan:
    """Everything this call changes, in the order it is reported: the CA, the leaf's files, a server's
    configuration blocks, the tracking record. One plan, applied at once, whose parts say what it covers."""
    plan = Plan()
    parts = [ca_plan, leaf]
    if params["role"] == "server":
        parts.append(_config_plan(params))
    if params.get("track"):
        parts.append(_tracking_plan(params, request, leaf))
    for part in parts:
        if part is not None:
            plan.include(part)
    return plan


def _standing_warnings(params: dict, request: LeafRequest) -> list:
    """Warnings about the files as they stand, repeated by every run (a stamp's recorded result included)."""
    return compatibility_warnings(request.pfx_password) if params["role"] == "client" else []


def _issuing_warnings(params: dict, ca_plan: CAPlan | None, leaf: LeafPlan) -> list:
    """Said once, by the run that issues: a server certificate signed here with this call's valid_days."""
    if params["role"] == "server" and ca_plan is not None and leaf.certificate_reasons:
        return server_validity_warnings(params, params["valid_days"])
    return []


def _leaf_result(params: dict, ca_plan: CAPlan | None, plan: Plan, leaf: LeafPlan) -> dict:
    """What the call reports: the CA's certificate when it is on this host, the changes, and the CSR to sign
    or the certificate in force."""
    result: dict = {} if ca_plan is None else {"ca_certificate": crypto.certificate_pem(ca_plan.certificate).decode()}
    result.update(plan.result())
    result.update(certificate_needed=leaf.certificate_needed, certificate_reasons=leaf.certificate_reasons)
    if params.get("track"):
        result["tracking_id"] = _tracking_id(params)
    if leaf.certificate_needed:
        result["csr"] = crypto.csr_pem(leaf.csr).decode()
    else:
        result["certificate"] = certificate_facts(leaf.certificate)
    return result


def _leaf_request(params: dict, ca_cert, trusted: tuple = ()) -> LeafRequest:
    role = params["role"]
    trusted = trusted or (ca_cert,)
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
        trusted=trusted,
        crls=_leaf_crls(params, trusted),
    )


def _leaf_crls(params: dict, trusted: tuple) -> tuple:
    """The CAs' CRLs handed in (option crl), one per CA of root.crt in its order, or (); a CRL no CA of this call
    signed, or a CA without its CRL, is refused (PostgreSQL would refuse every certificate of that CA)."""
    if not params.get("crl"):
        return ()
    where = "ca_path" if params.get("ca_path") else "ca_certificate" if len(trusted) == 1 else "ca_bundle"
    try:
        return revocation.crls_per_ca(params["crl"], trusted, "crl", where)
    except CertError as exc:
        raise CertError("%s; nothing was changed" % exc) from None


def _tracking_id(params: dict) -> str:
    role = params["role"]
    return params["track"].get("id") or request_id_for(
        "pg_mtls-" + role, os.path.join(params["path"], LEAF_NAMES[role]["cert"])
    )


def _tracking_plan(params: dict, request: LeafRequest, leaf: LeafPlan) -> Plan:
    """Register this host's certificate for renewal by the certkeeper timer, in the same call.

    With the CA on this host (ca_path) the timer renews it itself (ca: local); otherwise it reports
    the certificate as due (NEED_CA) and the next playbook run re-issues it through the CA host. A
    certificate this call installs, or one in force and not due, ends a stale NEED_CA at once."""
    store = Store(params["track"]["store"])
    desired = _tracked_request(params, request)
    existing, moved = store.load(desired.id), []
    # Versions before 0.2 kept one record per role and machine (pg_mtls-client): the record of this very certificate
    # moves to its own id, status kept (and goes, should a crash have left it behind its copy); a record of another
    # certificate stays for its owner.
    earlier_id = None if params["track"].get("id") else "pg_mtls-" + params["role"]
    earlier = store.load(earlier_id) if earlier_id else None
    if earlier is not None and earlier.cert_path == desired.cert_path:
        existing = existing or earlier
        moved = [
            store.record_removal(
                earlier.id,
                "moved to %s (one record per certificate)" % desired.id,
                shown(earlier),
                "not tracked under this id\n",
            )
        ]
    record = store.record_change(desired, _status_reset(leaf, existing), existing)
    # the records loaded are what this part was made from: one that appears or moves is looked at again
    read = [store.path(request_id) for request_id in (desired.id, earlier_id) if request_id]
    plan = Plan(([record] if record else []) + moved, read=read)
    if request.crls:
        plan.include(_crl_tracking_plan(params, request.path(CA_CERT), request.crls, leaf, now_utc()))
    plan.changes[:0] = store.directory_changes(TrackedCRL if request.crls else TrackedRequest)
    return plan


def _crl_tracking_plan(params: dict, ca_cert_path: str, crls, applied: Plan, now) -> Plan:
    """Register the CRL this call installs (root.crl beside ``ca_cert_path``) for the certkeeper timer: with the CA on
    this host it is re-signed in time and installed again, else it is reported once due (_tracking/crl.py).
    ``applied``: the plan that writes the CRL; a CRL it installs, or one not due, ends a stale NEED_CA."""
    store = Store(params["track"]["store"])
    crl_path = os.path.join(os.path.dirname(ca_cert_path), CRL)
    ca_key_path = os.path.join(_ca_directory(params), CA_KEY) if params["role"] == "ca" or params.get("ca_path") else ""
    desired = TrackedCRL(
        id=crl_id_for(crl_path),
        crl_path=crl_path,
        ca_cert_path=ca_cert_path,
        ca_key_path=ca_key_path,
        valid_days=params["crl_valid_days"],
        post_save_command=params["track"].get("post_save_command") or "",
    )
    if any(change.path == crl_path and change.data is not None for change in applied.changes):
        reset = "CRL installed by this run"
    else:
        due = any(revocation.crl_due_reason(crl, now) for crl in crls)
        reset = "" if due else "the CRL in force is not due"
    record = store.record_change(desired, reset)
    return Plan([record] if record else [], read=[store.path(desired.id, TrackedCRL)])


def _tracked_request(params: dict, request: LeafRequest) -> TrackedRequest:
    """The record the timer renews this certificate from, as this call would: same names, key policy and files."""
    role, names, ca_path = params["role"], LEAF_NAMES[params["role"]], params.get("ca_path")
    return TrackedRequest(
        id=_tracking_id(params),
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
        post_save_command=params["track"].get("post_save_command") or "",
        rotate_key=request.rotate_key,
    )


def _status_reset(leaf: LeafPlan, existing: TrackedRequest | None) -> str:
    """Why the status the timer recorded no longer holds ("" when it still does)."""
    if leaf.certificate is not None and leaf.certificate_reasons:
        return "certificate installed by this run"
    if leaf.certificate is not None and existing is not None and existing.status == NEED_CA:
        return "the certificate in force is not due"
    return ""


def _config_plan(params: dict) -> Plan:
    """A server's blocks in postgresql.conf and pg_hba.conf, planned from the files as read."""
    plan = Plan()
    for path_option, block_option, placement, what, syntax in (
        ("postgresql_conf", "postgresql_conf_block", "last", "postgresql.conf", None),
        ("pg_hba_conf", "pg_hba_block", "first", "pg_hba.conf", pg_hba.SYNTAX),  # hostssl ... cert lines only
    ):
        if params.get(path_option):
            state = read_state(params[path_option])
            plan.read.append(state.path)
            change = plan_block(state, CONFIG_BLOCK_NAME, params[block_option], placement, what, syntax)
            if change:
                plan.changes.append(change)
    return plan


def _run_ca(params: dict, check_mode: bool) -> dict:
    """The CA's own files, its revocations, the CSRs of a batch (sign) signed, and the index and CRL that record
    them, all planned before anything is written. The stamp records the answer a call without the batch would give
    (sign is work, left out of the stamp's digest; a batch is never an answer to repeat): a batch that records its
    certificates in the index leaves the CA's next plain call answered by the stamp."""
    _check_ca_options(params)
    now = now_utc()
    revoke = _revocations(params)
    plan = _plan_ca_in(params, now)
    plan_revocations(plan, revoke, _rekeys(params), now)
    certificates, refused, server_days = _sign_batch(params, plan, {name for name, _reason, _serial in revoke})
    _finish_ca_plan(params, plan, now)
    if params.get("track"):  # the CA's own CRL, re-signed in time by the certkeeper timer on this host
        plan.changes += Store(params["track"]["store"]).directory_changes(TrackedCRL)
        plan.include(_crl_tracking_plan(params, os.path.join(params["path"], CA_CERT), [plan.crl], plan, now))
    for days in sorted(server_days):
        plan.warnings += server_validity_warnings(params, days)
    if not check_mode:
        apply_plan(plan)
    result = _ca_result(params["path"], plan, certificates, refused)
    if not check_mode and not plan.rollover.state.under_way:
        # while a CA key rolls over, the CA call plans every run: its next step depends on what the hosts confirmed
        # a reissued root's warning is said once; so is what this call revoked
        unchanged = dict(result, certificates={}, refused={}, warnings=[], revoked=[], **_UNCHANGED)
        stamp_record.record(params["path"], params, os.path.join(params["path"], CA_KEY), plan, unchanged)
    return result


def _check_ca_options(params: dict) -> None:
    """The options of a server or client have no meaning for the CA: refused rather than ignored."""
    for option in (
        "certificate",
        "ca_certificate",
        "ca_bundle",
        "ca_path",
        "identity",
        "crl",
        "postgresql_conf",
        "pg_hba_conf",
    ):
        if params.get(option):
            raise CertError("%s does not apply to role=ca" % option)
    if params.get("rollover_report") and (params.get("sign") or params.get("revoke") or params.get("rekey")):
        raise CertError("rollover_report is recorded alone: no sign, revoke or rekey in the same call")
    for option in ("id", "post_save_command"):
        if (params.get("track") or {}).get(option):
            raise CertError("track.%s does not apply to role=ca (the CA's CRL is tracked under its own id)" % option)


def _revocations(params: dict) -> list:
    """(name, reason, serial or None) of each revoke entry, its reason and serial checked."""
    return [
        (
            entry["name"],
            revocation.check_reason(entry["reason"], "revoke[%s].reason" % entry["name"]),
            revocation.parse_serial(entry["serial"], "revoke[%s].serial" % entry["name"])
            if entry.get("serial")
            else None,
        )
        for entry in params.get("revoke") or []
    ]


def _rekeys(params: dict) -> list:
    """(name, token) of each rekey entry."""
    return [(entry["name"], entry["token"]) for entry in params.get("rekey") or []]


def _sign_batch(params: dict, ca_plan: CAPlan, revoked_names: set) -> tuple:
    """(certificates by name, refusals by name, valid_days of the server certificates signed), each certificate
    recorded in the CA index.

    One host's bad request (a CSR that does not verify, a weak key or a revoked one, a bad name, an identity listed
    in revoke) is refused for that host only: the others of the batch are signed."""
    certificates, refused, server_days = {}, {}, set()
    for entry in params.get("sign") or []:
        try:
            _refuse_revoked_identity(entry, revoked_names)
            request = _signing_request(params, entry)
            cert = sign_request(ca_plan.key, ca_plan.certificate, request, ca_plan.records.index)
        except CertError as exc:
            refused[entry["name"]] = str(exc)
            continue
        ca_plan.records.record(cert, request.name, request.profile)
        certificates[request.name] = crypto.certificate_pem(cert).decode()
        if request.profile == "server":
            server_days.add(request.valid_days)
    return certificates, refused, server_days


def _refuse_revoked_identity(entry: dict, revoked_names: set) -> None:
    """A sign entry whose name or CN is listed in revoke gets nothing: revoking it would otherwise be undone at once."""
    for name in (entry["name"], entry["common_name"]):
        if name in revoked_names:
            raise CertError("%s is listed in revoke: no new certificate while it stays listed" % name)


def _signing_request(params: dict, entry: dict) -> SigningRequest:
    """One entry of ``sign``, its names and days checked; valid_days defaults to the call's."""
    prefix = "sign[%s]." % entry["name"]
    return SigningRequest(
        entry["name"],
        entry["csr"],
        entry["profile"],
        crypto.validate_common_name(entry["common_name"], prefix + "common_name"),
        _subject_alt_names(entry["profile"], entry["common_name"], entry["subject_alt_names"], prefix),
        check_days(entry.get("valid_days") or params["valid_days"], prefix + "valid_days"),
    )


def _rollover_result(plan: CAPlan) -> dict:
    """Where a CA key rollover stands: the generation, the phase and step, the CAs trusted, what it waits for."""
    state = plan.rollover.state
    return {
        "generation": state.generation,
        "phase": state.phase,
        "step": rollover.STEP[state.phase] if state.under_way else 0,
        "trusted": [
            dict(generation=ca.generation, signs=ca.signs, **certificate_facts(ca.certificate)) for ca in plan.trusted
        ],
        "waiting_for": plan.rollover.waiting_for,
        "holdouts": plan.rollover.holdouts,
    }


def _ca_result(directory: str, plan: CAPlan, certificates: dict, refused: dict) -> dict:
    """What the CA's call reports: its certificate and CRL, what it revoked, the batch signed (a change), a warning
    per request refused."""
    result = plan.result()
    result.update(
        ca_certificate=crypto.certificate_pem(plan.certificate).decode(),
        ca_bundle="".join(crypto.certificate_pem(ca.certificate).decode() for ca in plan.trusted),
        certificates=certificates,
        refused=refused,
        certificate=certificate_facts(plan.certificate),
        crl="".join(revocation.crl_pem(crl).decode() for crl in plan.crls),
        crl_next_update=min(revocation.crl_next_update(crl) for crl in plan.crls),
        revoked=plan.records.revoked,
        rollover=_rollover_result(plan),
    )
    result["warnings"] += ["not signed for %s: %s" % item for item in sorted(refused.items())]
    if certificates:
        result["changed"] = True
        result["changes"].append(
            {
                "path": directory,
                "action": "sign",
                "reason": "issued certificates for %s" % ", ".join(sorted(certificates)),
            }
        )
    return result
