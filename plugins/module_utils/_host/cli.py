# -*- coding: utf-8 -*-
# Copyright (c) certkeeper.pki contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""``certkeeper``: certmonger's verbs on a host, run by hand or by the renewal timer.

The cert_track role installs this package (plugins/module_utils) on the host with a small launcher,
so the command and the modules share one implementation.

  certkeeper list [-i ID] [--json] [--crls]
  certkeeper start-tracking -i ID -f CERT -k KEY -c CA [...]
  certkeeper stop-tracking -i ID
  certkeeper resubmit -i ID
  certkeeper renew (--all | -i ID) [--json] [--prometheus FILE]
  certkeeper report --prometheus FILE
  certkeeper adopt-certmonger [--dry-run] [-i ID]... [--json]
  certkeeper add-scep-ca -c NAME -u URL [-R CAFILE] [--renewal-challenge] [--thumbprint SHA256]
  certkeeper list-cas [-c NAME] [--json]
  certkeeper remove-ca -c NAME
"""

from __future__ import annotations

import argparse
import json
import sys

from .._ca.scep import ScepCAConfig
from .._core.crypto import CertError
from .._core.option_specs import DEFAULT_STORE
from .._tracking.certmonger import DEFAULT_CAS_DIR, DEFAULT_REQUESTS_DIR
from .._tracking.listing import format_listing
from .._tracking.request import REQUEST_OPTIONS, request_from_options
from .._tracking.store import Store
from .._tracking.verbs import (
    add_scep_ca,
    adopt_certmonger,
    list_cas,
    listing,
    remove_ca,
    renew,
    report_prometheus,
    resubmit,
    track,
    untrack,
)

# start-tracking's options: the request's (request.py) that have a flag; the SANs and --keep-key are shaped here.
_FLAGGED = {name: spec for name, spec in REQUEST_OPTIONS.items() if "cli" in spec}
_REQUIRED = ("cert_path", "key_path", "ca")
_TYPES = {"str": str, "path": str, "int": int}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="certkeeper", description="Track and renew certificates (certmonger-style).")
    parser.add_argument("--store", default=DEFAULT_STORE, help="tracking store directory (default %(default)s)")
    verbs = parser.add_subparsers(dest="verb", required=True)

    show = verbs.add_parser("list", help="show tracked requests, like getcert list")
    show.add_argument("-i", "--id")
    show.add_argument("--json", action="store_true", help="the same fields as JSON")
    show.add_argument("--crls", action="store_true", help="the tracked CRLs only (the text listing shows both)")

    start = verbs.add_parser("start-tracking", help="track a certificate (request it when the file is missing)")
    start.add_argument("-i", "--id", required=True)
    for name, spec in _FLAGGED.items():
        start.add_argument(
            *spec["cli"],
            dest=name,
            required=name in _REQUIRED,
            type=_TYPES[spec["type"]],
            choices=spec.get("choices"),
            default=spec.get("default", ""),
            help=(spec.get("help") or spec.get("description", ""))
            + (" (default %(default)s)" if spec.get("default") and name not in _REQUIRED else ""),
        )
    start.add_argument("-D", "--dns", action="append", default=[], help="DNS name to request (repeatable)")
    start.add_argument("-A", "--ip", action="append", default=[], help="IP address to request (repeatable)")
    start.add_argument("--keep-key", action="store_true", help="reuse the key on renewal instead of rotating it")

    for verb, text in (("stop-tracking", "stop tracking (files stay)"), ("resubmit", "renew now")):
        sub = verbs.add_parser(verb, help=text)
        sub.add_argument("-i", "--id", required=True)

    run = verbs.add_parser("renew", help="renew what is due (what the timer runs)")
    which = run.add_mutually_exclusive_group(required=True)
    which.add_argument("--all", action="store_true")
    which.add_argument("-i", "--id")
    run.add_argument("--json", action="store_true")
    run.add_argument("--prometheus", metavar="FILE", help="then write the metrics textfile, whatever the outcome")

    report = verbs.add_parser("report", help="write the tracked certificates and CRLs as metrics")
    report.add_argument(
        "--prometheus", metavar="FILE", required=True, help="node_exporter textfile (*.prom), written atomically"
    )
    adopt = verbs.add_parser("adopt-certmonger", help="track what certmonger tracks, then stop certmonger tracking it")
    adopt.add_argument("-i", "--id", action="append", dest="ids", default=[], help="only this request (repeatable)")
    adopt.add_argument("--dry-run", action="store_true", help="show the mapping, change nothing")
    adopt.add_argument("--requests-dir", default=DEFAULT_REQUESTS_DIR, help="certmonger's requests (%(default)s)")
    adopt.add_argument("--cas-dir", default=DEFAULT_CAS_DIR, help="certmonger's CAs (%(default)s)")
    adopt.add_argument("--getcert", default="getcert", help="the getcert command that stops certmonger's tracking")
    adopt.add_argument("--json", action="store_true")

    add_ca = verbs.add_parser("add-scep-ca", help="add a SCEP CA configuration, like getcert add-scep-ca")
    add_ca.add_argument("-c", "--ca-name", required=True, help="the name requests give as --scep-ca")
    add_ca.add_argument("-u", "--url", required=True, help="the URL of the server's SCEP interface")
    add_ca.add_argument("-R", "--ca-file", default="", help="the CA certificate (PEM) of an https:// server")
    add_ca.add_argument(
        "--thumbprint", default="", help="the SHA-256 thumbprint one of the server's certificates must have"
    )
    add_ca.add_argument(
        "--renewal-challenge",
        action="store_true",
        help="renewals carry the challenge password too (certmonger's challenge_password_otp off; NDES needs it on)",
    )
    cas = verbs.add_parser("list-cas", help="show the CA configurations and their certificates' thumbprints")
    cas.add_argument("-c", "--ca-name")
    cas.add_argument("--json", action="store_true")
    remove = verbs.add_parser("remove-ca", help="remove a CA configuration no request uses")
    remove.add_argument("-c", "--ca-name", required=True)
    return parser


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    store = Store(args.store)
    try:
        if args.verb == "list":
            items = listing(store, args.id)
            if args.crls or args.json:  # --json lists the certificates, as it always did; --crls the CRLs
                wanted = "crl" if args.crls else "certificate"
                items = [item for item in items if item["kind"] == wanted or args.id]
            _say(json.dumps(items, indent=2) + "\n" if args.json else format_listing(items))
            return 0
        if args.verb == "start-tracking":
            options = {name: getattr(args, name) for name in _FLAGGED}
            options["subject_alt_names"] = ["DNS:" + d for d in args.dns] + ["IP:" + a for a in args.ip]
            options["rotate_key"] = not args.keep_key
            request = request_from_options(args.id, options)
            return _report(track(store, request, check_mode=False))
        if args.verb == "stop-tracking":
            return _report(untrack(store, args.id, check_mode=False))
        if args.verb == "resubmit":
            return _report(resubmit(store, args.id, check_mode=False))
        if args.verb == "report":
            report_prometheus(store, args.prometheus)
            return 0
        if args.verb == "add-scep-ca":
            config = ScepCAConfig(args.ca_name, args.url, args.ca_file, args.renewal_challenge)
            result = add_scep_ca(store, config, check_mode=False, thumbprint=args.thumbprint)
            _report(result)
            _say(_cas_text([result["ca"]]))
            return 0
        if args.verb == "list-cas":
            items = list_cas(store, args.ca_name)
            _say(json.dumps(items, indent=2) + "\n" if args.json else _cas_text(items))
            return 0
        if args.verb == "remove-ca":
            return _report(remove_ca(store, args.ca_name, check_mode=False))
        if args.verb == "adopt-certmonger":
            results = adopt_certmonger(store, args.requests_dir, args.cas_dir, args.ids, args.dry_run, args.getcert)
            _say(json.dumps(results, indent=2) + "\n" if args.json else _adoption_text(results))
            return 1 if any(r["outcome"] in ("failed", "not found") for r in results) else 0
        outcomes = renew(store, None if args.all else args.id)
        if args.prometheus:  # a failed renewal is what the metrics must show
            report_prometheus(store, args.prometheus)
        if args.json:
            _say(json.dumps([o.as_dict() for o in outcomes], indent=2) + "\n")
        else:
            for outcome in outcomes:
                _say(
                    "%s: %s (%s)%s\n"
                    % (outcome.id, outcome.action, outcome.status, ": " + outcome.message if outcome.message else "")
                )
        return 1 if any(o.action == "failed" for o in outcomes) else 0
    except CertError as exc:
        sys.stderr.write("certkeeper: %s\n" % exc)
        return 1


def _report(result: dict) -> int:
    for change in result["changes"]:
        _say("%s: %s (%s)\n" % (change["path"], change["action"], change["reason"]))
    outcome = result.get("outcome")
    if outcome:
        _say(
            "%s: %s (%s)%s\n"
            % (
                outcome["id"],
                outcome["action"],
                outcome["status"],
                ": " + outcome["message"] if outcome["message"] else "",
            )
        )
        return 1 if outcome["action"] == "failed" else 0
    return 0


def _adoption_text(results: list) -> str:
    lines = [] if results else ["certmonger tracks nothing to adopt"]
    for result in results:
        lines.append(
            "%s: %s%s" % (result["id"], result["outcome"], ": " + result["message"] if result["message"] else "")
        )
        lines += ["\t%s: %s" % (what, how) for what, how in result["mapping"]]
    return "\n".join(lines) + "\n"


def _cas_text(items: list) -> str:
    """The CA configurations as ``getcert list-cas`` shows them, with the thumbprints to compare with the CA's."""
    lines = [] if items else ["no CA configuration (certkeeper add-scep-ca adds one)"]
    for item in items:
        lines.append("CA '%s':" % item["name"])
        if item.get("error"):
            lines.append("\terror: %s" % item["error"])
            continue
        lines += [
            "\tca-type: %s" % item["ca_type"],
            "\turl: %s" % item["url"],
            "\tca-file: %s" % (item["ca_file"] or "-"),
            "\trenewal challenge: %s" % ("yes" if item["renewal_challenge"] else "no"),
            "\tcapabilities: %s" % " ".join(item["capabilities"]),
        ]
        for cert in item["certificates"]:
            kind = "CA" if cert["is_ca"] else "RA"
            lines.append("\t%s certificate: %s (expires %s)" % (kind, cert["subject"], cert["not_after"]))
            for name, label in (("md5", "MD5"), ("sha1", "SHA1"), ("sha256", "SHA256")):
                lines.append("\t\tthumbprint (%s): %s" % (label, cert["thumbprints"][name]))
    return "\n".join(lines) + "\n"


def _say(text: str) -> None:
    # A command's output, not a module's: stdout is the user's terminal or script.
    sys.stdout.write(text)


if __name__ == "__main__":
    raise SystemExit(main())
