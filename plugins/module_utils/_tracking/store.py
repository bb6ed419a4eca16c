# -*- coding: utf-8 -*-
# Copyright (c) certkeeper.pki contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The tracking store: one JSON file per tracked request in a root-only directory, and a lock.

A request says where a certificate and its key live, how a renewal is signed (``ca``), which names
to request, which derived files to regenerate, what to run before and after saving, and the
status of the last attempt, with certmonger's status names where the meaning is the same.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import pwd
import re
import stat
from dataclasses import asdict, dataclass, field, fields

from .._core import crypto
from .._core.crypto import CertError
from .._core.cryptography_import import x509
from .._core.files import (
    ROOT_ONLY_DIRECTORY,
    ROOT_ONLY_FILE,
    Change,
    Plan,
    apply_plan,
    foreign_problem,
    make_parent_directories,
    os_error_text,
    parse_mode,
    private_file_attributes,
    read_state,
)
from .._core.outputs import Output
from .._core.policy import check_days, check_renewal_window

DEFAULT_STORE = "/var/lib/certkeeper"
CA_TYPES = ("local", "self_sign", "helper", "ansible")
PROFILES = ("server", "client", "ssl", "signing")

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

STATUS_FIELDS = ("status", "last_error", "last_attempt", "last_renewed", "ca_cookie")
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,127}$")


def request_id_for(prefix: str, cert_path: str) -> str:
    """The id of the request that tracks ``cert_path``: a request is tied to its certificate, as certmonger's
    are, so two certificates on one machine never share a record. Readable (``prefix-etc-app-client.crt``)
    and made unique by a digest of the exact path."""
    readable = re.sub(r"[^A-Za-z0-9_.@]+", "-", cert_path.strip("/"))[-80:].strip("-.")
    return "%s-%s-%s" % (prefix, readable, hashlib.sha256(cert_path.encode("utf-8")).hexdigest()[:8])


def validate_id(request_id) -> str:
    if not isinstance(request_id, str) or not _ID.match(request_id):
        raise CertError(
            "id %r must be 1-128 letters, digits, '_', '.', '@' or '-', starting with a letter or digit" % (request_id,)
        )
    return request_id


@dataclass
class TrackedRequest:
    """One tracked certificate. Everything but the status fields is what the user asked for."""

    id: str
    cert_path: str
    key_path: str
    ca: str = "self_sign"
    ca_cert_path: str = ""
    ca_key_path: str = ""
    helper: str = ""
    subject: str = ""  # RFC 4514; empty: keep the current certificate's subject
    subject_alt_names: list = field(default_factory=list)
    profile: str = "server"
    key_type: str = "rsa"
    key_size: int = 2048
    rotate_key: bool = True
    renew_before: int = 30
    renew_fraction: float = 1 / 3
    valid_days: int = 365
    key_owner: str = "root"
    key_group: str = "root"
    key_mode: str = "0600"
    cert_mode: str = "0644"
    outputs: list = field(default_factory=list)  # dicts of Output fields, passwords included (root-only store)
    chain_path: str = ""  # CA certificate to put in PKCS#12 outputs
    pre_save_command: str = ""
    post_save_command: str = ""
    auto_renew: bool = True
    # status of the last attempt
    status: str = MONITORING
    last_error: str = ""
    last_attempt: str = ""
    last_renewed: str = ""
    ca_cookie: str = ""

    @property
    def stuck(self) -> bool:
        return self.status in STUCK

    def output_list(self) -> list:
        return [Output(**o) for o in self.outputs]

    def settings(self) -> dict:
        """What the user asked for, without the status fields: equal settings mean nothing to change."""
        data = asdict(self)
        for name in STATUS_FIELDS:
            data.pop(name)
        return data

    def public(self) -> dict:
        """The record as listings show it: outputs without passwords."""
        data = asdict(self)
        data["outputs"] = [o.public() for o in self.output_list()]
        data["stuck"] = self.stuck
        return data

    def validate(self) -> TrackedRequest:
        validate_id(self.id)
        if self.ca not in CA_TYPES:
            raise CertError("ca must be one of %s, got %r" % (", ".join(CA_TYPES), self.ca))
        if self.ca == "local" and not (self.ca_cert_path and self.ca_key_path):
            raise CertError("ca: local needs ca_cert_path and ca_key_path (the CA on this host)")
        if self.ca == "helper" and not self.helper.strip():
            raise CertError("ca: helper needs helper, the command that speaks certmonger's CA-helper protocol")
        if self.profile not in PROFILES:
            raise CertError("profile must be one of %s, got %r" % (", ".join(PROFILES), self.profile))
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


