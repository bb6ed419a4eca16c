"""Every bad-input case and injected fault of the reliability suite, with what it must produce.

docs/reliability.md carries this catalog as a table; tests/reliability/test_catalog.py keeps them
equal (``python -m tests.reliability.catalog`` prints the table)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field


@dataclass
class Case:
    id: str
    target: str  # a module, or "role <name>" for a role's argument spec and checks
    input: str  # what is wrong, for the table
    expect: tuple  # substrings the error message must contain: the option and the fix
    args: dict = field(default_factory=dict)  # module options or role variables


class Material:
    """Paths and PEMs the cases refer to; the placeholder one (for the table) names them only."""

    bad_ca = defaultdict(lambda: "<bad CA>")

    def __getattr__(self, name):
        return "<%s>" % name


def _pg(m, **args):
    base = dict(role="client", path=m.app1_dir, common_name="app1", ca_certificate=m.ca_pem)
    base.update(args)
    return {k: v for k, v in base.items() if v is not None}


def _server(m, **args):
    base = dict(role="server", path=m.ssl_dir, common_name="localhost", ca_path=m.ca_dir, ca_certificate=None,
                subject_alt_names=["IP:127.0.0.1"])
    base.update(args)
    return _pg(m, **base)


def _signing(m, **args):
    base = dict(path=m.signing_dir, friendly_name="Sign", subject="CN=sign.example.com",
                subject_alt_names=["sign.example.com"], password=m.signing_password)
    base.update(args)
    return {k: v for k, v in base.items() if v is not None}


def _track(m, **args):
    base = dict(id="tracked", store=m.track_store, cert_path=m.track_dir + "/t.crt", key_path=m.track_dir + "/t.key",
                subject="CN=t.example.com", subject_alt_names=["t.example.com"])
    base.update(args)
    return {k: v for k, v in base.items() if v is not None}


PG, SIGN, TRACK = "pg_mtls_certs", "signing_cert", "cert_track"


def bad_input_cases(m) -> list:
    long_label = "a" * 64
    return [
        # --- pg_mtls_certs: names ---
        Case("pg-cn-empty", PG, "empty common_name", ("common_name must be a non-empty string",), _pg(m, common_name="")),
        Case("pg-cn-blank", PG, "blank common_name", ("common_name must be a non-empty string",), _pg(m, common_name="   ")),
        Case("pg-cn-overlong", PG, "65-character common_name", ("common_name", "longer than the 64 characters"),
             _pg(m, common_name="c" * 65)),
        Case("pg-cn-newline", PG, "newline in common_name", ("common_name", "contains control characters"),
             _pg(m, common_name="app1\nadmin")),
        Case("pg-cn-escape", PG, "terminal escape in common_name", ("common_name", "contains control characters"),
             _pg(m, common_name="app1\x1b[31m")),
        Case("pg-friendly-empty", PG, "empty pfx_friendly_name", ("pfx_friendly_name must be a non-empty string",),
             _pg(m, pfx_friendly_name="")),
        Case("pg-friendly-control", PG, "tab in pfx_friendly_name", ("pfx_friendly_name", "control characters"),
             _pg(m, pfx_friendly_name="user\t1")),
        Case("pg-friendly-overlong", PG, "65-character pfx_friendly_name", ("pfx_friendly_name", "longer than the 64"),
             _pg(m, pfx_friendly_name="u" * 65)),
        # --- pg_mtls_certs: paths ---
        Case("pg-path-relative", PG, "relative path", ("path must be an absolute path",), _pg(m, path="certs/app1")),
        Case("pg-path-traversal", PG, "path with '..'", ("path", "contains '..'; give the real absolute path"),
             _pg(m, path=m.app1_dir + "/../../etc")),
        Case("pg-ca-path-traversal", PG, "ca_path with '..'", ("ca_path", "contains '..'"),
             _server(m, ca_path=m.ca_dir + "/../ca")),
        Case("pg-path-is-file", PG, "path is a file", ("client directory /etc/hostname is not usable",),
             _pg(m, path="/etc/hostname")),
        Case("pg-path-unwritable", PG, "path under /proc (cannot be created)", ("cannot write /proc/", "nothing was changed"),
             _pg(m, path="/proc/certkeeper-no/app1")),
        Case("pg-conf-is-directory", PG, "postgresql_conf is a directory",
             ("is a directory where a file belongs",), _server(m, postgresql_conf=m.ssl_dir, postgresql_conf_block="ssl = on")),
        Case("pg-track-store-is-file", PG, "track.store is a file", ("tracking store /etc/hostname is not a directory",),
             _pg(m, track={"store": "/etc/hostname"})),
        # --- pg_mtls_certs: SANs ---
        Case("pg-san-bad-ipv4", PG, "IP:10.0.0.300", ("subject_alt_names: 'IP:10.0.0.300' is not a valid IP address",),
             _server(m, subject_alt_names=["IP:10.0.0.300"])),
        Case("pg-san-bad-ipv6", PG, "IP:fe80::zz", ("subject_alt_names: 'IP:fe80::zz' is not a valid IP address",),
             _server(m, subject_alt_names=["IP:fe80::zz"])),
        Case("pg-san-unknown-prefix", PG, "URI:https://x", ("unknown prefix; use 'DNS:' or 'IP:'",),
             _server(m, subject_alt_names=["URI:https://x"])),
        Case("pg-san-empty", PG, "empty SAN entry", ("every entry must be a non-empty string",),
             _server(m, subject_alt_names=[""])),
        Case("pg-san-wildcard-middle", PG, "a.*.example.com", ("not a valid DNS name", "wildcard is allowed only"),
             _server(m, subject_alt_names=["DNS:a.*.example.com"])),
        Case("pg-san-wildcard-tld", PG, "*.com", ("wildcard '*.com' must cover a domain with at least two labels",),
             _server(m, subject_alt_names=["*.com"])),
        Case("pg-san-digits", PG, "digits only", ("digits alone are not a DNS name",), _server(m, subject_alt_names=["12345"])),
        Case("pg-san-long-label", PG, "64-character DNS label", ("is not a valid DNS name",),
             _server(m, subject_alt_names=["DNS:%s.example.com" % long_label])),
        Case("pg-san-trailing-dot", PG, "trailing dot", ("is not a valid DNS name",),
             _server(m, subject_alt_names=["db.example.com."])),
        Case("pg-san-on-client", PG, "SANs on a client", ("subject_alt_names applies to server certificates only",),
             _pg(m, subject_alt_names=["DNS:app1"])),
        # --- pg_mtls_certs: keys, types, validity ---
        Case("pg-key-type-unknown", PG, "key_type dsa", ("key_type", "rsa, ecdsa"), _pg(m, key_type="dsa")),
        Case("pg-key-size-1024", PG, "RSA-1024", ("key_size 1024 is not supported for rsa keys; use one of 2048",),
             _pg(m, key_size=1024)),
        Case("pg-key-size-ec-521", PG, "ECDSA 521", ("key_size 521 is not supported for ecdsa keys; use one of 256, 384",),
             _pg(m, key_type="ecdsa", key_size=521)),
        Case("pg-key-size-text", PG, "key_size 'big'", ("key_size", "int"), _pg(m, key_size="big")),
        Case("pg-valid-negative", PG, "valid_days -1", ("valid_days must be a number of days between 1 and 36500",),
             _pg(m, valid_days=-1)),
        Case("pg-valid-zero", PG, "valid_days 0", ("valid_days must be a number of days between 1 and 36500",),
             _pg(m, valid_days=0)),
        Case("pg-valid-absurd", PG, "valid_days 100000", ("valid_days must be a number of days between 1 and 36500",),
             _pg(m, valid_days=100000)),
        Case("pg-ca-valid-absurd", PG, "ca_valid_days 99999", ("ca_valid_days must be a number of days",),
             _server(m, ca_valid_days=99999)),
        Case("pg-renew-window", PG, "renew_before >= valid_days", ("renew_before (400 days) must be shorter than valid_days",),
             _pg(m, renew_before=400)),
        Case("pg-role-unknown", PG, "role admin", ("role", "ca, server, client"), _pg(m, role="admin")),
        # --- pg_mtls_certs: ownership and modes ---
        Case("pg-key-mode-world", PG, "key_mode 0644", ("key_mode 0644 gives the key to other users; use 0600",),
             _pg(m, key_mode="0644")),
        Case("pg-key-mode-text", PG, "key_mode 'rw-r-----'", ("key_mode: 'rw-r-----' is not an octal file mode",),
             _pg(m, key_mode="rw-r-----")),
        Case("pg-key-mode-range", PG, "key_mode 01777", ("key_mode: '01777' is out of range",), _pg(m, key_mode="01777")),
        Case("pg-key-owner-missing", PG, "unknown key_owner", ("key_owner: user 'no-such-user-ck' does not exist",),
             _pg(m, key_owner="no-such-user-ck")),
        Case("pg-key-group-missing", PG, "unknown key_group", ("key_group: group 'no-such-group-ck' does not exist",),
             _pg(m, key_group="no-such-group-ck")),
        # --- pg_mtls_certs: CA and certificates ---
        Case("pg-no-ca", PG, "neither ca_certificate nor ca_path", ("needs ca_certificate",), _pg(m, ca_certificate=None)),
        Case("pg-ca-cert-junk", PG, "ca_certificate not PEM", ("ca_certificate is not a PEM certificate",),
             _pg(m, ca_certificate="-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")),
        Case("pg-ca-cert-is-leaf", PG, "ca_certificate is a leaf", ("ca_certificate is not a CA certificate",),
             _pg(m, ca_certificate=m.leaf_pem)),
        Case("pg-ca-cert-sha1", PG, "ca_certificate signed with SHA-1", ("ca_certificate is signed with SHA1",),
             _pg(m, ca_certificate=m.sha1_ca_pem)),
        Case("pg-ca-cert-rsa1024", PG, "ca_certificate with an RSA-1024 key", ("ca_certificate is RSA-1024",),
             _pg(m, ca_certificate=m.weak_ca_pem)),
        Case("pg-cert-junk", PG, "certificate not PEM", ("certificate is not a PEM certificate",), _pg(m, certificate="junk")),
        Case("pg-cert-other-key", PG, "certificate for another key", ("returned by the CA cannot be used: does not match",),
             _pg(m, certificate=m.leaf_pem)),
        Case("pg-cert-ca-true", PG, "certificate with CA:TRUE", ("it is a CA certificate (CA:TRUE)",),
             _pg(m, certificate=m.ca_true_leaf_pem)),
        Case("pg-ca-mismatch", PG, "root.crt does not match root.key", ("does not belong to CA key", "restore the matching pair"),
             _server(m, ca_path=m.bad_ca["mismatch"])),
        Case("pg-ca-not-ca", PG, "CA certificate without CA:TRUE", ("is not a CA certificate", "restore the CA's own"),
             _server(m, ca_path=m.bad_ca["not-ca"])),
        Case("pg-ca-key-truncated", PG, "truncated root.key", ("is not a usable private key; restore it from a backup",),
             _server(m, ca_path=m.bad_ca["truncated"])),
        Case("pg-ca-key-der-garbage", PG, "root.key is a certificate (PEM for key)", ("is not a usable private key",),
             _server(m, ca_path=m.bad_ca["cert-as-key"])),
        Case("pg-ca-key-rsa1024", PG, "RSA-1024 CA key", ("is RSA-1024", "move the CA directory away"),
             _server(m, ca_path=m.bad_ca["weak"])),
        Case("pg-ca-key-missing", PG, "root.crt without root.key", ("exists but its key", "restore root.key from a backup"),
             _server(m, ca_path=m.bad_ca["no-key"])),
        Case("pg-sign-on-client", PG, "sign with role=client", ("sign applies to role=ca only",),
             _pg(m, sign=[{"name": "x", "csr": "x", "profile": "client", "common_name": "x"}])),
        Case("pg-ca-with-certificate", PG, "certificate with role=ca", ("certificate does not apply to role=ca",),
             dict(role="ca", path=m.ca_dir, certificate="x")),
        Case("pg-sign-bad-profile", PG, "sign profile admin", ("profile", "server, client"),
             dict(role="ca", path=m.ca_dir, sign=[{"name": "x", "csr": "junk", "profile": "admin", "common_name": "u"}])),
        Case("pg-key-symlink", PG, "client.key is a symbolic link", ("cannot read private key", "symbolic link"),
             _pg(m, path=m.symlink_dir)),
        # --- signing_cert ---
        Case("sc-friendly-empty", SIGN, "empty friendly_name", ("friendly_name must be a non-empty string",),
             _signing(m, friendly_name="")),
        Case("sc-friendly-traversal", SIGN, "friendly_name '../evil'", ("friendly_name '../evil' cannot be a file name",),
             _signing(m, friendly_name="../evil")),
        Case("sc-friendly-control", SIGN, "carriage return in friendly_name", ("cannot be a file name",),
             _signing(m, friendly_name="Sign\r")),
        Case("sc-friendly-reserved", SIGN, "friendly_name with '*'", ("cannot be a file name",), _signing(m, friendly_name="Si*gn")),
        Case("sc-friendly-overlong", SIGN, "201-character friendly_name", ("at most 200 characters",),
             _signing(m, friendly_name="S" * 201)),
        Case("sc-subject-missing", SIGN, "no subject", ("subject is required to generate a certificate",),
             _signing(m, subject=None)),
        Case("sc-subject-malformed", SIGN, "subject 'CN=a,XX'", ("is not a distinguished name", "CN=name,O=org"),
             _signing(m, subject="CN=a,XX")),
        Case("sc-subject-two-cn", SIGN, "two CNs", ("must contain exactly one CN=",), _signing(m, subject="CN=a,CN=b")),
        Case("sc-subject-overlong", SIGN, "65-character CN", ("subject", "longer than the 64 characters"),
             _signing(m, subject="s" * 65)),
        Case("sc-san-bad-ip", SIGN, "IP:1.2.3.999", ("'IP:1.2.3.999' is not a valid IP address",),
             _signing(m, subject_alt_names=["IP:1.2.3.999"])),
        Case("sc-san-missing", SIGN, "ssl profile without SANs", ("needs subject_alt_names", "allow_no_san"),
             _signing(m, subject_alt_names=[])),
        Case("sc-password-empty", SIGN, "empty password", ("password is empty", "allow_empty_password"),
             _signing(m, password="")),
        Case("sc-password-other", SIGN, "existing PFX, another password", ("cannot be opened with", "force"),
             _signing(m, password="Another-password-123")),
        Case("sc-valid-negative", SIGN, "valid_days -5", ("valid_days must be a number of days",), _signing(m, valid_days=-5)),
        Case("sc-valid-absurd", SIGN, "valid_days 40000", ("valid_days must be a number of days",),
             _signing(m, valid_days=40000)),
        Case("sc-key-size-1024", SIGN, "RSA-1024", ("key_size 1024 is not supported",), _signing(m, key_size=1024)),
        Case("sc-key-type-unknown", SIGN, "key_type ed25519", ("key_type", "rsa, ecdsa"), _signing(m, key_type="ed25519")),
        Case("sc-mode-world", SIGN, "mode 0644 for the PFX", ("mode 0644 gives the PFX (it holds the private key) to other users",),
             _signing(m, mode="0644")),
        Case("sc-owner-missing", SIGN, "unknown owner", ("owner: user 'no-such-user-ck' does not exist",),
             _signing(m, owner="no-such-user-ck")),
        Case("sc-group-missing", SIGN, "unknown group", ("group: group 'no-such-group-ck' does not exist",),
             _signing(m, group="no-such-group-ck")),
        Case("sc-path-relative", SIGN, "relative path", ("path must be an absolute path",), _signing(m, path="pfx")),
        Case("sc-path-is-file", SIGN, "path is a file", ("/etc/hostname",), _signing(m, path="/etc/hostname")),
        Case("sc-ca-not-ca", SIGN, "ca_cert_path is not a CA", ("is not a CA certificate",),
             _signing(m, ca_cert_path=m.bad_ca["not-ca"] + "/root.crt", ca_key_path=m.bad_ca["not-ca"] + "/root.key")),
        Case("sc-ca-sha1", SIGN, "ca_cert_path signed with SHA-1", ("is signed with SHA1", "reissue it with SHA-256"),
             _signing(m, ca_cert_path=m.bad_ca["sha1"] + "/root.crt", ca_key_path=m.bad_ca["sha1"] + "/root.key")),
        Case("sc-ca-mismatch", SIGN, "ca_key_path does not match", ("does not belong to ca_cert_path",),
             _signing(m, ca_cert_path=m.bad_ca["mismatch"] + "/root.crt", ca_key_path=m.bad_ca["mismatch"] + "/root.key")),
        Case("sc-ca-key-missing", SIGN, "ca_key_path missing", ("ca_key_path", "cannot be read: missing"),
             _signing(m, ca_cert_path=m.bad_ca["no-key"] + "/root.crt", ca_key_path=m.bad_ca["no-key"] + "/root.key")),
        Case("sc-pfx-not-base64", SIGN, "pfx_content not base64", ("pfx_content must be the PFX file's bytes in base64",),
             _signing(m, subject=None, pfx_content="not base64!")),
        Case("sc-pfx-wrong-password", SIGN, "pfx_content with another password", ("pfx_content cannot be opened",),
             _signing(m, friendly_name="Other", subject=None, pfx_content=m.pfx_b64, password="Wrong-password-123")),
        Case("sc-pfx-ca-true", SIGN, "pfx_content holding a CA:TRUE certificate", ("pfx_content cannot be installed: it is a CA",),
             _signing(m, friendly_name="Other", subject=None, pfx_content=m.ca_true_pfx_b64,
                      password="Ca-true-pfx-123")),
        Case("sc-public-format", SIGN, "public_formats pem", ("public_formats", "cer, crt"), _signing(m, public_formats=["pem"])),
        # --- cert_track ---
        Case("ct-id-traversal", TRACK, "id '../x'", ("id '../x' must be 1-128 letters",), _track(m, id="../x")),
        Case("ct-id-empty", TRACK, "empty id", ("id",), _track(m, id="")),
        Case("ct-cert-relative", TRACK, "relative cert_path", ("cert_path must be an absolute path",), _track(m, cert_path="t.crt")),
        Case("ct-subject-malformed", TRACK, "subject 'db1'", ("is not a distinguished name such as CN=",), _track(m, subject="CN")),
        Case("ct-san-bad", TRACK, "IP:300.1.1.1", ("is not a valid IP address",), _track(m, subject_alt_names=["IP:300.1.1.1"])),
        Case("ct-helper-missing", TRACK, "ca helper without a command", ("ca: helper needs helper",), _track(m, ca="helper")),
        Case("ct-local-missing", TRACK, "ca local without CA paths", ("ca: local needs ca_cert_path and ca_key_path",),
             _track(m, ca="local")),
        Case("ct-local-sha1", TRACK, "ca local with a SHA-1 CA", ("is signed with SHA1",),
             _track(m, id="sha1", ca="local", ca_cert_path=m.bad_ca["sha1"] + "/root.crt",
                    ca_key_path=m.bad_ca["sha1"] + "/root.key", cert_path=m.track_dir + "/s.crt", key_path=m.track_dir + "/s.key")),
        Case("ct-fraction", TRACK, "renew_fraction 1.5", ("renew_fraction must be between 0 and 1",), _track(m, renew_fraction=1.5)),
        Case("ct-valid-zero", TRACK, "valid_days 0", ("valid_days",), _track(m, valid_days=0)),
        Case("ct-renew-window", TRACK, "renew_before >= valid_days", ("renew_before",), _track(m, renew_before=500, valid_days=100)),
        Case("ct-key-mode-world", TRACK, "key_mode 0644", ("key_mode 0644 gives the key to other users",), _track(m, key_mode="0644")),
        Case("ct-cert-mode-writable", TRACK, "cert_mode 0666", ("cert_mode", "lets others rewrite the certificate"),
             _track(m, cert_mode="0666")),
        Case("ct-key-owner-missing", TRACK, "unknown key_owner", ("key_owner: user 'no-such-user-ck' does not exist",),
             _track(m, key_owner="no-such-user-ck")),
        Case("ct-output-format", TRACK, "outputs format jks", ("format", "pkcs8_der, pkcs8_pem, pkcs12"),
             _track(m, outputs=[{"path": m.track_dir + "/t.jks", "format": "jks"}])),
        Case("ct-key-size-1024", TRACK, "RSA-1024", ("key_size 1024 is not supported",), _track(m, key_size=1024)),
        Case("ct-state-unknown", TRACK, "state renew", ("state", "present, absent, resubmit"), _track(m, state="renew")),
        Case("ct-store-is-file", TRACK, "store is a file", ("tracking store /etc/hostname is not a directory",), _track(m, store="/etc/hostname")),
        # --- role argument specs ---
        Case("role-pg-key-size", "role pg_mtls", "pg_mtls_key_size 'big'", ("pg_mtls_key_size", "int"),
             {"pg_mtls_key_size": "big"}),
        Case("role-pg-key-type", "role pg_mtls", "pg_mtls_key_type dsa", ("pg_mtls_key_type", "rsa, ecdsa"),
             {"pg_mtls_key_type": "dsa"}),
        Case("role-pg-sans-dict", "role pg_mtls", "pg_mtls_server_sans a mapping", ("pg_mtls_server_sans", "list"),
             {"pg_mtls_server_sans": {"a": 1}}),
        Case("role-pg-manage-config", "role pg_mtls", "pg_mtls_manage_config 'maybe'", ("pg_mtls_manage_config", "bool"),
             {"pg_mtls_manage_config": "maybe"}),
        Case("role-pg-valid-days", "role pg_mtls", "pg_mtls_valid_days 'a year'", ("pg_mtls_valid_days", "int"),
             {"pg_mtls_valid_days": "a year"}),
        Case("role-sc-profile", "role signing_cert", "signing_cert_profile code", ("signing_cert_profile", "ssl, signing"),
             {"signing_cert_profile": "code"}),
        Case("role-sc-formats", "role signing_cert", "signing_cert_public_formats [pem]", ("signing_cert_public_formats", "cer, crt"),
             {"signing_cert_public_formats": ["pem"]}),
        Case("role-sc-state", "role signing_cert", "signing_cert_state gone", ("signing_cert_state", "present, absent"),
             {"signing_cert_state": "gone"}),
        Case("role-sc-allow-no-san", "role signing_cert", "signing_cert_allow_no_san 'perhaps'", ("signing_cert_allow_no_san", "bool"),
             {"signing_cert_allow_no_san": "perhaps"}),
        Case("role-ct-scheduler", "role cert_track", "cert_track_scheduler anacron", ("cert_track_scheduler", "systemd"),
             {"cert_track_scheduler": "anacron"}),
        Case("role-ct-requests", "role cert_track", "cert_track_requests a string", ("cert_track_requests", "dict"),
             {"cert_track_requests": 5}),
    ]


@dataclass
class Fault:
    id: str
    fault: str
    result: str


FAULTS = [
    Fault("kill-at-each-rename", "SIGKILL (strace syscall injection) at every rename() of a key-type change rsa -> ecdsa "
          "that replaces pending key, certificate, key, derived files",
          "every crash point leaves the old matching pair, or the new certificate with its pending key, which the "
          "next call installs without the CA; then psql connects with the new pair"),
    Fault("kill-at-each-write", "SIGKILL at every fsync() of a staged file (pending key, certificate, key, "
          "PKCS#8 DER, PKCS#8 PEM, PKCS#12)",
          "a kill while staging changes no target file (psql connects with the old files); a kill at the "
          "directory fsync after the renames finds the new set complete; the next call completes"),
    Fault("full-filesystem", "client directory on a 96 KiB tmpfs filled up to its last page, then a key-type change",
          "fails with 'No space left on device; nothing was changed'; files intact; psql connects"),
    Fault("read-only-target", "client directory bind-mounted read-only, then a key-type change",
          "fails with 'Read-only file system; nothing was changed'; files intact; psql connects"),
    Fault("immutable-certificate", "chattr +i on client.crt, then a key-type change",
          "fails with 'Operation not permitted; nothing was changed'; files intact; psql connects"),
    Fault("ca-host-lost-mid-run", "the CA host's connection dies after its first task (interpreter exits 255), while "
          "app1 changes key type through the role",
          "run fails on the CA host; app1 keeps its old matching pair beside client.key.pending; psql connects; "
          "the next run installs the new pair"),
    Fault("host-program-killed-mid-work", "with pipelining, SIGKILL at the first rename() of the program the "
          "pg_mtls_certs action plugin runs on app1 (strace as app1's interpreter), client.pk8 deleted",
          "the task fails 'pg_mtls_certs stopped without a result (rc=137)' and the module does not run again; "
          "the other files are intact; psql connects; the next run restores client.pk8"),
    Fault("ca-host-unreachable", "two inventory hosts: the CA host is unreachable (ssh to a closed port)",
          "run reports the CA host unreachable; the client changes nothing; psql connects"),
    Fault("helper-rejects", "CA helper exits 2 (rejected)", "status CA_REJECTED with the helper's text; files intact; psql connects"),
    Fault("helper-times-out", "CA helper (and a child it forked) sleeps past CERTKEEPER_COMMAND_TIMEOUT",
          "status CA_UNREACHABLE 'timed out'; the helper's process group is killed; files intact; psql connects"),
    Fault("helper-garbage", "CA helper exits 0 and prints garbage instead of a certificate",
          "status CA_REJECTED 'printed no certificate'; files intact; psql connects"),
    Fault("post-save-fails", "post-save command exits 7 after a renewal",
          "status POST_SAVE_FAILED; the new pair is saved and matching; psql connects with it"),
    Fault("concurrent-role-runs", "two pg_mtls playbook runs at once on the same hosts, with a key-type change",
          "each run succeeds or fails with a clear message; afterwards every key matches its certificate, "
          "no temp or pending file is left, psql connects"),
    Fault("tracked-file-deleted", "the certificate of a tracked request is deleted under the tracker",
          "status NEED_GUIDANCE naming the missing file; the key stays; the other request in the store renews"),
]


def render_table(cases, faults) -> str:
    """The tables of docs/reliability.md, one row per case and fault."""
    lines = ["| case | target | bad input | result: the error names |", "| --- | --- | --- | --- |"]
    for case in cases:
        expect = "; ".join("`%s`" % e.replace("|", "\\|") for e in case.expect)
        lines.append("| `%s` | %s | %s | %s |" % (case.id, case.target, case.input.replace("|", "\\|"), expect))
    lines += ["", "| fault | injected | result |", "| --- | --- | --- |"]
    for fault in faults:
        lines.append("| `%s` | %s | %s |" % (fault.id, fault.fault, fault.result))
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(render_table(bad_input_cases(Material()), FAULTS), end="")
