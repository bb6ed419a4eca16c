# -*- coding: utf-8 -*-
# Copyright (c) certkeeper.pki contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""``ca: helper``: a command that speaks certmonger's CA-helper protocol (SUBMIT or POLL in
CERTMONGER_OPERATION, the CSR in CERTMONGER_CSR; the exit code tells the outcome).

A helper speaks for a CA root does not control: what it answers is checked like any input before
anything is saved (the request's key, subject and names, the profile's usages, in force now, issued by
the configured CA), its output is capped and its run time bounded (commands.run_command)."""

from __future__ import annotations

import os
from typing import ClassVar

from .._core import crypto
from .._core.cryptography_import import x509
from .._core.errors import CertError
from .._core.files import read_state
from .base import PENDING, REJECTED, UNCONFIGURED, UNREACHABLE, Answer, Issuer, IssueRequest, answer_problem


class HelperCA(Issuer):
    name = "helper"
    summary = "the command that speaks certmonger's CA-helper protocol"
    options: ClassVar[dict] = {
        "helper": {
            "cli": ("--helper",),
            "type": "str",
            "description": "The command (run with /bin/sh -c) that speaks certmonger's CA-helper protocol.",
        },
        "ca_cert_path": {
            "cli": ("--ca-cert",),
            "type": "path",
            "description": "The CA certificate the helper's answers must verify against.",
        },
    }
    required = ("helper",)

    def issue(self, request: IssueRequest) -> Answer:
        """SUBMIT (or POLL with the cookie); the exit code tells the outcome."""
        csr = request.csr()
        sans = request.subject_alt_names
        env = dict(
            os.environ,
            CERTMONGER_OPERATION="POLL" if request.cookie else "SUBMIT",
            CERTMONGER_CSR=crypto.csr_pem(csr).decode(),
            CERTMONGER_REQ_SUBJECT=request.subject.rfc4514_string(),
            CERTMONGER_REQ_HOSTNAME="\n".join(n.value for n in sans if isinstance(n, x509.DNSName)),
            CERTMONGER_REQ_IP_ADDRESS="\n".join(str(n.value) for n in sans if isinstance(n, x509.IPAddress)),
            CERTMONGER_CA_COOKIE=request.cookie,
        )
        if request.current_certificate is not None:
            env["CERTMONGER_CERTIFICATE"] = crypto.certificate_pem(request.current_certificate).decode()
        if self.runner is None:  # imported here: only a helper's run needs the subprocess machinery
            from .._core.commands import run_command

            self.runner = run_command
        result = self.runner(self.settings.helper, env=env)
        code, out, err = result
        said = (out.strip() or err.strip())[:500]
        if getattr(result, "stopped", "") == "output":  # a CA answers with a certificate, not megabytes
            return Answer(REJECTED, message="the CA helper %s; its answer is refused" % err)
        if code == 0:
            try:
                issued = crypto.load_certificates(out.strip())
            except CertError:
                return Answer(REJECTED, message="the CA helper exited 0 but printed no certificate: %r" % said[:120])
            refused = self._answer_problem(issued[0], issued[1:], request)
            return refused or Answer.issued(issued[0], issued[1:])
        if code in (1, 5):
            # 1: the cookie on stdout; 5: a delay in seconds, then (optionally) a new cookie
            lines = out.strip().splitlines()
            cookie = lines[0] if code == 1 and lines else lines[1] if code == 5 and len(lines) > 1 else ""
            return Answer(
                PENDING,
                message="the CA asked to wait; polled on the next tick",
                cookie=cookie or request.cookie or "submitted",
            )
        if code is None or code == 3:  # an outstanding request (cookie, pending key) is kept for the next poll
            return Answer(
                UNREACHABLE,
                message="the CA could not be reached (%s); retried on the next tick" % (said or "exit 3"),
            )
        if code == 2:
            return Answer(REJECTED, message="the CA rejected the request: %s" % said)
        if code in (4, 6):
            return Answer(UNCONFIGURED, message="the CA helper is not configured for this (exit %d): %s" % (code, said))
        return Answer(
            UNCONFIGURED, message="the CA helper exited %d, which the protocol does not define: %s" % (code, said)
        )

    def _answer_problem(self, cert, sent_along, request: IssueRequest) -> Answer | None:
        """The refusal of a helper's certificate (base.answer_problem), or None when it is what was asked for; the
        anchors are the configured CA (ca_cert_path, chain_path) when one is configured."""
        anchors = []
        for option in ("ca_cert_path", "chain_path"):
            path = getattr(self.settings, option, "")
            if not path:
                continue
            state = read_state(path)
            if state.data is None or state.error:
                return Answer(
                    UNCONFIGURED, message="%s %s cannot be read: %s" % (option, path, state.error or "missing")
                )
            try:
                anchors += crypto.load_certificates(state.data)
            except CertError:
                return Answer(UNCONFIGURED, message="%s %s holds no certificate" % (option, path))
        problem = answer_problem(cert, sent_along, request, anchors)
        if problem:
            return Answer(REJECTED, message="the CA helper's certificate is refused (nothing saved): %s" % problem)
        return None