def shown(request: TrackedRequest | None) -> str:
    """A request's settings for --diff, passwords left out."""
    if request is None:
        return "not tracked\n"
    settings = request.settings()
    settings["outputs"] = [o.public() for o in request.output_list()]
    return json.dumps(settings, indent=2, sort_keys=True) + "\n"


def _owner(uid: int) -> str:
    try:
        return "%s (uid %d)" % (pwd.getpwuid(uid).pw_name, uid)
    except KeyError:
        return "uid %d" % uid


def _open_store_directory(path: str, tighten: bool = False, missing_ok: bool = False, dir_fd=None) -> int:
    """A descriptor of the store directory ``path`` (relative to ``dir_fd`` by its last component when
    given), never through a symbolic link, refused unless root owns it and nobody else can write it: the
    checks are made on the open directory, so nothing can be swapped in between check and use.
    ``tighten``: a root-owned directory that others may read is made 0700. Raises FileNotFoundError when
    it is missing and ``missing_ok``."""
    name = os.path.basename(path) if dir_fd is not None else path
    try:
        fd = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd)
    except FileNotFoundError:
        if missing_ok:
            raise
        raise CertError("tracking store directory %s does not exist" % path) from None
    except OSError as exc:
        raise CertError(
            "tracking store directory %s cannot be opened: %s; the store must be a root-only directory (0700)"
            % (path, "not a directory" if exc.errno == errno.ENOTDIR else os_error_text(exc))
        ) from None
    try:
        st = os.fstat(fd)
        problem = foreign_problem(st)
        if problem:
            raise CertError(
                "tracking store directory %s %s (owner %s, mode %04o): the store must be root's alone, or "
                "whoever can write it chooses the commands root runs. Refused: check its records, then "
                "chown root:root and chmod 0700 %s, or choose another store"
                % (path, problem, _owner(st.st_uid), stat.S_IMODE(st.st_mode), path)
            )
        if tighten and stat.S_IMODE(st.st_mode) != 0o700:
            os.fchmod(fd, 0o700)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _record_ids(requests: int) -> list:
    return sorted(n[:-5] for n in os.listdir(requests) if n.endswith(".json") and _ID.match(n[:-5]))


def _load_record(requests: int, path: str) -> TrackedRequest | None:
    """The record ``path`` read through ``requests`` (a checked descriptor of its directory); refused unless
    it is a regular file root owns and nobody else can write. None when it does not exist."""
    try:
        fd = os.open(
            os.path.basename(path),
            os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC,
            dir_fd=requests,
        )
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise CertError("cannot read tracking record %s: %s" % (path, os_error_text(exc))) from None
    with os.fdopen(fd, "rb") as handle:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise CertError("cannot read tracking record %s: not a regular file" % path)
        problem = foreign_problem(st)
        if problem:
            raise CertError(
                "tracking record %s %s (owner %s, mode %04o), so it is not used: the store must be root's "
                "alone, or whoever can write a record chooses the commands root runs. Remove it if root "
                "did not write it; else check its commands, then chown root:root and chmod 0600 it"
                % (path, problem, _owner(st.st_uid), stat.S_IMODE(st.st_mode))
            )
        data = handle.read()
    try:
        record = json.loads(data)
        known = {f.name for f in fields(TrackedRequest)}
        return TrackedRequest(**{k: v for k, v in record.items() if k in known})
    except (ValueError, TypeError, AttributeError) as exc:
        raise CertError(
            "tracking record %s is corrupt (%s); remove it and start tracking again" % (path, exc)
        ) from None


