"""A compromised managed host answers with facts that name the collection's role variables: it must not get a
certificate for another name (CN=postgres logs in as superuser), nor make itself the CA. Ansible lets facts override
inventory variables (INJECT_FACTS_AS_VARS, on by default) and fact caches keep them across runs."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile

import pytest

from tests.integration.conftest import run_playbook
from tests.integration.test_pg_mtls_user_inventories import UserLab
from tests.support.throwaway_pg import ThrowawayPostgres

pytestmark = pytest.mark.integration

# The host's Python, compromised: it runs the real Python and rewrites every result it sends back (a module's, or
# the host program's under pipelining) with TAMPER, Python code that changes ``target`` (a result dict).
LYING_PYTHON = r'''#!%(python)s
import json, subprocess, sys
%(setup)s
proc = subprocess.run([%(python)r, *sys.argv[1:]], stdin=sys.stdin, capture_output=True, text=True)
for line in proc.stdout.splitlines():
    try:
        answer = json.loads(line)
    except ValueError:
        print(line)
        continue
    target = answer.get("result") if isinstance(answer.get("result"), dict) else answer
    if isinstance(target, dict) and ("changed" in target or "invocation" in target):
        %(tamper)s
    print(json.dumps(answer))
sys.stderr.write(proc.stderr)
sys.exit(proc.returncode)
'''
# ... with facts that would make it the superuser and the CA, and inventory variables for the CA host (add_host)
INJECT_FACTS = dict(setup='FACTS = {"pg_mtls_db_user": "postgres", "pg_mtls_ca_host": "app1", "pg_mtls_ca_dir": "/tmp/evil-ca"}',
                    tamper='target.setdefault("ansible_facts", {}).update(FACTS); target["add_host"] = {"host_name": '
                           '"db1", "groups": [], "host_vars": {"pg_mtls_ca_dir": "/tmp/evil-ca", "pg_mtls_db_user": '
                           '"postgres"}}')
# ... with a CSR of its own making: an RSA-1024 key, which the CA must not certify
WEAK_CSR = dict(setup='''from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
key = rsa.generate_private_key(public_exponent=65537, key_size=1024)
csr = (x509.CertificateSigningRequestBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "app2")]))
       .sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM).decode())''',
                tamper='target.update(csr=csr) if target.get("csr") else None')


def lying_python(base: str, name: str, attack: dict) -> str:
    path = os.path.join(base, name)
    with open(path, "w") as handle:
        handle.write(LYING_PYTHON % dict(attack, python=sys.executable))
    os.chmod(path, os.stat(path).st_mode | stat.S_IXUSR)
    return path


@pytest.fixture()
def attack_lab():
    base = tempfile.mkdtemp(prefix="certkeeper-facts-")
    os.chmod(base, 0o755)
    cluster = ThrowawayPostgres(os.path.join(base, "pg")).start(roles=["app1", "app2"])
    os.makedirs(os.path.join(base, "ssl"), mode=0o755)
    try:
        yield UserLab(base, cluster)
    finally:
        cluster.stop()
        shutil.rmtree(base, ignore_errors=True)
        shutil.rmtree("/tmp/evil-ca", ignore_errors=True)


def login_as(lab, host: str, user: str) -> subprocess.CompletedProcess:
    directory = lab.client_dir(host)
    conninfo = ("host=localhost port=%d dbname=postgres user=%s sslmode=verify-full sslrootcert=%s sslcert=%s sslkey=%s"
                % (lab.cluster.port, user, os.path.join(directory, "root.crt"), os.path.join(directory, "client.crt"),
                   os.path.join(directory, "client.key")))
    return subprocess.run(["psql", conninfo, "-Atc", "select current_user"], capture_output=True, text=True,
                          check=False)


def subject(path: str) -> str:
    return subprocess.run(["openssl", "x509", "-noout", "-subject", "-nameopt", "RFC2253", "-in", path],
                          capture_output=True, text=True, check=True).stdout.strip()


@pytest.mark.parametrize("pipelining", ["true", "false"])
def test_facts_a_host_returns_are_dropped_and_it_gets_its_inventory_name(attack_lab, pipelining):
    wrapper = lying_python(attack_lab.base, "lying-python", INJECT_FACTS)
    inventory = attack_lab.write_inventory("lying.yml", app1={"ansible_python_interpreter": wrapper})
    run = attack_lab.run(inventory=inventory, env={"ANSIBLE_PIPELINING": pipelining})
    assert run.returncode == 0, run.output
    assert subject(os.path.join(attack_lab.client_dir("app1"), "client.crt")) == "subject=CN=app1"
    assert not os.path.exists("/tmp/evil-ca")
    assert login_as(attack_lab, "app1", "postgres").returncode != 0
    assert login_as(attack_lab, "app1", "app1").returncode == 0
    rerun = attack_lab.run(inventory=inventory, env={"ANSIBLE_PIPELINING": pipelining})
    assert rerun.returncode == 0 and rerun.changed == {}, rerun.output


@pytest.mark.parametrize("host, facts, named", [
    ("app1", {"pg_mtls_db_user": "postgres"}, "pg_mtls_db_user"),
    ("app1", {"pg_mtls_ca_host": "app1", "pg_mtls_ca_dir": "/tmp/evil-ca"}, "pg_mtls_ca_dir, pg_mtls_ca_host"),
    ("app1", {"pg_mtls_server_group": "pg_clients", "pg_mtls_server_cn": "localhost"}, "pg_mtls_server_cn"),
    ("app2", {"pg_mtls_db_user": "postgres"}, "pg_mtls_db_user"),  # not the play's first host
])
def test_cached_facts_that_carry_role_variables_stop_the_run_before_anything_is_written(attack_lab, host, facts, named):
    first = attack_lab.run()
    assert first.returncode == 0, first.output
    before = attack_lab.files()
    # what a fact cache (or AWX's fact storage) kept of an earlier run in which app1 answered with these facts
    cache = {"ANSIBLE_CACHE_PLUGIN": "jsonfile", "ANSIBLE_CACHE_PLUGIN_TIMEOUT": "0",
             "ANSIBLE_CACHE_PLUGIN_CONNECTION": os.path.join(attack_lab.base, "facts")}
    earlier = os.path.join(attack_lab.base, "earlier.yml")
    with open(earlier, "w") as handle:
        json.dump([{"hosts": host, "gather_facts": False,
                    "tasks": [{"ansible.builtin.set_fact": dict(facts, cacheable=True)}]}], handle)
    assert attack_lab.run(playbook=earlier, env=cache).returncode == 0
    run = attack_lab.run(env=cache)
    assert run.returncode != 0
    assert "the facts of %s carry %s" % (host, named) in run.output, run.output
    assert attack_lab.files() == before
    assert not os.path.exists("/tmp/evil-ca")
    assert login_as(attack_lab, "app1", "postgres").returncode != 0


def test_one_clients_weak_csr_fails_that_client_only_and_the_others_are_signed(attack_lab):
    wrapper = lying_python(attack_lab.base, "weak-csr-python", WEAK_CSR)
    inventory = attack_lab.write_inventory("weak.yml", app2={"ansible_python_interpreter": wrapper})
    run = attack_lab.run(inventory=inventory)
    assert run.returncode != 0
    failed = [line for line in run.output.splitlines() if line.startswith("fatal:")]
    assert len(failed) == 1 and failed[0].startswith("fatal: [app2]"), run.output
    assert "did not sign for app2: request 'app2': the CSR's key is RSA-1024" in failed[0], run.output
    assert not os.path.exists(os.path.join(attack_lab.client_dir("app2"), "client.crt"))
    assert login_as(attack_lab, "app1", "app1").returncode == 0  # signed in the same batch
    check = attack_lab.run("--check", inventory=inventory)  # check mode says so too
    assert check.returncode != 0 and "fatal: [app2]" in check.output, check.output


def _cache_facts(base: str, inventory: str, host: str, facts: dict) -> dict:
    """An earlier run in which ``host`` answered with ``facts``, kept by a jsonfile fact cache; the environment
    that makes the next run see them."""
    cache = {"ANSIBLE_CACHE_PLUGIN": "jsonfile", "ANSIBLE_CACHE_PLUGIN_TIMEOUT": "0",
             "ANSIBLE_CACHE_PLUGIN_CONNECTION": os.path.join(base, "facts")}
    earlier = os.path.join(base, "earlier.yml")
    with open(earlier, "w") as handle:
        json.dump([{"hosts": host, "gather_facts": False,
                    "tasks": [{"ansible.builtin.set_fact": dict(facts, cacheable=True)}]}], handle)
    assert run_playbook(earlier, inventory, tmp_dir=base, env=cache).returncode == 0
    return cache


@pytest.mark.parametrize("playbook", ["certkeeper.pki.signing_cert", "certkeeper.pki.cert_track"])
def test_the_signing_cert_and_cert_track_roles_refuse_facts_that_carry_their_variables(tmp_path, playbook):
    base = str(tmp_path)
    inventory = os.path.join(base, "inventory.yml")
    with open(inventory, "w") as handle:
        json.dump({"all": {"vars": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable},
                           "children": {"signing_cert_hosts": {"hosts": {"s1": {
                               "signing_cert_subject": "CN=s1.example.com", "signing_cert_friendly_name": "Signing",
                               "signing_cert_password": "pw-42-secret", "signing_cert_dir": os.path.join(base, "s1"),
                               "signing_cert_subject_alt_names": ["s1.example.com"],
                               "cert_track_bin": os.path.join(base, "bin", "certkeeper"),
                               "cert_track_store": os.path.join(base, "store"), "cert_track_scheduler": "none"}}}}}},
                  handle)
    marker = os.path.join(base, "ran-as-root")
    cache = _cache_facts(base, inventory, "s1", {
        "signing_cert_subject": "CN=postgres", "cert_track_requests": [{
            "id": "evil", "cert_path": os.path.join(base, "evil.crt"), "key_path": os.path.join(base, "evil.key"),
            "subject": "CN=evil", "post_save_command": "touch " + marker}]})
    run = run_playbook(playbook, inventory, tmp_dir=base, env=cache)
    assert run.returncode != 0, run.output
    assert "the facts of s1 carry cert_track_requests, signing_cert_subject" in run.output, run.output
    assert not any(os.path.exists(os.path.join(base, n)) for n in ("s1", "bin", "store", "evil.crt"))
    assert not os.path.exists(marker)


def test_facts_a_source_host_returns_mid_run_stop_the_tasks_that_would_use_them(tmp_path):
    # ansible.builtin.slurp on the source host keeps the facts its answer carries and, run_once, hands them to every
    # host of the play: the signing_cert action refuses to act on them
    base = str(tmp_path)
    tamper = 'target.setdefault("ansible_facts", {}).update(signing_cert_mode="0644")'
    wrapper = lying_python(base, "lying-python", dict(setup="", tamper=tamper))
    inventory = os.path.join(base, "inventory.yml")
    common = {"signing_cert_subject": "CN=s.example.com", "signing_cert_friendly_name": "Signing",
              "signing_cert_password": "pw-42-secret", "signing_cert_subject_alt_names": ["s.example.com"]}
    with open(inventory, "w") as handle:
        json.dump({"all": {"vars": dict(common, ansible_connection="local", ansible_python_interpreter=sys.executable),
                           "children": {"signing_cert_hosts": {"hosts": {
                               "s1": {"signing_cert_dir": os.path.join(base, "s1"),
                                      "ansible_python_interpreter": wrapper},
                               "s2": {"signing_cert_dir": os.path.join(base, "s2")}}}}}}, handle)
    run = run_playbook("certkeeper.pki.signing_cert", inventory, tmp_dir=base)
    assert run.returncode != 0, run.output
    assert "carry signing_cert_mode" in run.output, run.output
    assert not os.path.exists(os.path.join(base, "s2", "Signing.pfx"))
