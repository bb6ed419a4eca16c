"""Secrets: every role and module run with -vvv, --diff and the callbacks users commonly enable
(default with display_args_to_stdout, minimal, tree, junit, a log file). No password, PEM private key
block, or DER/base64/hex form of any private key (or of a whole PFX) appears in any of it."""

from __future__ import annotations

import base64
import glob
import os
import re
import stat
import sys

import pytest
import yaml
from cryptography.hazmat.primitives import serialization

from ansible_collections.certkeeper.pki.plugins.module_utils._core import crypto
from ansible_collections.certkeeper.pki.plugins.module_utils._core.pkcs12 import load_pkcs12
from tests.integration.conftest import run_playbook

pytestmark = pytest.mark.integration
PG_PFX_PASSWORD = "Pg-pfx-secret-93ks"
SIGN_PASSWORD = "Sign-secret-pw-71hq"
TRACK_PASSWORD = "Track-pfx-secret-55xz"
PASSWORDS = (PG_PFX_PASSWORD, SIGN_PASSWORD, TRACK_PASSWORD)


def _observed_env(base: str, name: str, stdout: str = "default") -> dict:
    """What users turn on to see more: every place a secret could leak to."""
    os.makedirs(os.path.join(base, "observed", name))
    return {"ANSIBLE_STDOUT_CALLBACK": stdout, "ANSIBLE_DISPLAY_ARGS_TO_STDOUT": "true",
            "ANSIBLE_CALLBACKS_ENABLED": "module_counts,tree,junit",
            "ANSIBLE_CALLBACK_TREE_DIR": os.path.join(base, "observed", name, "tree"),
            "JUNIT_OUTPUT_DIR": os.path.join(base, "observed", name, "junit"),
            "ANSIBLE_LOG_PATH": os.path.join(base, "observed", name, "ansible.log")}


def _key_forms(key) -> list:
    """Fragments that would give a private key away: the hex of its secret number, and the base64 of
    its DER forms where that base64 covers only the secret (the rest of the DER, e.g. an EC key's
    public point, is in certificates and CSRs too)."""
    numbers = key.private_numbers()
    number = numbers.d if hasattr(numbers, "d") else numbers.private_value
    secret = number.to_bytes((number.bit_length() + 7) // 8, "big")
    forms = [secret.hex()[:48]]
    for fmt in (serialization.PrivateFormat.PKCS8, serialization.PrivateFormat.TraditionalOpenSSL):
        der = key.private_bytes(serialization.Encoding.DER, fmt, serialization.NoEncryption())
        start = (der.find(secret) + 2) // 3 * 4  # the first base64 group wholly inside the secret
        forms.append(base64.b64encode(der).decode()[start:start + 32])
    return forms


@pytest.fixture(scope="module")
def observed(lab):
    base = lab.base
    texts = {}
    # pg_mtls: first run (CA, server, two clients, one PFX with a password), then a key-type change
    inventory = lab.write_inventory("secrets.yml", app2={"pg_mtls_pfx_password": PG_PFX_PASSWORD})
    run = run_playbook("certkeeper.pki.pg_mtls", inventory, "-vvv", "--diff", tmp_dir=base,
                       env=_observed_env(base, "pg_mtls"))
    assert run.returncode == 0, run.output[-5000:]
    texts["pg_mtls -vvv"] = run.output
    changed = lab.write_inventory("secrets-ecdsa.yml", app2={"pg_mtls_pfx_password": PG_PFX_PASSWORD},
                                  app1={"pg_mtls_key_type": "ecdsa"})
    run = run_playbook("certkeeper.pki.pg_mtls", changed, "-vvv", "--diff", tmp_dir=base,
                       env=_observed_env(base, "pg_mtls-minimal", "minimal"))
    assert run.returncode == 0, run.output[-5000:]
    texts["pg_mtls key change, minimal -vvv"] = run.output

    # signing_cert: made on one host, installed on another
    signing = {"all": {"vars": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable,
                                "signing_cert_subject": "CN=sq.example.com", "signing_cert_friendly_name": "Signing",
                                "signing_cert_password": SIGN_PASSWORD, "signing_cert_subject_alt_names": ["sq.example.com"],
                                "signing_cert_public_formats": ["cer"]},
                       "children": {"signing_cert_hosts": {"hosts": {
                           h: {"signing_cert_dir": os.path.join(base, "signing", h)} for h in ("sq1", "sq2")}}}}}
    path = os.path.join(base, "signing.yml")
    with open(path, "w") as handle:
        yaml.safe_dump(signing, handle)
    run = run_playbook("certkeeper.pki.signing_cert", path, "-vvv", "--diff", tmp_dir=base,
                       env=_observed_env(base, "signing_cert"))
    assert run.returncode == 0, run.output[-5000:]
    texts["signing_cert -vvv"] = run.output

    # cert_track: the role (certkeeper_command + cert_track), then cert_track_info and a resubmit
    track_dir = os.path.join(base, "tracked")
    os.makedirs(os.path.join(base, "units"))
    requests = [dict(id="tracked", cert_path=os.path.join(track_dir, "t.crt"), key_path=os.path.join(track_dir, "t.key"),
                     subject="CN=t.example.com", subject_alt_names=["t.example.com"],
                     outputs=[dict(path=os.path.join(track_dir, "t.pfx"), format="pkcs12", password=TRACK_PASSWORD)])]
    os.makedirs(track_dir)
    host = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable,
            "cert_track_bin": os.path.join(base, "certkeeper"), "cert_track_store": os.path.join(base, "store-track"),
            "cert_track_python": sys.executable, "cert_track_scheduler": "systemd",
            "cert_track_systemd_dir": os.path.join(base, "units"), "cert_track_systemd_start": False,
            "cert_track_requests": requests}
    path = os.path.join(base, "track.yml")
    with open(path, "w") as handle:
        yaml.safe_dump({"all": {"hosts": {"db1": host}}}, handle)
    run = run_playbook("certkeeper.pki.cert_track", path, "-vvv", "--diff", tmp_dir=base,
                       env=_observed_env(base, "cert_track"))
    assert run.returncode == 0, run.output[-5000:]
    texts["cert_track -vvv"] = run.output
    extra = os.path.join(base, "track-modules.yml")
    with open(extra, "w") as handle:
        yaml.safe_dump([{"hosts": "db1", "gather_facts": False, "tasks": [
            {"certkeeper.pki.cert_track_info": {"store": host["cert_track_store"]}},
            {"certkeeper.pki.cert_track": {"id": "tracked", "store": host["cert_track_store"], "state": "resubmit"}},
        ]}], handle)
    run = run_playbook(extra, path, "-vvv", "--diff", tmp_dir=base, env=_observed_env(base, "cert_track-modules", "minimal"))
    assert run.returncode == 0, run.output[-5000:]
    texts["cert_track_info + resubmit, minimal -vvv"] = run.output

    for name in glob.glob(os.path.join(base, "observed", "**", "*"), recursive=True):
        if os.path.isfile(name):
            texts[os.path.relpath(name, base)] = open(name, encoding="utf-8", errors="replace").read()

    keys = {}
    for name in ("ca/root.key", "ssl/server.key", "app1/client.key", "app2/client.key", "tracked/t.key"):
        keys[name] = crypto.load_private_key(open(os.path.join(base, name), "rb").read())
    pfx = open(os.path.join(base, "signing", "sq1", "Signing.pfx"), "rb").read()
    keys["signing PFX key"] = load_pkcs12(pfx, SIGN_PASSWORD).key
    whole_files = {"Signing.pfx": base64.b64encode(pfx).decode()[:60],
                   "app2 client.pfx": base64.b64encode(open(os.path.join(base, "app2", "client.pfx"), "rb").read()).decode()[:60]}
    stores = [os.path.join(base, s) for s in ("store-db1", "store-app1", "store-app2", "store-track")]
    return dict(texts=texts, keys=keys, whole_files=whole_files, stores=stores, base=base)


