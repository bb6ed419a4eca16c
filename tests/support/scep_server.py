"""A real SCEP server for the tests: micromdm's ``scepserver`` (Debian package ``scep``), run as root.

scepserver listens on every interface and has no flag to listen on loopback only, so it runs in a network
namespace of its own with only ``lo`` up. The tests reach it at ``url`` (127.0.0.1 in our namespace) through
a forwarder in this process: it accepts there, and connects to the server from a thread that first joined the
server's namespace (setns(2) moves only the calling thread, so the rest of the test process stays where it is).

    with ScepServer(tmp_path) as server:
        get_ca_caps(server.url)

``stop()`` and ``start()`` take the server down and bring it back (the forwarder too, so a client meets a
refused connection), ``start(challenge=...)`` with another challenge password."""

from __future__ import annotations

import contextlib
import ctypes
import os
import secrets
import socket
import subprocess
import threading
import time
import urllib.request

_CLONE_NEWNET = 0x40000000
_SERVER_PORT = 8080  # inside the namespace, where nothing else listens
_libc = ctypes.CDLL(None, use_errno=True)


def _join_netns(path: str) -> None:
    """Move the calling thread (only) into the network namespace at ``path``."""
    fd = os.open(path, os.O_RDONLY)
    try:
        if _libc.setns(fd, _CLONE_NEWNET) != 0:
            error = ctypes.get_errno()
            raise OSError(error, "setns(%s): %s" % (path, os.strerror(error)))
    finally:
        os.close(fd)


def _pump(source: socket.socket, target: socket.socket) -> None:
    with contextlib.suppress(OSError):
        while data := source.recv(65536):
            target.sendall(data)
    with contextlib.suppress(OSError):
        target.shutdown(socket.SHUT_WR)


class _Forwarder:
    """127.0.0.1:``port`` here to 127.0.0.1:``target`` in the namespace at ``netns_path``."""

    def __init__(self, netns_path: str, target: int, port: int):
        self.netns_path, self.target = netns_path, target
        self.listener = socket.create_server(("127.0.0.1", port))
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while True:
            try:
                client = self.listener.accept()[0]
            except OSError:  # closed by close()
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        _join_netns(self.netns_path)  # a fresh thread per connection: the namespace goes with it
        with client:
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target), timeout=10)
            except OSError:
                return
            with upstream:
                back = threading.Thread(target=_pump, args=(upstream, client), daemon=True)
                back.start()
                _pump(client, upstream)
                back.join()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept(); close() alone would not
        self.listener.close()
        self.thread.join()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ScepServer:
    """A fresh CA (``scepserver ca -init``) in ``base``/depot and the server over it, in its own namespace."""

    def __init__(self, base, challenge: str | None = None):
        self.base = str(base)
        self.challenge = challenge or secrets.token_urlsafe(12)
        self.netns = "certkeeper-scep-" + secrets.token_hex(4)
        self.port = _free_port()
        self.process: subprocess.Popen | None = None
        self.forwarder: _Forwarder | None = None

    @property
    def depot(self) -> str:
        return os.path.join(self.base, "depot")

    @property
    def ca_pem(self) -> str:
        return os.path.join(self.depot, "ca.pem")

    @property
    def log(self) -> str:
        return os.path.join(self.base, "scepserver.log")

    @property
    def url(self) -> str:
        return "http://127.0.0.1:%d/scep" % self.port

    def __enter__(self) -> ScepServer:
        subprocess.run(
            ["scepserver", "ca", "-init", "-depot", self.depot, "-keySize", "2048", "-organization", "certkeeper"],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        subprocess.run(["ip", "netns", "add", self.netns], check=True)
        try:
            subprocess.run(["ip", "-n", self.netns, "link", "set", "lo", "up"], check=True)
            self.start()
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()
        subprocess.run(["ip", "netns", "delete", self.netns], check=False)

    def start(self, challenge: str | None = None, csr_verifier: str | None = None, valid_days: int = 365) -> None:
        """Start the server (``challenge``: a new challenge password; ``csr_verifier``: -csrverifierexec;
        ``valid_days``: what its certificates get, -crtvalid)."""
        self.challenge = challenge or self.challenge
        command = ["ip", "netns", "exec", self.netns, "scepserver", "-depot", self.depot]
        command += ["-port", str(_SERVER_PORT), "-challenge", self.challenge, "-allowrenew", "0", "-debug"]
        command += ["-crtvalid", str(valid_days)]
        command += ["-csrverifierexec", csr_verifier] if csr_verifier else []
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        self.forwarder = _Forwarder("/run/netns/" + self.netns, _SERVER_PORT, self.port)
        self._wait_until_answering()

    def stop(self) -> None:
        if self.forwarder:
            self.forwarder.close()
            self.forwarder = None
        if self.process:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            self.process = None

    def _wait_until_answering(self, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                with urllib.request.urlopen(self.url + "?operation=GetCACaps", timeout=1) as response:
                    response.read()
                return
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    with open(self.log, errors="replace") as log:
                        raise RuntimeError("scepserver did not start:\n" + log.read()[-2000:]) from None
                time.sleep(0.05)
