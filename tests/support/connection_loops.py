"""Clients that keep opening new mutual-TLS connections to PostgreSQL while a test changes its files.

A rollover must never fail a connection: while the pg_mtls role rewrites the root.crt bundles, client.crt,
client.pfx and root.crl and reloads PostgreSQL, a client that connects at any moment has to get in. A test shows
that by running ConnectionLoops around its playbook runs and asserting that no attempt failed.

Every attempt opens a new connection (about every ``interval`` seconds) and closes it again: TLS authenticates a
connection once, in its handshake, so only new connections see new files. libpq and pgjdbc read sslrootcert,
sslcert, sslkey and sslcrl for each connection, and PostgreSQL builds a new SSL context on reload for the
connections that start after it.

- ``add_psql``: a thread that runs ``psql CONNINFO -Atc "select current_user"`` (libpq, the PEM files) per attempt.
- ``add_jdbc``: one JVM running tests/integration/java/MtlsLoop.java (pgjdbc, e.g. with client.pfx), which loops on
  its own until a stop file appears and prints a line per failure.

    with ConnectionLoops() as loops:
        loops.add_psql("app1", conninfo)
        loops.add_jdbc("app1-jdbc", classpath, url, user="app1", sslmode="verify-full", ...)
        loops.start()
        ...  # the rollover
        results = loops.stop()
    assert all(result.failed == 0 for result in results.values()), results
"""

from __future__ import annotations

import datetime
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field

START_TIMEOUT = 60.0  # a JVM's first connection
STOP_TIMEOUT = 60.0
PSQL_TIMEOUT = 30.0


@dataclass
class LoopResult:
    name: str
    attempted: int | None  # None: a JVM that has not ended yet does not say
    failed: int
    failures: list[str] = field(default_factory=list)  # "time what went wrong", one per failed attempt


def _now() -> str:
    """Like Java's Instant (MtlsLoop's FAIL lines): 2024-05-01T12:00:00.123Z."""
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _one_line(text: str) -> str:
    return " ".join(text.split())


class _PsqlLoop:
    """A daemon thread: psql once per interval until ``stop`` is set."""

    def __init__(self, name: str, conninfo: str, interval: float, stop: threading.Event):
        self.name, self.conninfo, self.interval, self.stop = name, conninfo, interval, stop
        found = re.search(r"(?:^|\s)user\s*=\s*'?([^\s']+)", conninfo)
        self.expected = found.group(1) if found else None  # None: any user will do
        self.attempted = 0
        self.failures: list[str] = []
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self._run, name="psql-loop-%s" % name, daemon=True)

    def _run(self) -> None:
        env = dict(os.environ, PGCONNECT_TIMEOUT="10")
        while not self.stop.is_set():
            start = time.monotonic()
            failure = self._attempt(env)
            with self.lock:
                self.attempted += 1
                if failure:
                    self.failures.append("%s %s" % (_now(), failure))
            self.stop.wait(max(0.0, start + self.interval - time.monotonic()))

    def _attempt(self, env: dict) -> str | None:
        """None, or what went wrong."""
        try:  # -X: no ~/.psqlrc; -w: never ask for a password (a refusal must not wait for a terminal)
            proc = subprocess.run(["psql", "-X", "-w", self.conninfo, "-Atc", "select current_user"], env=env,
                                  stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=PSQL_TIMEOUT,
                                  check=False)
        except subprocess.TimeoutExpired:
            return "psql timed out after %d s" % PSQL_TIMEOUT
        user = proc.stdout.strip()
        if proc.returncode == 0 and user and (self.expected is None or user == self.expected):
            return None
        return "rc=%d stdout=%r stderr=%r" % (proc.returncode, _one_line(proc.stdout), _one_line(proc.stderr))

    def result(self) -> LoopResult:
        with self.lock:
            return LoopResult(self.name, self.attempted, len(self.failures), list(self.failures))


