"""Fixtures: a real PostgreSQL 15 cluster, a local inventory of db1 (server + CA) and app1/app2
(clients), and a runner for ansible-playbook that reports module invocations per host."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass

import pytest
import yaml

from ansible_collections.certkeeper.pki.plugins.module_utils._core.stamp import STAMP_NAME
from tests.support.throwaway_pg import ThrowawayPostgres

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
COLLECTIONS = os.path.join(ROOT, ".work", "collections")
HERE = os.path.dirname(os.path.abspath(__file__))


@dataclass
class PlaybookRun:
    returncode: int
    output: str
    invocations: dict
    changed: dict


def run_playbook(playbook: str, inventory: str, *args: str, tmp_dir: str, env: dict | None = None) -> PlaybookRun:
    counts = os.path.join(tmp_dir, "counts.json")
    if os.path.exists(counts):
        os.unlink(counts)
    environment = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=COLLECTIONS, ANSIBLE_CALLBACK_PLUGINS=os.path.join(HERE, "callback_plugins"),
                       ANSIBLE_CALLBACKS_ENABLED="module_counts", CERTKEEPER_COUNTS_FILE=counts,
                       ANSIBLE_HOST_KEY_CHECKING="false", ANSIBLE_DEPRECATION_WARNINGS="false",
                       ANSIBLE_LOCALHOST_WARNING="false", ANSIBLE_FORCE_COLOR="false", ANSIBLE_NOCOLOR="true",
                       ANSIBLE_PIPELINING="true", ANSIBLE_LOCAL_TEMP=os.path.join(tmp_dir, "ansible-tmp"))
    environment.update(env or {})  # may replace the defaults above, e.g. the callbacks
    proc = subprocess.run([os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", inventory,
                           playbook, *args], env=environment, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, check=False)
    data = json.load(open(counts)) if os.path.exists(counts) else {"invocations": {}, "changed": {}}
    return PlaybookRun(proc.returncode, proc.stdout, data["invocations"], data["changed"])


@dataclass
class Lab:
    base: str
    cluster: ThrowawayPostgres
    inventory: str

    def client_dir(self, host: str) -> str:
        return os.path.join(self.base, host)

    @property
    def ssl_dir(self) -> str:
        return os.path.join(self.base, "ssl")

    @property
    def ca_dir(self) -> str:
        return os.path.join(self.base, "ca")

    def run(self, *args: str, inventory: str | None = None) -> PlaybookRun:
        return run_playbook("certkeeper.pki.pg_mtls", inventory or self.inventory, *args, tmp_dir=self.base)

    def write_inventory(self, name: str, **overrides) -> str:
        """A variant of the lab's inventory with extra host or group variables."""
        data = yaml.safe_load(open(self.inventory))
        for host, values in overrides.items():
            for group in data["all"]["children"].values():
                if host in group["hosts"]:
                    group["hosts"][host].update(values)
            if host == "all":
                data["all"]["vars"].update(values)
        path = os.path.join(self.base, name)
        with open(path, "w") as handle:
            yaml.safe_dump(data, handle)
        return path

    def snapshot(self) -> dict:
        """Every file under the lab's TLS directories with its bytes, mode, owner and inode.

        Stamps are left out: they are the modules' record of what they verified, rewritten whenever a
        file they cover moved (a test restoring a file moves its ctime)."""
        result = {}
        for top in [self.ssl_dir, self.ca_dir, self.client_dir("app1"), self.client_dir("app2"),
                    os.path.join(self.cluster.data, "postgresql.conf"), os.path.join(self.cluster.data, "pg_hba.conf")]:
            paths = [top] if os.path.isfile(top) else []
            for base, directories, names in os.walk(top):  # the CA's rollover directories (next/, archive/...) too
                paths += [os.path.join(base, name) for name in names]
                result.update({os.path.join(base, d): os.stat(os.path.join(base, d)).st_mode for d in directories})
            for path in paths:
                if os.path.basename(path) == STAMP_NAME:
                    continue
                st = os.stat(path)
                result[path] = (open(path, "rb").read(), st.st_mode, st.st_uid, st.st_gid, st.st_ino)
        return result


def write_lab_inventory(base: str, cluster: ThrowawayPostgres, python: str) -> str:
    inventory = {"all": {
        "vars": {"ansible_connection": "local", "ansible_python_interpreter": python,
                 "pg_mtls_ca_dir": os.path.join(base, "ca"),
                 "pg_mtls_hba_rules": [{"address": "127.0.0.1/32"}]},
        "children": {
            "pg_servers": {"hosts": {"db1": {
                "pg_mtls_conf_dir": cluster.data, "pg_mtls_ssl_dir": os.path.join(base, "ssl"),
                "pg_mtls_server_cn": "localhost", "pg_mtls_server_sans": ["IP:127.0.0.1"],
                "pg_mtls_reload_command": cluster.reload_command,
                "pg_mtls_track_store": os.path.join(base, "store-db1")}}},
            "pg_clients": {"hosts": {
                "app1": {"pg_mtls_db_user": "app1", "pg_mtls_client_dir": os.path.join(base, "app1"),
                         "pg_mtls_track_store": os.path.join(base, "store-app1")},
                "app2": {"pg_mtls_db_user": "app2", "pg_mtls_client_dir": os.path.join(base, "app2"),
                         "pg_mtls_track_store": os.path.join(base, "store-app2")}}},
        }}}
    path = os.path.join(base, "inventory.yml")
    with open(path, "w") as handle:
        yaml.safe_dump(inventory, handle)
    return path


@pytest.fixture(scope="module")
def lab():
    """A started cluster and the pg_mtls playbook's first run against it (shared by a test module).

    The base directory is outside pytest's 0700 temp root so that the postgres user can reach it."""
    base = tempfile.mkdtemp(prefix="certkeeper-lab-")
    os.chmod(base, 0o755)
    cluster = ThrowawayPostgres(os.path.join(base, "pg")).start(roles=["app1", "app2"])
    os.makedirs(os.path.join(base, "ssl"), mode=0o755)
    try:
        yield Lab(base, cluster, write_lab_inventory(base, cluster, sys.executable))
    finally:
        cluster.stop()
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def java_classpath(tmp_path_factory) -> str:
    """The probes in java/ compiled once against Debian's pgjdbc: the class path to run them with."""
    jar = "/usr/share/java/postgresql.jar"
    out = str(tmp_path_factory.mktemp("java"))
    sources = [os.path.join(HERE, "java", name) for name in sorted(os.listdir(os.path.join(HERE, "java")))]
    subprocess.run(["javac", "-cp", jar, "-d", out, *sources], check=True)
    return "%s:%s" % (jar, out)


@pytest.fixture(scope="session")
def java(java_classpath):
    """java(Class, *args) runs one of the probes in java/."""
    def run(main_class: str, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(["java", "-cp", java_classpath, main_class, *args],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=120, check=False)
    return run


@pytest.fixture(scope="session")
def jdbc_probe(java):
    """MtlsProbe: connect over JDBC with the given properties; prints user|TLS version."""
    def probe(url: str, **props: str) -> subprocess.CompletedProcess:
        return java("MtlsProbe", url, *("%s=%s" % item for item in props.items()))
    return probe