class Store:
    """Request files ``<dir>/requests/<id>.json`` and the lock ``<dir>/lock``."""

    def __init__(self, directory: str = DEFAULT_STORE):
        self.directory = directory
        self.requests_dir = os.path.join(directory, "requests")

    def path(self, request_id: str) -> str:
        return os.path.join(self.requests_dir, validate_id(request_id) + ".json")

    def ensure(self) -> None:
        """Create the store's directories (root, 0700) or check the ones there: root's alone, never a
        directory someone else owns or can write (refused, not chmodded into use)."""
        for path in (self.directory, self.requests_dir):
            if os.path.lexists(path) and not os.path.isdir(path):
                raise CertError(
                    "tracking store %s is not a directory; set store to a directory of its own" % self.directory
                )
            if path == self.directory:
                make_parent_directories(path)  # 0755 whatever the umask, no link followed where others write
            try:
                os.mkdir(path, 0o700)
            except FileExistsError:
                pass
            os.close(_open_store_directory(path, tighten=True))

    @contextlib.contextmanager
    def lock(self, create: bool = True):
        """Exclusive for the whole renewal or change, so two runs never race on one request.

        ``create=False`` (check mode) writes nothing: without a store there is nothing to race with."""
        if not create and not os.path.isdir(self.directory):
            yield
            return
        if create:
            self.ensure()
        directory = _open_store_directory(self.directory)  # a store someone else owns is refused before use
        try:
            fd = os.open("lock", os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600, dir_fd=directory)
        except OSError as exc:
            raise CertError(
                "cannot open the lock of tracking store %s: %s" % (self.directory, os_error_text(exc))
            ) from None
        finally:
            os.close(directory)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    @contextlib.contextmanager
    def _requests(self):
        """A descriptor of ``requests/``, checked (with the store above it) on the open directories
        themselves; None when the store or ``requests/`` does not exist yet."""
        try:
            store = _open_store_directory(self.directory, missing_ok=True)
        except FileNotFoundError:
            yield None
            return
        try:
            try:
                requests = _open_store_directory(self.requests_dir, missing_ok=True, dir_fd=store)
            except FileNotFoundError:
                requests = None
        finally:
            os.close(store)
        try:
            yield requests
        finally:
            if requests is not None:
                os.close(requests)

    def load(self, request_id: str) -> TrackedRequest | None:
        path = self.path(request_id)
        with self._requests() as requests:
            return None if requests is None else _load_record(requests, path)

    def ids(self) -> list:
        with self._requests() as requests:
            return [] if requests is None else _record_ids(requests)

    def all(self) -> list:
        """Every request; a record that cannot be read (or that is not root's alone) is an UnreadableRecord
        in its place, so one bad record never hides or stops the others, and none of its commands runs."""
        requests_found = []
        with self._requests() as requests:
            if requests is None:
                return []
            for request_id in _record_ids(requests):
                request: TrackedRequest | UnreadableRecord | None
                try:
                    request = _load_record(requests, self.path(request_id))
                except CertError as exc:
                    request = UnreadableRecord(request_id, str(exc))
                if request is not None:
                    requests_found.append(request)
        return requests_found

    def pending_key_path(self, request_id: str) -> str:
        """The key a CA helper is working on, or a new key until its save is complete."""
        return os.path.join(self.directory, "pending", validate_id(request_id) + ".key")

    def save_change(self, request: TrackedRequest, reason: str, before: str = "", after: str = "") -> Change:
        data = (json.dumps(asdict(request), indent=2, sort_keys=True) + "\n").encode()
        return Change(self.path(request.id), reason, ROOT_ONLY_FILE, data, before=before, after=after)

    def directory_changes(self) -> list:
        """The store's directories, when missing, as changes of a plan (root-only)."""
        changes = []
        for path in (self.directory, self.requests_dir):
            if not os.path.isdir(path):
                changes.append(
                    Change(
                        path,
                        "tracking store missing",
                        ROOT_ONLY_DIRECTORY,
                        before="absent\n",
                        after="directory, root:root 0700\n",
                        directory=True,
                    )
                )
        return changes

    def record_change(
        self, desired: TrackedRequest, status_reset: str = "", existing: TrackedRequest | None = None
    ) -> Change | None:
        """The change that makes the store track ``desired``; the status fields stay the store's unless
        ``status_reset`` says why they no longer hold (a certificate installed by a playbook run).
        ``existing``: the record to take over, when it is stored under another id."""
        desired.validate()
        existing = existing or self.load(desired.id)
        if existing is not None:
            for name in STATUS_FIELDS:
                setattr(desired, name, getattr(existing, name))
            if status_reset and (desired.status, desired.last_error, desired.ca_cookie) != (MONITORING, "", ""):
                desired.status, desired.last_error, desired.ca_cookie = MONITORING, "", ""
            elif existing.settings() == desired.settings():
                return None
            else:
                status_reset = ""
            before, after = existing.settings(), desired.settings()
            updated = sorted(k for k in after if before.get(k) != after[k])
            reason = "; ".join(
                part
                for part in (
                    "update %s" % ", ".join(updated) if updated else "",
                    "status %s -> MONITORING: %s" % (existing.status, status_reset) if status_reset else "",
                )
                if part
            )
        else:
            reason = "start tracking"
        return self.save_change(desired, reason, shown(existing), shown(desired))

    def save(self, request: TrackedRequest) -> None:
        self.ensure()
        apply_plan(Plan([self.save_change(request, "status")]))

    def record_removal(self, request_id: str, reason: str, before: str, after: str = "not tracked\n") -> Change:
        """The change that removes the record ``request_id`` (its files stay)."""
        return Change(self.path(request_id), reason, ROOT_ONLY_FILE, before=before, after=after, remove=True)

    def remove_changes(self, request_id: str, before: str) -> list:
        """The record and any pending key go; the tracked files stay."""
        changes = [self.record_removal(request_id, "stop tracking (files stay)", before)]
        pending = self.pending_key_path(request_id)
        if os.path.exists(pending):
            changes.append(
                Change(
                    pending,
                    "stop tracking: the key a CA was working on",
                    ROOT_ONLY_FILE,
                    before="pending key\n",
                    after="absent\n",
                    remove=True,
                )
            )
        return changes