def _hits(texts: dict, needles: dict) -> list:
    """(where, what) for every needle found, also across the line breaks of PEM and JSON-escaped text."""
    joined = {where: text.replace("\\n", "").replace("\n", "") for where, text in texts.items()}
    return sorted({(where, what) for what, needle in needles.items() for where in texts
                   if needle in texts[where] or needle in joined[where]})


def test_every_run_and_callback_was_observed(observed):
    names = set(observed["texts"])
    assert {"pg_mtls -vvv", "signing_cert -vvv", "cert_track -vvv"} <= names
    for kind in ("tree", "junit", "ansible.log"):
        assert any(kind in n for n in names), kind
    assert all("-vvv" not in n or "ESTABLISH LOCAL CONNECTION" in observed["texts"][n] for n in names)
    assert len(observed["keys"]) == 6


def test_no_password_anywhere(observed):
    assert _hits(observed["texts"], {"password %d" % i: p for i, p in enumerate(PASSWORDS)}) == []


def test_no_private_key_in_any_form(observed):
    needles = {"PEM private key block": "PRIVATE KEY-----"}
    for name, key in observed["keys"].items():
        needles.update({"%s form %d" % (name, i): form for i, form in enumerate(_key_forms(key))})
    needles.update({"whole %s" % name: text for name, text in observed["whole_files"].items()})
    assert _hits(observed["texts"], needles) == []
    # the needles do find a key where it is: in its own PEM file
    pem = open(os.path.join(observed["base"], "app2", "client.key")).read()
    assert _hits({"client.key": pem}, {"form": _key_forms(observed["keys"]["app2/client.key"])[1]}) != []


def test_tracking_stores_hold_no_key_and_only_the_pfx_passwords_renewal_needs(observed):
    """A PKCS#12 output's password must be kept for unattended renewal: it stays in the root-only
    record of that request (0600 in a 0700 directory) and nowhere else in the store."""
    texts, holders = {}, []
    for store in observed["stores"]:
        assert stat.S_IMODE(os.stat(store).st_mode) == 0o700 and os.stat(store).st_uid == 0
        for directory, _subdirs, files in os.walk(store):
            for name in files:
                path = os.path.join(directory, name)
                texts[path] = open(path, encoding="utf-8", errors="replace").read()
                if any(p in texts[path] for p in PASSWORDS):
                    st = os.stat(path)
                    assert stat.S_IMODE(st.st_mode) == 0o600 and st.st_uid == 0, path
                    holders.append(os.path.relpath(path, observed["base"]))
    assert [re.sub(r"-client\.crt-[0-9a-f]{8}", "", h.split(os.sep)[-1]) for h in sorted(holders)] == [
        "pg_mtls-client-%s.json" % re.sub(r"[^A-Za-z0-9_.@]+", "-", observed["base"].strip("/") + "/app2"),
        "tracked.json"]
    assert [h.split(os.sep)[0] for h in sorted(holders)] == ["store-app2", "store-track"]
    needles = {"PEM private key block": "PRIVATE KEY-----"}
    for name, key in observed["keys"].items():
        needles.update({"%s form %d" % (name, i): form for i, form in enumerate(_key_forms(key))})
    assert _hits(texts, needles) == []
