"""A throwaway PostgreSQL cluster on a free loopback port, run as the ``postgres`` user.

Used by the demo (scripts/demo.sh) and by the integration tests' fixtures. The cluster starts
without TLS and with ``local all all trust`` only; the pg_mtls role then adds the SSL settings and
the ``hostssl ... cert`` rules and reloads it.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import socket
import subprocess
import sys
from dataclasses import dataclass


def _pg_bin() -> str:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    if not found:
        raise RuntimeError("PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin")
    return os.path.dirname(found[-1])


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class ThrowawayPostgres:
    base: str
    port: int = 0
    run_as: str = "postgres"

    @property
    def data(self) -> str:
        return os.path.join(self.base, "data")

    @property
    def socket_dir(self) -> str:
        return os.path.join(self.base, "run")

    @property
    def log(self) -> str:
        return os.path.join(self.socket_dir, "postgresql.log")

    def _as_postgres(self, *args: str, **kwargs) -> subprocess.CompletedProcess:
        return subprocess.run(["runuser", "-u", self.run_as, "--", *args], check=True,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kwargs)

    def pg_ctl(self, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
        """pg_ctl as the cluster's user; ``env``: its environment (libfaketime's: the server inherits the clock)."""
        return self._as_postgres(os.path.join(_pg_bin(), "pg_ctl"), "-D", self.data, *args, env=env)

    @property
    def reload_command(self) -> str:
        return "runuser -u %s -- %s -D %s reload" % (self.run_as, os.path.join(_pg_bin(), "pg_ctl"), self.data)

    def start(self, roles=()) -> "ThrowawayPostgres":
        self.port = self.port or free_port()
        os.makedirs(self.base, exist_ok=True)
        os.chmod(self.base, 0o755)
        for path in (self.data, self.socket_dir):
            shutil.rmtree(path, ignore_errors=True)
            os.makedirs(path, mode=0o700)
            shutil.chown(path, self.run_as, self.run_as)
        self._as_postgres(os.path.join(_pg_bin(), "initdb"), "-D", self.data, "-U", "postgres",
                          "--auth-local=trust", "--auth-host=reject", "-E", "UTF8", "--no-sync")
        with open(os.path.join(self.data, "postgresql.conf"), "a") as conf:
            conf.write("\n# throwaway cluster\nlisten_addresses = '127.0.0.1'\nport = %d\n"
                       "unix_socket_directories = '%s'\nfsync = off\n" % (self.port, self.socket_dir))
        with open(os.path.join(self.data, "pg_hba.conf"), "w") as hba:
            hba.write("# the user's own rules\nlocal all all trust\n")
        self.pg_ctl("-l", self.log, "-w", "start")
        for role in roles:
            self.sql('CREATE ROLE "%s" LOGIN' % role)
        return self

    def sql(self, statement: str) -> str:
        return self._as_postgres("psql", "-h", self.socket_dir, "-p", str(self.port), "-U", "postgres",
                                 "-d", "postgres", "-Atqc", statement).stdout.strip()

    def stop(self) -> None:
        if os.path.exists(os.path.join(self.data, "postmaster.pid")):
            self.pg_ctl("-m", "immediate", "-w", "stop")


def main(argv: list) -> int:
    """``throwaway_pg.py start BASE ROLE...`` prints the cluster as JSON; ``stop BASE`` stops it."""
    command, base = argv[0], argv[1]
    cluster = ThrowawayPostgres(base)
    if command == "start":
        cluster.start(roles=argv[2:])
        print(json.dumps({"port": cluster.port, "data": cluster.data, "reload_command": cluster.reload_command}))
    else:
        cluster.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