_EKU_NAMES = {
    "serverAuth": "id-kp-serverAuth",
    "clientAuth": "id-kp-clientAuth",
    "codeSigning": "id-kp-codeSigning",
    "emailProtection": "id-kp-emailProtection",
    "timeStamping": "id-kp-timeStamping",
    "OCSPSigning": "id-kp-OCSPSigning",
}


def describe_request(request) -> dict:
    """The fields of ``getcert list`` for one request, read from the record and the certificate on disk."""
    if isinstance(request, UnreadableRecord):
        request = TrackedRequest(request.id, "", "", status=NEED_GUIDANCE, last_error=request.error)
    listing = {
        "request_id": request.id,
        "status": request.status,
        "stuck": request.stuck,
        "key_location": request.key_path,
        "cert_location": request.cert_path,
        "ca": request.ca,
        "issuer": "",
        "subject": "",
        "expires": "",
        "dns": [],
        "ip": [],
        "key_usage": [],
        "eku": [],
        "pre_save_command": request.pre_save_command,
        "post_save_command": request.post_save_command,
        "track": True,
        "auto_renew": request.auto_renew,
        "last_error": request.last_error,
        "last_renewed": request.last_renewed,
        "outputs": [o.public() for o in request.output_list()],
    }
    state = read_state(request.cert_path)
    if state.data:
        try:
            cert = crypto.load_certificate(state.data)
        except CertError:
            return listing
        sans = crypto.subject_alt_names_of(cert)
        listing.update(
            issuer=cert.issuer.rfc4514_string(),
            subject=cert.subject.rfc4514_string(),
            expires=cert.not_valid_after_utc.strftime("%Y-%m-%d %H:%M:%S UTC"),
            serial_number="%x" % cert.serial_number,
            dns=[n.value for n in sans if isinstance(n, x509.DNSName)],
            ip=[str(n.value) for n in sans if isinstance(n, x509.IPAddress)],
            key_usage=crypto.key_usage_names(cert),
            eku=[_EKU_NAMES.get(name, name) for name in crypto.extended_key_usage_names(cert)],
        )
    return listing


def format_listing(listings: list) -> str:
    """``getcert list``'s layout."""
    lines = ["Number of certificates and requests being tracked: %d." % len(listings)]
    yes_no = {True: "yes", False: "no"}
    for item in listings:
        lines += [
            "Request ID '%s':" % item["request_id"],
            "\tstatus: %s" % item["status"],
            "\tstuck: %s" % yes_no[item["stuck"]],
        ]
        if item["last_error"]:
            lines.append("\tca-error: %s" % item["last_error"])
        lines += [
            "\tkey pair storage: type=FILE,location='%s'" % item["key_location"],
            "\tcertificate: type=FILE,location='%s'" % item["cert_location"],
            "\tCA: %s" % item["ca"],
            "\tissuer: %s" % item["issuer"],
            "\tsubject: %s" % item["subject"],
            "\texpires: %s" % item["expires"],
            "\tdns: %s" % ",".join(item["dns"]),
            "\tip: %s" % ",".join(item["ip"]),
            "\tkey usage: %s" % ",".join(item["key_usage"]),
            "\teku: %s" % ",".join(item["eku"]),
            "\tpre-save command: %s" % item["pre_save_command"],
            "\tpost-save command: %s" % item["post_save_command"],
        ]
        lines += ["\toutput: %s (%s)" % (o["path"], o["format"]) for o in item["outputs"]]
        lines += ["\ttrack: %s" % yes_no[item["track"]], "\tauto-renew: %s" % yes_no[item["auto_renew"]]]
    return "\n".join(lines) + "\n"