class _JdbcLoop:
    """A JVM running MtlsLoop; a thread collects what it prints."""

    def __init__(self, name: str, command: list[str], stderr_path: str):
        self.name, self.command, self.stderr_path = name, command, stderr_path
        self.lines: list[str] = []
        self.lock = threading.Lock()
        self.started = threading.Event()  # STARTED printed, or the JVM ended
        self.warm = False  # STARTED printed
        self.proc: subprocess.Popen | None = None
        self.reader: threading.Thread | None = None

    def start(self) -> None:
        with open(self.stderr_path, "w") as stderr:  # pgjdbc's logging; kept apart from the lines parsed here
            # stdin stays open and unused: when the harness dies, its end closes and MtlsLoop exits (no orphan JVM)
            self.proc = subprocess.Popen(self.command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr,
                                         text=True)
        self.reader = threading.Thread(target=self._read, name="jdbc-loop-%s" % self.name, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            with self.lock:
                self.lines.append(line.rstrip("\n"))
            if line.strip() == "STARTED":
                self.warm = True
                self.started.set()
        self.started.set()

    def output(self) -> str:
        with self.lock:
            lines = list(self.lines)
        with open(self.stderr_path, errors="replace") as stderr:
            return "\n".join(lines + ["stderr:", stderr.read()])

    def result(self) -> LoopResult:
        with self.lock:
            lines = list(self.lines)
        failures = [line[len("FAIL "):] for line in lines if line.startswith("FAIL ")]
        ends = [re.fullmatch(r"RESULT attempted=(\d+) failed=(\d+)", line) for line in lines]
        end = next((found for found in ends if found), None)
        if end and int(end.group(2)) != len(failures):
            raise RuntimeError("%s: %d FAIL lines but %s" % (self.name, len(failures), end.group(0)))
        return LoopResult(self.name, int(end.group(1)) if end else None, len(failures), failures)

    def finish(self, timeout: float) -> str | None:
        """Wait for the JVM to end (the stop file is there) or kill it; None, or what went wrong."""
        if self.proc is None:
            return None
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        finally:
            self.proc.stdin.close()
            self.reader.join(10)
        if self.proc.returncode != 0 or self.result().attempted is None:
            return "%s: the JVM ended with %d, without RESULT:\n%s" % (self.name, self.proc.returncode, self.output())
        return None


class ConnectionLoops:
    """Loops of new connections, by name: add them, start(), change things, stop() -> {name: LoopResult}.

    As a context manager it stops whatever runs on the way out, also after an error: no JVM or thread is left."""

    def __init__(self, interval: float = 0.1):
        self.interval = interval
        self._stop = threading.Event()
        self._psql: list[_PsqlLoop] = []
        self._jdbc: list[_JdbcLoop] = []
        self._workdir = tempfile.mkdtemp(prefix="connection-loops-")
        self._stop_file = os.path.join(self._workdir, "stop")
        self._problems: list[str] | None = None  # set once everything has been stopped
        self._results: dict[str, LoopResult] | None = None

    def _check_name(self, name: str) -> None:
        if name in {loop.name for loop in [*self._psql, *self._jdbc]}:
            raise ValueError("a loop named %r already exists" % name)

    def add_psql(self, name: str, conninfo: str) -> None:
        """psql with ``conninfo`` (one string, e.g. "host=... sslmode=verify-full sslrootcert=..."); an attempt
        fails on a non-zero exit or when it does not print the conninfo's user."""
        self._check_name(name)
        self._psql.append(_PsqlLoop(name, conninfo, self.interval, self._stop))

    def add_jdbc(self, name: str, classpath: str, url: str, **props: str) -> None:
        """MtlsLoop in a JVM: ``classpath`` holds pgjdbc and the compiled MtlsLoop ("postgresql.jar:dir"),
        ``props`` are the connection's properties (user=, sslmode=, sslrootcert=, sslkey=client.pfx, ...)."""
        self._check_name(name)
        command = ["java", "-cp", classpath, "MtlsLoop", url, self._stop_file, str(round(self.interval * 1000)),
                   *("%s=%s" % item for item in props.items())]
        self._jdbc.append(_JdbcLoop(name, command, os.path.join(self._workdir, "%d.stderr" % len(self._jdbc))))

    def start(self) -> None:
        """Start every loop; return once each JVM has made its first attempt."""
        try:
            for jvm in self._jdbc:
                jvm.start()
            for loop in self._psql:
                loop.thread.start()
            deadline = time.monotonic() + START_TIMEOUT
            for jvm in self._jdbc:
                if not jvm.started.wait(max(0.0, deadline - time.monotonic())) or not jvm.warm:
                    raise RuntimeError("%s: no STARTED from the JVM:\n%s" % (jvm.name, jvm.output()))
        except BaseException:
            self._shut_down()
            raise

    def results_so_far(self) -> dict[str, LoopResult]:
        """The counts until now, without stopping (a running JVM's ``attempted`` is None)."""
        return {loop.name: loop.result() for loop in [*self._psql, *self._jdbc]}

    def stop(self) -> dict[str, LoopResult]:
        """Stop every loop and return its counts; raises if a loop could not say them (a JVM died or hung)."""
        if self._results is None:
            problems = self._shut_down()
            if problems:
                raise RuntimeError("\n".join(problems))
            self._results = self.results_so_far()
        return self._results

    def _shut_down(self) -> list[str]:
        if self._problems is not None:
            return self._problems
        problems = []
        self._stop.set()
        open(self._stop_file, "w").close()
        for jvm in self._jdbc:
            problem = jvm.finish(STOP_TIMEOUT)
            if problem:
                problems.append(problem)
        for loop in self._psql:
            if loop.thread.is_alive():
                loop.thread.join(PSQL_TIMEOUT + 10)
            if loop.thread.is_alive():
                problems.append("%s: the psql thread did not end" % loop.name)
        shutil.rmtree(self._workdir, ignore_errors=True)
        self._problems = problems
        return problems

    def __enter__(self) -> ConnectionLoops:
        return self

    def __exit__(self, *exc_info) -> None:
        if self._problems is None:
            self.stop()
